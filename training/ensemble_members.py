"""Take a shipped ensemble's members back out as models of their own: ``python -m training.ensemble_members
models/ensemble-large.onnx --out members/`` writes ``members/apvit-large-b-of-ensemble-large.onnx`` and the
others.

Why: an ensemble ships as one file, so members that were never shipped alone (``poster-large-b``,
``apvit-large-b``) live only inside it. A new ensemble (other members, other datasets) needs them as separate
ONNX files with cards. Each member's subgraph is cut out unchanged (its operators and float16-stored weights), its
inputs and output get the names every shipped model uses, and the ensemble's own output is checked against the
extracted members run separately: a member that was cut wrongly cannot pass.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import utils as onnx_utils

from app.inference.card import METADATA_KEY
from training.ensemble import HALF_PARITY_TOLERANCE, VIEW_SETS, Member, View, graph_sha256, reference
from training.recover import read_card

GRAPH_NAMES = {"view_image": "image", "view_landmarks": "landmarks"}


def rename_tensors(graph: onnx.GraphProto, names: dict[str, str]) -> None:
    """Rename tensors everywhere a graph mentions them (node inputs and outputs, graph inputs and outputs)."""
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)


def cut_member(ensemble: onnx.ModelProto, index: int) -> onnx.ModelProto:
    """Member ``index``'s own graph: from the view batch to its probabilities, named as a shipped model."""
    output = f"m{index}_probabilities"
    if output not in {o for node in ensemble.graph.node for o in node.output}:
        raise ValueError(f"the ensemble has no member {index} (no tensor {output!r})")
    typed = onnx.ModelProto()
    typed.CopyFrom(ensemble)
    for value in ensemble.graph.input:  # the view batch has the types of the ensemble's own inputs
        view = typed.graph.value_info.add()
        view.CopyFrom(value)
        view.name = {v: k for k, v in GRAPH_NAMES.items()}[value.name]
    answer = typed.graph.value_info.add()  # and the member's answer the type of the ensemble's
    answer.CopyFrom(ensemble.graph.output[0])
    answer.name = output
    whole = onnx_utils.Extractor(typed).extract_model(list(GRAPH_NAMES), [output])
    used = {name for node in whole.graph.node for name in node.input}
    keep = [value for value in whole.graph.input if value.name in used]
    del whole.graph.input[:]
    whole.graph.input.extend(keep)
    rename_tensors(whole.graph, {**GRAPH_NAMES, output: "probabilities"})
    whole.graph.name = f"member{index}"
    del whole.metadata_props[:]
    return whole


def architecture_cost(family: str, size: str, ensemble_card: dict) -> dict:
    """Parameters and GMACs (face and mirror) of the member's architecture, counted on the PyTorch model it was
    exported from: the ensemble's card keeps only their sums."""
    from training.checkpoint import count_gmacs
    from training.models import create_model, model_config

    model = create_model(family, size, num_classes=len(ensemble_card["classes"])).eval()
    mcfg = model_config(family, size)
    return {"params": int(sum(p.numel() for p in model.parameters())),
            "gmacs": round(2 * count_gmacs(model, mcfg["input_size"], mcfg["in_ch"]), 4)}


def member_card(ensemble_card: dict, entry: dict, uses_landmarks: bool, source: Path) -> dict:
    """A card for an extracted member, from what the ensemble's card kept of it."""
    name = entry["name"]
    family, size = (name.split("-") + ["small"])[:2]
    return {
        "name": f"{name}-of-{source.stem}",  # not the shipped model's name: a later model may have taken it
        "architecture": family,
        "size": size,
        "classes": list(ensemble_card["classes"]),
        "input": {**ensemble_card["input"], "landmarks": "mediapipe478" if uses_landmarks else "none"},
        "alignment": ensemble_card.get("alignment", {}),
        "dataset": ensemble_card.get("dataset", ""),
        "splits": ensemble_card.get("splits", {}),
        "metrics": {"publictest_acc": entry.get("publictest_acc")},
        **architecture_cost(family, size, ensemble_card),
        "tta": "hflip",
        "train": {"command": entry.get("command"), "notes": f"member of {source.name}, cut out by "
                  f"training.ensemble_members; the original member's graph_sha256 was {entry.get('graph_sha256')}"},
        "extracted_from": {"file": source.name, "graph_sha256": graph_sha256(source)},
        "description": f"{name} as it runs inside {ensemble_card['name']}",
    }


def extract_members(ensemble_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every member of an ensemble as ``out_dir/<name>.onnx`` (+ card), checked against the ensemble."""
    ensemble_path, out_dir = Path(ensemble_path), Path(out_dir)
    card = read_card(ensemble_path)
    if card.get("architecture") != "ensemble":
        raise ValueError(f"{ensemble_path} is not an ensemble (its card says {card.get('architecture')!r})")
    proto = onnx.load(str(ensemble_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, members = [], []
    for i, entry in enumerate(card["members"]):
        member = cut_member(proto, i)
        uses = any(value.name == "landmarks" for value in member.graph.input)
        member_info = member_card(card, entry, uses, ensemble_path)
        meta = member.metadata_props.add()
        meta.key, meta.value = METADATA_KEY, json.dumps(member_info)
        path = out_dir / f"{member_info['name']}.onnx"
        onnx.save(member, str(path))
        path.with_suffix(".json").write_text(json.dumps(member_info, indent=2) + "\n")
        paths.append(path)
        members.append(Member(path, member_info, member))
    check_against_ensemble(ensemble_path, card, members)
    return paths


def check_against_ensemble(ensemble_path: Path, card: dict, members: list[Member], faces: int = 6) -> float:
    """The ensemble's answer must be the mean of the extracted members over its views."""
    import onnxruntime as ort

    views = tuple(View(**v) for v in card.get("views") or [v.__dict__ for v in VIEW_SETS["none"]])
    spec = card["input"]
    rng = np.random.default_rng(0)
    inputs = {"image": rng.normal(size=(faces, 3 if spec["color"] == "rgb" else 1, spec["size"], spec["size"]))
              .astype(np.float32)}
    if spec.get("landmarks", "none") != "none":
        inputs["landmarks"] = (0.5 + 0.05 * rng.normal(size=(faces, 478, 3))).astype(np.float32)
    sess = ort.InferenceSession(str(ensemble_path), providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], inputs)[0]
    gap = float(np.abs(got - reference(members, views, inputs)).max())
    print(f"{ensemble_path.name} against its {len(members)} extracted members: max difference {gap:.2e}")
    if gap > HALF_PARITY_TOLERANCE:
        raise ValueError(f"the extracted members do not reproduce {ensemble_path.name} ({gap:.2e})")
    return gap


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ensemble", type=Path)
    ap.add_argument("--out", type=Path, required=True,
                    help="folder for the members' ONNX files and cards (<member>-of-<ensemble>.onnx)")
    args = ap.parse_args(argv)
    for path in extract_members(args.ensemble, args.out):
        print(path)


if __name__ == "__main__":
    main()
