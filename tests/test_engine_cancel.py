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
