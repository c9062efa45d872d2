"""Move a checkpoint through a narrow pipe (a rented GPU's 16 MB-per-file return): drop the optimiser, store the
weights as float16 and split them into parts under a size limit; ``join`` rebuilds a float32 checkpoint that
``--init``, ``training.export`` and ``training.ship`` take like any other.

    python -m training.carry split runs/poster_large/best.pt $OUT/poster_large   # -> poster_large.part0.pt ...
    python -m training.carry join gpu_out/poster_large.part*.pt --out runs/poster_large/best.pt

A run that fine-tuned a carried copy of a checkpoint (``--init gpu/init/x.pt``) names that copy as its parent;
``join --parent runs/x/best.pt`` points it back at the original here, so the card's lineage stays whole.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch


def _size(obj) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.tell()


def split(src: str | Path, prefix: str | Path, limit: int = 15_000_000) -> list[Path]:
    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    ckpt.pop("optimizer", None)
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt.pop("model").items()}
    parts: list[dict] = [{}]
    used = _size(ckpt)
    for k, v in weights.items():
        n = v.numel() * v.element_size() + 200
        if parts[-1] and used + n > limit:
            parts.append({})
            used = 0
        parts[-1][k] = v
        used += n
    paths = []
    for i, part in enumerate(parts):
        path = Path(f"{prefix}.part{i}.pt")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({**(ckpt if i == 0 else {}), "model_part": part, "parts": len(parts)}, path)
        paths.append(path)
    return paths


def join(parts: list[str | Path], out: str | Path, parent: str | Path | None = None) -> dict:
    loaded = [torch.load(p, map_location="cpu", weights_only=False) for p in sorted(map(str, parts))]
    if len(loaded) != loaded[0]["parts"]:
        raise ValueError(f"{len(loaded)} part files given, the checkpoint was split into {loaded[0]['parts']}")
    ckpt = {k: v for k, v in loaded[0].items() if k not in ("model_part", "parts")}
    ckpt["model"] = {k: (v.float() if v.is_floating_point() else v) for p in loaded for k, v in p["model_part"].items()}
    ckpt["carried_as"] = "float16 parts (training.carry)"
    if parent is not None:
        if not Path(parent).exists():
            raise FileNotFoundError(f"--parent {parent} does not exist here")
        ckpt["config"]["init_carried_as"] = ckpt["config"].get("init")
        ckpt["config"]["init"] = str(parent)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, out)
    return ckpt


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("src")
    s.add_argument("prefix")
    s.add_argument("--limit", type=int, default=15_000_000)
    j = sub.add_parser("join")
    j.add_argument("parts", nargs="+")
    j.add_argument("--out", required=True)
    j.add_argument("--parent", default=None,
                   help="the original of the checkpoint the run was initialised from (its --init was a carried copy)")
    args = ap.parse_args(argv)
    if args.cmd == "split":
        for p in split(args.src, args.prefix, args.limit):
            print(p, p.stat().st_size)
    else:
        ckpt = join(args.parts, args.out, args.parent)
        print(f"{args.out}: {ckpt['model_args']} best val {ckpt['state']['best_acc']:.4f}")


if __name__ == "__main__":
    main()
