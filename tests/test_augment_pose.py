"""Out-of-plane pose augmentation: the image and its landmarks turn together, and the turn looks like one."""

import math

import numpy as np
import torch

from app.face.align import canonical_shape
from training.data.augment import augment_batch, plane_rotation_homography, turn_face


def blob_image(points: np.ndarray, size: int = 96) -> torch.Tensor:
    """(1,1,S,S) image with a small bright blob at each unit-square point."""
    ax = (np.arange(size) + 0.5) / size
    gx, gy = np.meshgrid(ax, ax)
    img = np.zeros((size, size), np.float32)
    for x, y in points:
        img += np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * (1.2 / size) ** 2))
    return torch.from_numpy(img.clip(0, 1))[None, None]


def centroid_near(img: np.ndarray, x: float, y: float, radius: int = 5) -> tuple[float, float]:
    s = img.shape[0]
    cx, cy = int(x * s), int(y * s)
    win = img[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    ys, xs = np.mgrid[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    return float((win * (xs + 0.5)).sum() / win.sum() / s), float((win * (ys + 0.5)).sum() / win.sum() / s)


def test_no_turn_is_the_identity():
    h = plane_rotation_homography(torch.zeros(2), torch.zeros(2))
    torch.testing.assert_close(h, torch.eye(3).expand(2, 3, 3))


def test_the_image_and_its_landmarks_turn_together():
    points = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.6], [0.38, 0.78], [0.62, 0.78]])
    img = blob_image(points)
    lm = torch.zeros(1, 478, 3)
    lm[0, : len(points), :2] = torch.from_numpy(points).float()
    for yaw, pitch in [(25, 0), (0, 25), (-20, 15), (15, -25)]:
        out, lm2 = turn_face(img, lm, torch.tensor([math.radians(yaw)]), torch.tensor([math.radians(pitch)]))
        moved = lm2[0, : len(points), :2].numpy()
        assert np.abs(moved - points).max() > 0.02  # it did turn
        for x, y in moved:
            cx, cy = centroid_near(out[0, 0].numpy(), x, y)
            assert math.hypot(cx - x, cy - y) < 0.5 / 96  # within half a pixel of where the landmark says


def test_a_face_looking_down_shows_a_larger_brow_than_chin():
    shape = torch.from_numpy(canonical_shape()).float()[None]
    xy = shape[..., :2] * 2 - 1
    h = plane_rotation_homography(torch.zeros(1), torch.tensor([math.radians(20)]))
    p = torch.cat([xy, torch.ones_like(xy[..., :1])], -1) @ h.transpose(1, 2)
    turned = (p[..., :2] / p[..., 2:])[0].numpy()
    xy = xy[0].numpy()
    top, bottom = xy[:, 1] < -0.3, xy[:, 1] > 0.3
    width = lambda pts, rows: np.ptp(pts[rows, 0])  # noqa: E731
    assert width(turned, top) / width(turned, bottom) > 1.05 * width(xy, top) / width(xy, bottom)
    assert np.ptp(turned[:, 1]) < np.ptp(xy[:, 1])  # foreshortened


def test_pose_zero_leaves_augmentation_as_it_was():
    g = torch.Generator().manual_seed(0)
    img, lm = torch.rand(4, 1, 48, 48, generator=g), torch.rand(4, 478, 3, generator=g)
    a = augment_batch(img, lm, generator=torch.Generator().manual_seed(1))
    b = augment_batch(img, lm, pose=0.0, generator=torch.Generator().manual_seed(1))
    c = augment_batch(img, lm, pose=20.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a[0], c[0])
