"""PyTorch eager milliseconds per face for one architecture (called by ``app.bench`` in a child process, so the
runtime never imports torch). Eager speed depends on the architecture, not the trained weights."""

from __future__ import annotations

import argparse
import json
import time

import torch

from training.checkpoint import shipped_module
from training.models import create_model, model_config


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--size", default="small")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--tta", default="none", help="as the ONNX card says: none or hflip (both views per face)")
    args = ap.parse_args(argv)
    cfg = model_config(args.arch, args.size)
    head = shipped_module(create_model(args.arch, args.size), args.tta)
    x = torch.zeros(1, cfg["in_ch"], cfg["input_size"], cfg["input_size"])
    lm = torch.full((1, 478, 3), 0.5)
    with torch.inference_mode():
        for _ in range(10):
            head(x, lm)
        t0 = time.perf_counter()
        for _ in range(args.runs):
            head(x, lm)
    ms = (time.perf_counter() - t0) / args.runs * 1000
    print(json.dumps({"arch": args.arch, "size": args.size, "ms_per_face": round(ms, 3), "threads":
                      torch.get_num_threads()}))


if __name__ == "__main__":
    main()
