"""Every training config in training/configs loads and its augmentation runs: a misspelt key would otherwise
surface only minutes into a run on a lent GPU."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.config import load_config  # noqa: E402
from training.data.augment import augment_batch  # noqa: E402

CONFIGS = sorted((Path(__file__).parent.parent / "training" / "configs").glob("*.json"))


def test_there_are_configs():
    assert len(CONFIGS) > 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_the_config_loads_and_its_augmentation_runs(path):
    arch, size = path.stem.split("_")[:2]
    cfg = load_config(arch, size, path)
    channels = 1 if cfg["color"] == "gray" else 3
    assert len(cfg["mean"]) in (1, channels) and len(cfg["std"]) in (1, channels)  # one value serves all channels
    images, landmarks = torch.rand(4, channels, 48, 48), torch.rand(4, 478, 3)
    out, lms = augment_batch(images, landmarks, generator=torch.Generator().manual_seed(0),
                             **{k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg["augment"].items()})
    assert out.shape == images.shape and lms.shape == landmarks.shape
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
