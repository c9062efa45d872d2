"""The benchmark runs the real pipeline and reports every stage (numbers are printed, never asserted on)."""

import json

import pytest

from app.bench import main
from tests.datapaths import require_data, video
from tests.onnx_factory import make_model

pytestmark = pytest.mark.slow


def test_bench_reports_each_stage_and_the_mediapipe_floor(tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    make_model(models / "tiny.onnx")
    monkeypatch.setenv("FERLIVE_MODELS", str(models))
    src = require_data(video("woman_phone_night.mp4"))
    out = tmp_path / "bench.json"
    assert main([str(src), "--frames", "20", "--no-torch", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mediapipe_only"]["frames"] == 20
    (run,) = report["runs"]
    assert run["provider"] == "cpu" and run["frames"] == 20
    for stage in ["decode", "face_mesh", "alignment", "inference", "smoothing", "render", "encode"]:
        assert run["ms"][stage]["p95"] >= run["ms"][stage]["median"] >= 0
    assert run["faces_per_frame"] > 0.9
    assert {s["provider"] for s in report["skipped"]} <= {"tensorrt", "cuda"}
    assert "MediaPipe-only" in capsys.readouterr().out


def test_the_outputs_benchmark_sends_to_receivers_in_their_own_process(tmp_path, monkeypatch):
    """``--outputs``: every configuration runs with its receivers in a child process (their decoding is not the
    outputs' cost); good receivers get every frame, the stalled WebSocket client's frames pile up, never an error."""
    import os

    from app.analyze import load_engine
    from app.bench_outputs import CONFIGS, _Receivers, benchmark_outputs

    receivers = _Receivers()
    try:
        assert receivers._process.pid != os.getpid() and receivers._process.is_alive()
        assert receivers.osc_server() > 0
        receivers.close()
    finally:
        receivers.stop()
    assert not receivers._process.is_alive()
    models = tmp_path / "models"
    make_model(models / "tiny.onnx")
    report = benchmark_outputs(require_data(video("woman_phone_night.mp4")), load_engine(str(models / "tiny.onnx")),
                               frames=8, repeats=1)
    assert list(report["configs"]) == list(CONFIGS)
    for config, run in report["configs"].items():
        assert run["frames"] == 8
        for name, output in run["outputs"].items():
            assert output["last_error"] == "", (config, name)
            assert output["sent"] >= 8, (config, name)
    assert set(report["configs"]["all"]["outputs"]) == {"osc", "vrchat", "websocket", "lsl"}
