"""The JPEG augmentation is JPEG: the same blocks and ringing a real encoder gives a face crop."""

import cv2
import numpy as np
import pytest
import torch

from tests.datapaths import data_dir, require_data

torch_augment = pytest.importorskip("training.data.augment")


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.load(require_data(data_dir() / "ckplus48.npz"))["images"][::40][:16]  # real 48 px grey crops


@pytest.mark.parametrize("quality", [20, 50, 90])
def test_the_round_trip_matches_a_real_jpeg_encoder(faces, quality):
    x = torch.tensor(faces, dtype=torch.float32)[:, None] / 255
    ours = torch_augment.jpeg_round_trip(x, torch.full((len(faces),), float(quality)))[:, 0].numpy() * 255
    real = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 0)
                     for f in faces]).astype(np.float32)
    lost = np.abs(real - faces).mean()  # what the real encoder changed
    assert lost > 1.5
    assert np.abs(ours - real).mean() < 0.25 * lost


def test_compress_touches_only_its_share_and_keeps_size():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 44, 44, generator=g)  # not a multiple of 8: padded, then cropped back
    out = torch_augment.compress(x, 0.3, 20, g)
    assert out.shape == x.shape
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.15 < changed.float().mean() < 0.45
    assert torch.equal(torch_augment.compress(x, 0.0, 20, g), x)


def test_jpeg_off_leaves_augmentation_as_it_was():
    x, lm = torch.rand(8, 1, 48, 48), torch.rand(8, 478, 3)
    a = torch_augment.augment_batch(x, lm, generator=torch.Generator().manual_seed(1), noise=0.02)
    b = torch_augment.augment_batch(x, lm, generator=torch.Generator().manual_seed(1), noise=0.02, jpeg_p=0.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
