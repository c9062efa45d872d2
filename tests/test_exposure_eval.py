"""The test-time level correction measured in training/README.md ("Exposure"): faces inside the training band stay
as they are, dim and washed-out faces come back into it with their shape."""

import numpy as np
import pytest

from tests.datapaths import data_dir, require_data

exposure_eval = pytest.importorskip("training.exposure_eval")


def face_region(crops: np.ndarray) -> np.ndarray:
    return crops[:, 12:43, 10:38].reshape(len(crops), -1).astype(np.float32)


def test_level_correction_keeps_faces_in_the_band_and_restores_dim_ones():
    faces = np.load(require_data(data_dir() / "ckplus48.npz"))["images"][::10][:200]
    region = face_region(faces)
    inside = ((region.mean(1) >= 112) & (region.mean(1) <= 160) & (region.std(1) >= 33) & (region.std(1) <= 48))
    assert inside.sum() >= 5
    np.testing.assert_array_equal(exposure_eval.corrected_levels(faces[inside]), faces[inside])

    for change in ("dark", "washed", "flat"):
        altered = np.clip(np.round(exposure_eval.LEVEL_CHANGES[change](faces.astype(np.float32))), 0, 255)
        fixed = face_region(exposure_eval.corrected_levels(altered.astype(np.uint8)))
        assert fixed.mean(1).min() >= 111 and fixed.mean(1).max() <= 161
        assert fixed.std(1).min() >= 32 and fixed.std(1).max() <= 49
        corr = [np.corrcoef(a, b)[0, 1] for a, b in zip(region, fixed)]
        assert np.median(corr) > 0.98  # the same face, its levels mapped
