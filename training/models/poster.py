"""POSTER (Zheng et al.) adapted: an image stream and a landmark stream joined by two-way cross-attention at
three pyramid scales, then a transformer, a squeeze-and-excitation block and a linear head.

Image tokens come from the CNN map at three resolutions (e.g. 12x12, 6x6, 3x3 for a 48 px face); landmark
tokens are region tokens built from MediaPipe's 478 points (``training.models.landmarks``). At each scale,
landmark tokens query image tokens and image tokens query landmark tokens (POSTER v1's two directions).
"""

from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import (
    CNNStem,
    ConvBNAct,
    CrossAttentionBlock,
    SqueezeExcite1d,
    TransformerBlock,
    init_weights,
)
from training.models.landmarks import LandmarkTokens
from training.models.registry import register_model


class TwoWayFusion(nn.Module):
    """One pyramid scale: landmark->image and image->landmark cross-attention."""

    def __init__(self, dim: int, heads: int, drop_path: float):
        super().__init__()
        self.lm_from_img = CrossAttentionBlock(dim, heads, drop_path=drop_path)
        self.img_from_lm = CrossAttentionBlock(dim, heads, drop_path=drop_path)

    def forward(self, img: torch.Tensor, lm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.img_from_lm(img, lm), self.lm_from_img(lm, img)


@register_model(
    "poster",
    {
        "small": dict(in_ch=1, input_size=48, widths=(32, 64, 128), dim=128, heads=4, regions=24, depth=2,
                      drop_path=0.1),
        # the same on colour crops: a grey small checkpoint initialises it (training.checkpoint.load_init_weights)
        "small_rgb": dict(in_ch=3, input_size=48, widths=(32, 64, 128), dim=128, heads=4, regions=24, depth=2,
                          drop_path=0.1),
        # the same on 64 px crops: more of a camera face's detail; a 48 px small checkpoint initialises it (its
        # position embeddings interpolated, training.checkpoint.load_init_weights)
        "small64": dict(in_ch=1, input_size=64, widths=(32, 64, 128), dim=128, heads=4, regions=24, depth=2,
                        drop_path=0.1),
        # GPU size: FER2013's own 48 px, a ResNet-18-like stem (two blocks per stage), a wider fusion
        "large": dict(in_ch=1, input_size=48, widths=(64, 128, 256), dim=192, heads=6, regions=48, depth=3,
                      drop_path=0.1, blocks=2),
        "tiny": dict(in_ch=1, input_size=32, widths=(8, 16), dim=32, heads=2, regions=8, depth=1),
    },
)
class Poster(nn.Module):
    uses_landmarks = True

    def __init__(self, in_ch: int, input_size: int, widths=(32, 64, 128), dim: int = 128, heads: int = 4,
                 regions: int = 24, depth: int = 2, drop_path: float = 0.0, blocks: int = 1, num_classes: int = 7):
        super().__init__()
        self.stem = CNNStem(in_ch, tuple(widths), blocks)
        c = widths[-1]
        # pyramid: the stem's last map, then two stride-2 reductions of it
        self.down = nn.ModuleList([ConvBNAct(c, c, 3, 2), ConvBNAct(c, c, 3, 2)])
        self.img_proj = nn.ModuleList(nn.Conv2d(c, dim, 1) for _ in range(3))
        grid = input_size // 2 ** (len(widths) - 1)
        sizes = [grid, (grid + 1) // 2, ((grid + 1) // 2 + 1) // 2]
        self.img_pos = nn.ParameterList(nn.Parameter(torch.zeros(1, s * s, dim)) for s in sizes)
        self.landmarks = LandmarkTokens(dim, regions)
        self.lm_proj = nn.ModuleList(nn.Linear(dim, dim) for _ in range(3))
        self.fusion = nn.ModuleList(TwoWayFusion(dim, heads, drop_path) for _ in range(3))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, 2.0, 0.0, drop_path) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.se = SqueezeExcite1d(dim)
        self.head = nn.Linear(dim, num_classes)
        init_weights(self)
        for p in [*self.img_pos, self.cls]:
            nn.init.trunc_normal_(p, std=0.02)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if landmarks is None:
            raise ValueError("POSTER needs the 478 aligned landmarks")
        fmap = self.stem(image)[-1]
        maps = [fmap, self.down[0](fmap)]
        maps.append(self.down[1](maps[1]))
        lm = self.landmarks(landmarks)
        img_summaries, lm_fused = [], 0
        last_img = None
        for i, m in enumerate(maps):
            img = self.img_proj[i](m).flatten(2).transpose(1, 2) + self.img_pos[i]
            img, lm_i = self.fusion[i](img, self.lm_proj[i](lm))
            img_summaries.append(img.mean(1, keepdim=True))
            lm_fused = lm_fused + lm_i
            last_img = img
        x = torch.cat([self.cls.expand(image.shape[0], -1, -1), *img_summaries, last_img, lm_fused], dim=1)
        for block in self.blocks:
            x, _ = block(x)
        return {"logits": self.head(self.se(self.norm(x[:, 0])))}
