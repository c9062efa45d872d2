"""The trade-off between a parent and its fine-tune, measured: ``python -m training.interpolation_front
PARENT.pt CHILD.pt --alphas 0 0.25 0.5 0.75 1 --data A B C --out-dir stage4/front --plot front.png``.

Why: choosing a point on the line between a FER2013-only model and its camera fine-tune (``training.interpolate``)
is a choice between datasets; this exports each point as the app runs it, scores it on every dataset from the
prepared caches (``training.cached_eval``) and draws the front, so the choice is made on the validation splits
with the whole curve in view.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from app.inference.engine import InferenceEngine
from training.cached_eval import score
from training.export import export
from training.interpolate import interpolate, read_checkpoint


def measure_front(parent: Path, child: Path, alphas: list[float], data: list[Path], out_dir: Path,
                  name: str) -> list[dict]:
    """One row per alpha: the exported model's accuracy and macro-F1 on each dataset."""
    parent_ckpt, child_ckpt = read_checkpoint(parent), read_checkpoint(child)  # read once for every alpha
    rows = []
    for alpha in alphas:
        point_dir = out_dir / f"alpha{alpha:g}"
        point_dir.mkdir(parents=True, exist_ok=True)
        torch.save(interpolate(parent_ckpt, child_ckpt, alpha, (str(parent), str(child))), point_dir / "best.pt")
        onnx_path = point_dir / f"{name}.onnx"
        export(point_dir / "best.pt", onnx_path, name=name)
        engine = InferenceEngine(onnx_path, provider="cpu")
        row = {"alpha": alpha, "model": str(onnx_path)}
        for source in data:
            result = score(engine, source)
            row[f"{source.stem}/{result['split']}"] = {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def plot_front(rows: list[dict], path: Path, title: str) -> None:
    """Accuracy on each dataset against alpha (left), and the first two datasets against each other (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in rows[0] if "/" in k]
    alphas = [r["alpha"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in keys:
        left.plot(alphas, [100 * r[key]["accuracy"] for r in rows], marker="o", label=key)
    left.set_xlabel("alpha (0 = parent, 1 = fine-tune)")
    left.set_ylabel("accuracy (%)")
    left.legend()
    left.grid(alpha=0.3)
    if len(keys) >= 2:
        x, y = ([100 * r[k]["accuracy"] for r in rows] for k in keys[:2])
        right.plot(x, y, marker="o")
        for r, xi, yi in zip(rows, x, y):
            right.annotate(f"{r['alpha']:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        right.set_xlabel(f"{keys[0]} accuracy (%)")
        right.set_ylabel(f"{keys[1]} accuracy (%)")
        right.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parent", type=Path)
    ap.add_argument("child", type=Path)
    ap.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--data", nargs="+", type=Path, required=True, help="archives or image folders to score on")
    ap.add_argument("--out-dir", type=Path, required=True, help="a folder per alpha: checkpoint and ONNX model")
    ap.add_argument("--name", default="interpolated", help="the exported models' name")
    ap.add_argument("--plot", type=Path, default=None, help="write the front as a picture here")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = ap.parse_args(argv)
    if any(not 0.0 <= a <= 1.0 for a in args.alphas):
        ap.error("every alpha must lie in 0..1")
    rows = measure_front(args.parent, args.child, args.alphas, args.data, args.out_dir, args.name)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    if args.plot:
        plot_front(rows, args.plot, f"{args.name}: {args.parent.name} -> {args.child.name}")


if __name__ == "__main__":
    main()
