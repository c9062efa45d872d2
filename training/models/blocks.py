"""Building blocks shared by the three families: a small residual CNN, attention that exposes its weights
(needed by APViT's token pooling), cross-attention (POSTER's fusion), and a transformer block."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )


class ResBlock(nn.Module):
    """Basic residual block (two 3x3 convs); downsamples when ``stride`` is 2."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, 3, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.short(x))


class CNNStem(nn.Module):
    """Image stream: conv at full resolution, then residual stages that each halve the map.

    Stands in for the papers' IR-50 stages (too big to train from scratch on a 2-core CPU). Returns every
    stage's map so pyramid models can tap several scales.
    """

    def __init__(self, in_ch: int, widths: tuple[int, ...] = (32, 64, 128), blocks: int = 1):
        super().__init__()
        self.entry = ConvBNAct(in_ch, widths[0], 3, 1)
        stages = []
        cin = widths[0]
        for w in widths[1:]:
            layers = [ResBlock(cin, w, 2)] + [ResBlock(w, w, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.entry(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


class Attention(nn.Module):
    """Multi-head attention written out so the weights can be returned and the graph exports plainly to ONNX."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None, drop: float = 0.0):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        context = x if context is None else context
        b, n, d = x.shape
        m = context.shape[1]
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).reshape(b, m, 2, h, d // h).permute(2, 0, 3, 1, 4)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(-1)
        out = (self.drop(attn) @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), attn


class Mlp(nn.Sequential):
    def __init__(self, dim: int, ratio: float = 2.0, drop: float = 0.0):
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim), nn.Dropout(drop))


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample during training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.ndim - 1)), device=x.device) >= self.p
        return x * keep / (1 - self.p)


class TransformerBlock(nn.Module):
    """Pre-norm transformer block; ``forward`` also returns the attention map."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, drop=drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio, drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, attn = self.attn(self.norm1(x))
        x = x + self.drop_path(y)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, attn


class CrossAttentionBlock(nn.Module):
    """Queries from one token set attend to another (POSTER's cross-fusion, one direction)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, drop_path: float = 0.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        y, _ = self.attn(self.norm_q(x), self.norm_kv(context))
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SqueezeExcite1d(nn.Module):
    """Channel gating of a feature vector (POSTER's SE block before the head)."""

    def __init__(self, dim: int, reduction: int = 4):
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(dim, dim // reduction), nn.ReLU(inplace=True), nn.Linear(dim // reduction, dim), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
