"""The exposure augmentation shows real faces dim or washed out: less contrast, the shape kept, only its share."""

import numpy as np
import pytest
import torch

from tests.datapaths import data_dir, require_data

torch_augment = pytest.importorskip("training.data.augment")


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    images = np.load(require_data(data_dir() / "ckplus48.npz"))["images"][::20][:64]  # real 48 px grey crops
    return torch.tensor(images, dtype=torch.float32)[:, None] / 255


def test_a_changed_face_keeps_its_shape_with_less_contrast(faces):
    out = torch_augment.exposure(faces, 1.0, torch.Generator().manual_seed(0))
    assert out.shape == faces.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    a, b = faces.flatten(1), out.flatten(1)
    gain = b.std(1) / a.std(1)  # a level map: the contrast scales by the gain, never up
    assert float(gain.min()) >= torch_augment.EXPOSURE_MIN_GAIN - 1e-4 and float(gain.max()) <= 1 + 1e-4
    assert float(gain.min()) < 0.4 and float(gain.max()) > 0.8  # dim and nearly untouched faces both occur
    corr = [np.corrcoef(x.numpy(), y.numpy())[0, 1] for x, y in zip(a, b)]
    assert min(corr) > 0.999  # the face itself is unchanged up to its levels
    lifted = b.mean(1) - a.mean(1) * gain
    assert float(lifted.max()) > 0.3 and float(lifted.min()) < 0.05  # washed-out faces and dim ones


def test_only_its_share_changes_and_off_is_the_old_augmentation(faces):
    g = torch.Generator().manual_seed(1)
    x = faces.repeat(4, 1, 1, 1)
    changed = (torch_augment.exposure(x, 0.3, g) - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.15 < changed.float().mean() < 0.45
    lm = torch.rand(len(faces), 478, 3)
    plain = torch_augment.augment_batch(faces, lm, generator=torch.Generator().manual_seed(2))
    off = torch_augment.augment_batch(faces, lm, exposure_p=0.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(plain[0], off[0])
