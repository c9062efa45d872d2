"""Landmark stream for POSTER: MediaPipe's 478 aligned landmarks -> a few region tokens.

Each point is described by its position in the aligned crop and its displacement from the canonical (mean)
shape: the displacement is what an expression changes. A shared point MLP embeds each point, a learned
per-point embedding says which point it is, and a fixed assignment pools points into regions found by
farthest-point sampling of the canonical shape (brows, eyes, lips, cheeks ... fall out spatially).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from app.face.align import canonical_shape

N_POINTS = 478


def region_assignment(n_regions: int) -> np.ndarray:
    """(n_regions, 478) row-normalised pooling matrix from farthest-point sampling of the canonical shape."""
    pts = canonical_shape()[:, :2].astype(np.float64)
    centres = [int(np.argmin(pts[:, 1]))]
    dist = np.linalg.norm(pts - pts[centres[0]], axis=1)
    for _ in range(n_regions - 1):
        centres.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[centres[-1]], axis=1))
    owner = np.argmin(np.linalg.norm(pts[:, None] - pts[centres][None], axis=2), axis=1)
    pool = np.zeros((n_regions, N_POINTS), np.float32)
    pool[owner, np.arange(N_POINTS)] = 1.0
    return pool / pool.sum(1, keepdims=True)


class LandmarkTokens(nn.Module):
    def __init__(self, dim: int, n_regions: int = 24, hidden: int = 64, displacement_scale: float = 10.0):
        super().__init__()
        self.register_buffer("canonical", torch.from_numpy(canonical_shape().copy()), persistent=True)
        self.register_buffer("pool", torch.from_numpy(region_assignment(n_regions)), persistent=True)
        self.displacement_scale = displacement_scale
        self.point_mlp = nn.Sequential(nn.Linear(6, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.point_embed = nn.Parameter(torch.zeros(1, N_POINTS, dim))
        self.region_embed = nn.Parameter(torch.zeros(1, n_regions, dim))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        nn.init.trunc_normal_(self.point_embed, std=0.02)
        nn.init.trunc_normal_(self.region_embed, std=0.02)

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        disp = (landmarks - self.canonical) * self.displacement_scale
        feats = torch.cat([landmarks - 0.5, disp], dim=-1)
        points = self.point_mlp(feats) + self.point_embed  # (B, 478, D)
        regions = torch.einsum("rn,bnd->brd", self.pool, points) + self.region_embed
        return self.out(regions)
