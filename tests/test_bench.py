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
