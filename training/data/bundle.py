"""Pack prepared (aligned) data into one small file for a machine that has neither the dataset nor MediaPipe.

A rented GPU box can take a few tens of MB. This module is the command; the format (lossless WebP images,
landmarks as principal components) is ``bundle_file``, whose names are re-exported here, and ``load_or_prepare``
reads a bundle directly.

    python -m training.data.bundle ../shared/data/fer2013.npz --size 48 --out gpu/fer2013_48g.bundle.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.data.bundle_file import BUNDLE_SUFFIX, LOSSLESS, decode_images, encode_image, is_bundle, pack, unpack
from training.data.mixture import dataset_name, ferplus_vote_targets
from training.data.prepare import load_or_prepare

__all__ = ["BUNDLE_SUFFIX", "decode_images", "encode_image", "is_bundle", "main", "pack", "unpack"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="dataset the cache was prepared from")
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--color", choices=["gray", "rgb"], default="gray")
    ap.add_argument("--components", type=int, default=96)
    ap.add_argument("--quality", type=int, default=LOSSLESS,
                    help="lossy WebP quality 1-100 for a smaller file (default: lossless)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if not is_bundle(args.out):
        ap.error(f"--out must end in {BUNDLE_SUFFIX}")
    prep = load_or_prepare(args.source, args.size, args.color == "gray")
    source = Path(args.source)
    votes = ferplus_vote_targets(source, tuple(prep.classes))
    print(json.dumps(pack(prep, args.out, args.components, args.quality, dataset_name(source), votes)))


if __name__ == "__main__":
    main()
