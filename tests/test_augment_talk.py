"""Talking-face augmentation: the lips part, the jaw drops, and the landmarks go where the image went."""

import math

import numpy as np
import torch

from app.face.align import canonical_shape
from tests.test_augment_pose import blob_image, centroid_near
from training.data.augment import CHIN, LOWER_LIP_INNER, MOUTH_LEFT, MOUTH_RIGHT, augment_batch, open_mouth

LIP_AND_CHIN = [17, CHIN]  # the lower lip's outer edge, the chin


def face(size: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright face-sized square with the canonical landmarks, and blobs on the lower lip and the chin."""
    lm = torch.tensor(canonical_shape(), dtype=torch.float32)[None]  # a copy: the canonical shape is shared
    lm[..., :2] = 0.5 + (lm[..., :2] - 0.5) * 0.7  # the chin well inside the crop
    img = blob_image(lm[0, LIP_AND_CHIN, :2].numpy(), size) * 0.5 + 0.5
    return img, lm


def test_nothing_moves_at_zero_probability():
    img, lm = face()
    out, lm2 = open_mouth(img, lm, 0.0, 0.08, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, img)
    torch.testing.assert_close(lm2, lm)


def test_the_jaw_drops_the_corners_and_upper_face_stay():
    img, lm = face()
    out, lm2 = open_mouth(img, lm, 1.0, 0.08, torch.Generator().manual_seed(0))
    moved = (lm2 - lm)[0, :, 1]
    assert (lm2[..., 0] == lm[..., 0]).all() and (lm2[..., 2] == lm[..., 2]).all()
    assert 0.005 < moved[CHIN] <= 0.08 and moved[LOWER_LIP_INNER] > 0.9 * moved[CHIN]
    assert moved[MOUTH_LEFT] < 1e-3 and moved[MOUTH_RIGHT] < 1e-3
    upper = lm[0, :, 1] < lm[0, 13, 1] - 0.01
    assert moved[upper].abs().max() == 0


def test_the_image_follows_the_landmarks_and_the_parting_is_dark():
    img, lm = face()
    out, lm2 = open_mouth(img, lm, 1.0, 0.08, torch.Generator().manual_seed(1))
    for k in LIP_AND_CHIN:
        x, y = lm2[0, k, :2].tolist()
        cx, cy = centroid_near((out[0, 0].numpy() - 0.5).clip(0), x, y)
        # the chin's blob reaches into the fade below it, which is squeezed: its centre sits up to a pixel higher
        assert math.hypot(cx - x, cy - y) < (1.0 if k == CHIN else 0.6) / 96, (k, (x, y), (cx, cy))
    # just below the meeting of the lips, at the mouth's centre: the dark of an open mouth
    centre = ((lm[0, MOUTH_LEFT, 0] + lm[0, MOUTH_RIGHT, 0]) / 2).item()
    lips = ((lm[0, 13, 1] + lm[0, LOWER_LIP_INNER, 1]) / 2).item()
    drop = (lm2 - lm)[0, CHIN, 1].item()
    assert drop > 3 / 96  # this seed parts them by more than three pixels
    px, py = int(centre * 96), int((lips + drop / 2) * 96)
    assert out[0, 0, py, px] < 0.3 < img[0, 0, py, px]


def test_augment_batch_parts_the_lips_only_when_asked():
    img, lm = face(48)
    imgs, lms = img.repeat(8, 1, 1, 1), lm.repeat(8, 1, 1)
    plain = dict(flip_p=0.0, max_rotate=0.0, scale=(1.0, 1.0), max_shift=0.0, erase_p=0.0, jitter=0.0)
    _, same = augment_batch(imgs, lms, **plain, generator=torch.Generator().manual_seed(0))
    _, talking = augment_batch(imgs, lms, **plain, talk_p=1.0, generator=torch.Generator().manual_seed(0))
    assert np.allclose(same.numpy(), lms.numpy(), atol=1e-5)
    assert (talking[:, CHIN, 1] > lms[:, CHIN, 1] + 1e-3).float().mean() > 0.5
