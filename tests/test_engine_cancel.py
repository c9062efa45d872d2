"""A run in flight can be stopped: switching away from a slow model must not wait for its frame."""

import threading

import numpy as np
import pytest

from app.errors import InferenceCancelled
from app.inference.engine import NUM_LANDMARKS, InferenceEngine
from app.inference.registry import default_models_dir

ENSEMBLE = default_models_dir() / "ensemble-large.onnx"


@pytest.mark.skipif(not ENSEMBLE.is_file(), reason="ensemble-large is not shipped in models/")
def test_cancel_stops_a_run_in_flight_and_later_runs_work():
    engine = InferenceEngine(ENSEMBLE, provider="cpu", warmup_runs=1)
    size = engine.card.input.size
    crops = np.full((32, size, size), 128, np.uint8)  # 32 faces: several seconds on a CPU, so surely in flight
    landmarks = np.full((32, NUM_LANDMARKS, 3), 0.5, np.float32)
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(engine.predict(crops, landmarks))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    while thread.is_alive() and not engine._runs:
        thread.join(0.005)
    engine.cancel()
    thread.join()
    assert isinstance(outcome[0], InferenceCancelled), outcome[0]
    probs = engine.predict(crops[:1], landmarks[:1])  # the engine stays usable
    assert probs.shape == (1, 7) and abs(float(probs.sum()) - 1.0) < 1e-3


class CancelDuringRun:
    """The engine's real session, with ``engine.cancel()`` called from inside the ``n``-th run just as it ends:
    the moment a switch can land in, made deterministic."""

    def __init__(self, engine: InferenceEngine, n: int) -> None:
        self.engine, self.session, self.n, self.calls = engine, engine.session, n, 0

    def run(self, *args, **kwargs):
        self.calls += 1
        out = self.session.run(*args, **kwargs)
        if self.calls == self.n:
            self.engine.cancel()
        return out


def tiny_engine(tmp_path) -> InferenceEngine:
    from tests.onnx_factory import make_model

    make_model(tmp_path / "tiny.onnx", size=48, channels=1)
    return InferenceEngine(tmp_path / "tiny.onnx", provider="cpu", warmup_runs=1)


def test_a_run_cancelled_as_it_finishes_is_still_cancelled(tmp_path):
    engine = tiny_engine(tmp_path)
    engine.session = CancelDuringRun(engine, 1)
    with pytest.raises(InferenceCancelled):
        engine.predict(np.full((2, 48, 48), 128, np.uint8))
    assert engine.predict(np.full((1, 48, 48), 128, np.uint8)).shape == (1, 7)  # later runs work


def test_a_cancel_between_chunks_stops_the_rest(tmp_path):
    engine = tiny_engine(tmp_path)
    engine.max_batch = 1  # as on TensorRT: a batch runs in chunks
    chunks = []
    run_chunk = engine._run

    def run_then_cancel(*args):  # the switch lands after chunk 1 is done, before chunk 2 starts
        chunks.append(run_chunk(*args))
        engine.cancel()
        return chunks[-1]

    engine._run = run_then_cancel
    with pytest.raises(InferenceCancelled):
        engine.predict(np.full((4, 48, 48), 128, np.uint8))
    assert len(chunks) == 1  # chunks 2 to 4 never ran
