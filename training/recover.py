"""Rebuild a trainable PyTorch checkpoint from a shipped ONNX model and its card:
``python -m training.recover models/poster-small.onnx --out runs/poster_small_recovered.pt``.

Why: training runs live in the gitignored ``runs/`` and can be lost, while ``models/`` is committed. A shipped
model is therefore the one copy of its weights that always survives, and the next fine-tune or distillation stage
must be able to start from it (``--init`` / ``--teacher`` take the recovered file).

One module on purpose, though long: every family's weight mapping back from the exporter's transforms and the
per-face parity check that refuses a wrong rebuild only make sense read together.

How: the exporter renames and transforms weights (BatchNorm folded into the convolution before it, linear
weights transposed for MatMul, ferformer's constant text branch folded into one matrix). So the same architecture
is exported again with distinct random values and identity BatchNorms; every initializer of that probe export is
matched by value to the parameter it came from, which gives a name -> parameter map valid for the shipped file
(same exporter, same graph). Folded BatchNorms come back as an exact identity plus the folded bias, re-expressed
with running statistics measured on real faces so that training-mode BatchNorm starts where the shipped model is.
Finally the rebuilt model must reproduce the shipped ONNX on real faces (99% of them within 1e-4: APViT's
top-k selection may flip on near-ties), or nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from app.inference.card import METADATA_KEY
from training.checkpoint import shipped_module
from training.config import load_config
from training.models import create_model, model_config
from training.train import channels_first, normalise

PARITY_TOLERANCE = 1e-4
# APViT keeps its top-k patches and tokens: where two score within float rounding of each other, ONNX Runtime and
# PyTorch may keep different ones and that face's output moves (apvit-large: 2 of 512 faces by up to 1.3e-2, the
# other 510 within 1e-6). So the check is per face: nearly all faces within the tolerance, the same prediction.
PARITY_FACES = 0.99


class RecoveryError(RuntimeError):
    pass


def read_card(onnx_path: Path) -> dict:
    proto = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY in meta:
        return json.loads(meta[METADATA_KEY])
    side = onnx_path.with_suffix(".json")
    if side.exists():
        return json.loads(side.read_text())
    raise RecoveryError(f"{onnx_path} has no model card (neither in its metadata nor beside it)")


def _shipped(model: nn.Module, card: dict) -> nn.Module:
    weights = (card.get("prior_correction") or {}).get("class_weights")
    return shipped_module(model, card.get("tta", "none"), weights)


def _example_inputs(card: dict) -> tuple[torch.Tensor, ...]:
    size, channels = card["input"]["size"], 3 if card["input"]["color"] == "rgb" else 1
    g = torch.Generator().manual_seed(0)
    image = torch.randn(2, channels, size, size, generator=g)
    if card["input"]["landmarks"] == "none":
        return (image,)
    return image, 0.5 + 0.05 * torch.randn(2, 478, 3, generator=g)


def _export_initializers(module: nn.Module, card: dict) -> dict[str, np.ndarray]:
    inputs = _example_inputs(card)
    names = ["image", "landmarks"][: len(inputs)]
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        path = Path(tmp) / "probe.onnx"
        torch.onnx.export(module, inputs, str(path), input_names=names, output_names=["probabilities"],
                          dynamic_axes={n: {0: "batch"} for n in [*names, "probabilities"]},
                          opset_version=card.get("onnx", {}).get("opset", 17), dynamo=False)
        proto = onnx.load(str(path))
    return {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}, proto


def _text_joint(model: nn.Module) -> torch.Tensor | None:
    """ferformer's constant text branch, as the exporter folds it: normalize(text_to_joint(text_embed)).T."""
    if not hasattr(model, "text_to_joint"):
        return None
    return nn.functional.normalize(model.text_to_joint(model.text_embed), dim=-1).t()


def identity_batchnorm(model: nn.Module) -> None:
    """Every BatchNorm scales by exactly 1 in eval mode (its bias is left as it is)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.zero_()
            m.running_var.fill_(1.0 - m.eps)
            m.weight.fill_(1.0)


def probe_map(arch: str, size: str, num_classes: int, card: dict) -> tuple[list[tuple[int, int, str, str]], list[str]]:
    """Where each weight enters the exported graph: (node index, input slot, parameter name, how it is stored:
    "same" | "transposed" | "bn_bias" | "text"), and the graph's operator sequence. Positions, not initializer
    names: the exporter merges equal initializers (an untrained zero bias, say) under one name."""
    torch.manual_seed(1234)
    model = create_model(arch, size, num_classes=num_classes).eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for p in params.values():
            p.copy_(torch.randn_like(p))
        if hasattr(model, "text_embed"):
            model.text_embed.copy_(torch.randn_like(model.text_embed))
        identity_batchnorm(model)  # the folded convolution weight is the raw one; the random bias stays recognisable
        text = _text_joint(model)
    inits, proto = _export_initializers(_shipped(model, card), card)
    mapping: dict[str, tuple[str, str]] = {}
    bn_weights = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    bn_biases = {f"{n}.bias" for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    lookup = {n: p.detach().numpy() for n, p in params.items() if n not in bn_weights}
    for name, value in inits.items():
        for pname, pval in lookup.items():
            if pval.shape == value.shape and np.allclose(pval, value, rtol=1e-5, atol=1e-6):
                mapping[name] = (pname[: -len(".bias")], "bn_bias") if pname in bn_biases else (pname, "same")
                break
            if pval.ndim == 2 and pval.T.shape == value.shape and np.allclose(pval.T, value, rtol=1e-5, atol=1e-6):
                mapping[name] = (pname, "transposed")
                break
        else:
            if text is not None and value.shape == tuple(text.shape) and np.allclose(text.numpy(), value, atol=1e-5):
                mapping[name] = ("text_to_joint", "text")
    nodes = operators(proto.graph)
    uses = [(i, slot, *mapping[name]) for i, (_, inputs) in enumerate(nodes) for slot, name in enumerate(inputs)
            if name in mapping]
    return uses, [op for op, _ in nodes]


def operators(graph: onnx.GraphProto) -> list[tuple[str, list[str]]]:
    """The graph's operators with their inputs, Identity nodes removed and their outputs read through: the
    exporter shares equal initializers through Identity nodes, which must not shift operator positions."""
    alias: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        inputs = [alias.get(n, n) for n in node.input]
        if node.op_type == "Identity":
            alias[node.output[0]] = inputs[0]
            continue
        nodes.append((node.op_type, inputs))
    return nodes


def _set_text_joint(model: nn.Module, folded: torch.Tensor) -> None:
    """Least-norm text_to_joint whose normalised output on the fixed text embeddings is the folded matrix."""
    e = torch.cat([model.text_embed, torch.ones(len(model.text_embed), 1)], dim=1).double()  # (C, T+1)
    sol = torch.linalg.lstsq(e, folded.t().double(), driver="gelsd").solution  # (T+1, D)
    with torch.no_grad():
        model.text_to_joint.weight.copy_(sol[:-1].t().float())
        model.text_to_joint.bias.copy_(sol[-1].float())


def calibrate_batchnorm(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Re-express identity BatchNorms with real running statistics (eval output unchanged): training mode then
    normalises each batch to about the same values the shipped model computes."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    sums = {id(m): [0.0, 0.0, 0] for m in bns}

    def hook(m, inp, _out):
        x = inp[0].double()
        s = sums[id(m)]
        s[0] = s[0] + x.sum((0, 2, 3))
        s[1] = s[1] + (x * x).sum((0, 2, 3))
        s[2] += x.numel() // x.shape[1]

    handles = [m.register_forward_hook(hook) for m in bns]
    model.eval()
    with torch.no_grad():
        for image, landmarks in batches:
            model(image, landmarks)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for m in bns:
            total, sq, n = sums[id(m)]
            mean = total / n
            var = (sq / n - mean * mean).clamp_min(1e-6)
            m.bias.add_(mean.float())  # identity + folded bias, now centred on the measured mean
            m.running_mean.copy_(mean.float())
            m.running_var.copy_(var.float())
            m.weight.copy_(torch.sqrt(var + m.eps).float())


def recover(onnx_path: str | Path, data: str | Path | None = None, calibration_faces: int = 1024) -> dict:
    """A checkpoint dict (the format ``training.train`` writes) whose model reproduces ``onnx_path``."""
    onnx_path = Path(onnx_path)
    card = read_card(onnx_path)
    arch, size, classes = card["architecture"], card["size"], list(card["classes"])
    expected = model_config(arch, size)["input_size"]
    if card["input"]["size"] != expected:
        raise RecoveryError(f"{onnx_path}: its card says {arch}/{size}, which takes {expected} px faces, but its "
                            f"input is {card['input']['size']} px: the card does not match the graph")
    uses, ops = probe_map(arch, size, len(classes), card)
    graph = onnx.load(str(onnx_path)).graph
    shipped = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes = operators(graph)
    if [op for op, _ in nodes] != ops:
        raise RecoveryError(f"{onnx_path} was exported from a different graph than this code builds for "
                            f"{arch}/{size} ({len(nodes)} operators, expected {len(ops)})")
    model = create_model(arch, size, num_classes=len(classes)).eval()
    if hasattr(model, "set_text_embeddings"):  # fixed sentence embeddings, not trained: rebuilt, never stored
        from training.models.ferformer import text_embeddings

        model.set_text_embeddings(text_embeddings(classes))
    params, modules = dict(model.named_parameters()), dict(model.named_modules())
    loaded: set[str] = set()
    with torch.no_grad():
        identity_batchnorm(model)
        for node, slot, target, how in uses:
            name = nodes[node][1][slot]
            if name not in shipped:
                raise RecoveryError(f"{onnx_path}: operator {node} reads {name}, which is not a stored weight")
            value = torch.from_numpy(shipped[name].copy())
            if how == "bn_bias":
                modules[target].bias.copy_(value)
                loaded.update({f"{target}.weight", f"{target}.bias"})
            elif how == "text":
                _set_text_joint(model, value)
                loaded.update({"text_to_joint.weight", "text_to_joint.bias"})
            else:
                params[target].copy_(value.t() if how == "transposed" else value)
                loaded.add(target)
    absent = sorted(set(params) - loaded)
    if absent:
        raise RecoveryError(f"{onnx_path}: no weights found for {', '.join(absent[:5])}")
    check = _parity_inputs(card, data)
    calibrate_batchnorm(model, _batches(check, card))
    got = _run_onnx(onnx_path, check)
    with torch.no_grad():
        want = _shipped(model, card)(*check).numpy()
    per_face = np.abs(got - want).max(1)
    within = float((per_face <= PARITY_TOLERANCE).mean())
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    if within < PARITY_FACES or agree < PARITY_FACES:
        raise RecoveryError(f"the rebuilt model differs from {onnx_path}: {100 * within:.1f}% of {len(per_face)} faces "
                            f"within {PARITY_TOLERANCE} (need {100 * PARITY_FACES:.0f}%), same prediction on "
                            f"{100 * agree:.1f}%, largest difference {per_face.max():.2e}")
    ckpt = _checkpoint(model, card, onnx_path, data, float(per_face.max()), len(check[0]))
    ckpt["recovered"].update({"faces_within_tolerance": within, "prediction_agreement": agree})
    return ckpt


def _parity_inputs(card: dict, data: str | Path | None, count: int = 512) -> tuple[torch.Tensor, ...]:
    """Real aligned training faces when the dataset is at hand (BatchNorm statistics need real ones)."""
    size, color = card["input"]["size"], card["input"]["color"]
    gray = color == "gray"
    channels = 1 if gray else 3
    if data is not None:
        from training.data.prepare import load_or_prepare

        prep = load_or_prepare(str(data), size, gray=gray).subset(card["splits"]["train"])
        pick = np.random.default_rng(0).choice(len(prep.labels), min(count, len(prep.labels)), replace=False)
        imgs = channels_first(prep.images[np.sort(pick)], color)
        image = normalise(imgs, card["input"]["mean"], card["input"]["std"], channels)
        landmarks = torch.from_numpy(prep.landmarks[np.sort(pick)].astype(np.float32))
    else:
        g = torch.Generator().manual_seed(0)
        image = torch.randn(64, channels, size, size, generator=g)
        landmarks = 0.5 + 0.05 * torch.randn(64, 478, 3, generator=g)
    return (image,) if card["input"]["landmarks"] == "none" else (image, landmarks)


def _batches(inputs: tuple[torch.Tensor, ...], card: dict, batch: int = 64):
    n = len(inputs[0])
    return [(inputs[0][i:i + batch], inputs[1][i:i + batch] if len(inputs) > 1 else None) for i in range(0, n, batch)]


def _run_onnx(path: Path, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = dict(zip([i.name for i in sess.get_inputs()], [t.numpy() for t in inputs]))
    return sess.run(["probabilities"], feed)[0]


def _checkpoint(model: nn.Module, card: dict, onnx_path: Path, data, gap: float, faces: int) -> dict:
    train = card.get("train", {})
    cfg = load_config(card["architecture"], card["size"], overrides={
        k: train[k] for k in ("lr", "weight_decay", "batch_size", "label_smoothing", "balance", "seed") if k in train})
    cfg.update({"color": card["input"]["color"], "mean": card["input"]["mean"], "std": card["input"]["std"]})
    cfg["epochs"] = 0
    counts = (card.get("prior_correction") or {}).get("train_counts")
    return {
        "model": model.state_dict(),
        "state": {"epoch": 0, "step": 0, "best_acc": card.get("metrics", {}).get("checkpoint_val_acc", -1.0),
                  "history": []},
        "config": cfg,
        "model_args": {"arch": card["architecture"], "size": card["size"], "num_classes": len(card["classes"])},
        "model_config": model_config(card["architecture"], card["size"], num_classes=len(card["classes"])),
        "classes": list(card["classes"]),
        "data": str(data) if data else card.get("dataset", ""),
        "splits": card.get("splits", {"train": "train", "val": "publictest"}),
        "hardware": train.get("hardware", ""),
        "minutes": 0.0,
        "train_class_counts": counts,
        "trained_on": [d["name"] for d in card.get("datasets", [])] or None,
        # the shipped model's own training stages, so a card built on top of this file still tells the whole recipe
        "recovered": {"onnx": str(onnx_path), "stages": train.get("stages", []), "parity_max_abs": gap,
                      "calibration_faces": faces},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Rebuild a trainable checkpoint from a shipped ONNX model.")
    ap.add_argument("onnx")
    ap.add_argument("--out", required=True, help="checkpoint to write, e.g. runs/poster_small_recovered.pt")
    ap.add_argument("--data", default=None, help="dataset for BatchNorm statistics (default ../shared/data/<card's>)")
    args = ap.parse_args(argv)
    data = args.data
    if data is None:
        from training.data.archive import default_data_dir

        card = read_card(Path(args.onnx))
        # a GPU-trained card names its bundle (made from fer2013.npz, same aligned faces), which stays on that machine
        root = default_data_dir()
        found = [root / n for n in (card.get("dataset", "fer2013.npz"), "fer2013.npz") if (root / n).exists()]
        data = str(found[0]) if found else None
        if data is None:
            print("no dataset found: BatchNorm statistics and the parity check use random faces", file=sys.stderr)
    ckpt = recover(args.onnx, data)
    typed = f"python -m training.recover {args.onnx} --out {args.out}" + (f" --data {args.data}" if args.data else "")
    step = {"recovered": {"command": typed,
                          "parity_max_abs": ckpt["recovered"]["parity_max_abs"]}}
    ckpt["recovered"]["stages"] = [*ckpt["recovered"]["stages"], step]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(json.dumps({"out": args.out, "parity_max_abs": ckpt["recovered"]["parity_max_abs"],
                      "calibration_faces": ckpt["recovered"]["calibration_faces"]}))


if __name__ == "__main__":
    main()
