"""APViT (Xue et al.): CNN features -> Attentive Patch Pooling -> ViT with Attentive Token Pooling.

Both poolings are parameter-free: APP keeps the top-k patches ranked by the sum of absolute feature values
(indices kept in spatial order, positional embedding added before the gather); ATP, in the later blocks, keeps
the fraction of tokens the class token attends to most (attention summed over heads). They export as
TopK + GatherElements.
"""

from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import CNNStem, TransformerBlock, init_weights
from training.models.registry import register_model


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B,N,D), idx (B,K) -> (B,K,D)."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def attentive_patch_pooling(tokens: torch.Tensor, features: torch.Tensor, keep: int) -> torch.Tensor:
    """Keep the ``keep`` tokens whose CNN feature has the largest L1 norm, in spatial order."""
    score = features.abs().sum(-1)
    idx = score.topk(keep, dim=1).indices.sort(dim=1).values
    return gather_tokens(tokens, idx)


def attentive_token_pooling(tokens: torch.Tensor, attn: torch.Tensor, keep: int) -> torch.Tensor:
    """Keep the class token plus the ``keep`` patch tokens it attended to most (summed over heads)."""
    cls_attn = attn[:, :, 0, 1:].sum(1)  # (B, N-1)
    idx = cls_attn.topk(keep, dim=1).indices.sort(dim=1).values
    return torch.cat([tokens[:, :1], gather_tokens(tokens[:, 1:], idx)], dim=1)


@register_model(
    "apvit",
    {
        "small": dict(in_ch=1, input_size=48, widths=(32, 64, 128), dim=128, depth=4, heads=4, keep_patches=96,
                      atp_from=2, atp_keep=0.9, drop_path=0.1),
        "large": dict(in_ch=1, input_size=48, widths=(64, 128, 256), dim=256, depth=6, heads=8, keep_patches=96,
                      atp_from=3, atp_keep=0.9, drop_path=0.1, blocks=2),
        "tiny": dict(in_ch=1, input_size=32, widths=(8, 16), dim=32, depth=2, heads=2, keep_patches=40, atp_from=1,
                     atp_keep=0.8),
    },
)
class APViT(nn.Module):
    uses_landmarks = False

    def __init__(self, in_ch: int, input_size: int, widths=(32, 64, 128), dim: int = 128, depth: int = 4,
                 heads: int = 4, keep_patches: int = 96, atp_from: int = 2, atp_keep: float = 0.9,
                 drop_path: float = 0.0, blocks: int = 1, num_classes: int = 7, drop: float = 0.0):
        super().__init__()
        self.stem = CNNStem(in_ch, tuple(widths), blocks)
        grid = input_size // 2 ** (len(widths) - 1)
        n_patches = grid * grid
        self.keep_patches = min(keep_patches, n_patches)
        self.embed = nn.Conv2d(widths[-1], dim, 1)
        self.pos = nn.Parameter(torch.zeros(1, n_patches, dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, 2.0, drop, drop_path * i / max(depth - 1, 1)) for i in range(depth)
        )
        # tokens kept after each ATP block, fixed at build time so the graph has static shapes
        keeps, n = [], self.keep_patches
        for i in range(depth):
            if i >= atp_from and i < depth - 1:
                n = max(1, int(n * atp_keep))
            keeps.append(n)
        self.atp_keeps = keeps
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        init_weights(self)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        fmap = self.stem(image)[-1]
        feats = fmap.flatten(2).transpose(1, 2)  # (B, N, C): APP ranks by the CNN's own features
        tokens = self.embed(fmap).flatten(2).transpose(1, 2) + self.pos
        tokens = attentive_patch_pooling(tokens, feats, self.keep_patches)
        x = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block, keep in zip(self.blocks, self.atp_keeps):
            x, attn = block(x)
            if keep < x.shape[1] - 1:
                x = attentive_token_pooling(x, attn, keep)
        return {"logits": self.head(self.norm(x[:, 0]))}
