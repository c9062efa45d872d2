"""Copy trained parts of one checkpoint into another of a different family:
``python -m training.transplant runs/apvit.pt --donor runs/poster.pt --parts stem --out runs/apvit_poster_stem.pt``.

Why: the three families share the same CNN stem at a given size, and the stem of a stronger model (trained on the
same train split) is a better start for a weaker family than more epochs of its own plateaued one. ``--rename``
maps differently named parts that play the same role (POSTER's first image projection is APViT's patch
embedding). Only tensors of equal shape are copied; the output says what was taken so the card can tell it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def transplant(receiver: dict, donor: dict, parts: list[str], renames: dict[str, str]) -> tuple[dict, list[str]]:
    """``receiver`` with every donor tensor under ``parts`` (prefixes, renamed by ``renames``) copied in."""
    state = dict(receiver["model"])
    copied = []
    for name, value in donor["model"].items():
        target = name
        for old, new in renames.items():
            if name == old or name.startswith(old + "."):
                target = new + name[len(old):]
        if not any(target == p or target.startswith(p + ".") for p in [*parts, *renames.values()]):
            continue
        if target in state and state[target].shape == value.shape:
            state[target] = value.clone()
            copied.append(target)
    if not copied:
        raise ValueError(f"nothing under {', '.join(parts)} fits between the two models")
    return {**receiver, "model": state}, copied


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("receiver", help="checkpoint that keeps its other weights")
    ap.add_argument("--donor", required=True)
    ap.add_argument("--parts", nargs="+", default=["stem"], help="parameter-name prefixes to copy")
    ap.add_argument("--rename", nargs="*", default=[], help="DONOR_PREFIX=RECEIVER_PREFIX, e.g. img_proj.0=embed")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    receiver = torch.load(args.receiver, map_location="cpu", weights_only=False)
    donor = torch.load(args.donor, map_location="cpu", weights_only=False)
    renames = dict(r.split("=", 1) for r in args.rename)
    out, copied = transplant(receiver, donor, args.parts, renames)
    command = (f"python -m training.transplant {args.receiver} --donor {args.donor} --parts {' '.join(args.parts)}"
               + (f" --rename {' '.join(args.rename)}" if args.rename else "") + f" --out {args.out}")
    record = {"command": command, "copied_tensors": len(copied), "donor": args.donor,
              "donor_recovered_from": donor.get("recovered", {}).get("onnx")}
    if out.get("recovered"):  # the card lists this step among the receiver's training stages
        out["recovered"] = {**out["recovered"], "stages": [*out["recovered"]["stages"], {"transplant": record}]}
    out["transplant"] = record
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(json.dumps({"out": args.out, "copied": copied[:6] + (["..."] if len(copied) > 6 else []),
                      "tensors": len(copied)}))


if __name__ == "__main__":
    main()
