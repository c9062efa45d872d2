"""Ship several trained models as one: ``python -m training.ensemble models/poster-small.onnx
models/apvit-small.onnx models/ferformer-small.onnx members/poster-large-b-of-ensemble-large.onnx --views none
--name ensemble-large --measure`` (members as training/README.md's "Ensemble" section gets them).

Why: models of different families make different mistakes, and every model is a little unsure of small shifts
and zooms of the aligned face. Averaging the class probabilities of several members, each over a few fixed
re-framings of the face (and the mirror view each member already averages), is the classic way FER2013's best
results are reached. The result is one ONNX graph with the usual ``image`` (+ ``landmarks``) inputs, so the app
loads it like any model; it costs the sum of its members times the number of views, so it is a GPU-size model.

The members' own ONNX graphs are composed as they ship (no retraining, no rebuild: bit-for-bit the same
operators), behind a small PyTorch-exported graph that makes the views; an ensemble needs nothing but its members'
ONNX files to build, and ships as one file.

Long for one module because composing graphs, checking them against the members and writing the card are one
procedure whose steps share the same renamed graphs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

OPSET = 17  # GridSample needs 16
# float16 weights move probabilities by ~1e-4; 2e-3 still means "the same model" (prediction agreement is
# measured on real faces by training.evaluate afterwards)
HALF_PARITY_TOLERANCE = 2e-3


# a re-framing of the aligned face: zoom (>1 shows the face bigger), rotation in degrees, shift in pixels
@dataclass(frozen=True)
class View:
    name: str
    zoom: float = 1.0
    rotate: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0


VIEW_SETS: dict[str, tuple[View, ...]] = {
    "none": (View("identity"),),
    # the set shipped with ensemble-large: on publictest it beat "standard" for that trio (71.6% vs 71.5%) at a
    # third of the cost
    "zoom": (View("identity"), View("zoom-in", zoom=1.08), View("zoom-out", zoom=0.93)),
    "standard": (
        View("identity"),
        View("zoom-in", zoom=1.08),
        View("zoom-out", zoom=0.93),
        View("shift-left", shift_x=-2.0),
        View("shift-right", shift_x=2.0),
        View("shift-up", shift_y=-2.0),
        View("shift-down", shift_y=2.0),
        View("rotate-left", rotate=-6.0),
        View("rotate-right", rotate=6.0),
    ),
}


def view_affines(views: tuple[View, ...], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per view, the (2,3) sampling matrix in grid_sample's normalised coordinates and the zoom factor.

    Output point p (in -1..1) samples the input at A p + t, with A = R(rotate) / zoom and t the shift; a shift of
    +k pixels samples k pixels further right/down, so the face moves left/up by k pixels.
    """
    thetas, zooms = [], []
    for v in views:
        a = math.radians(v.rotate)
        c, s = math.cos(a) / v.zoom, math.sin(a) / v.zoom
        thetas.append([[c, -s, 2 * v.shift_x / size], [s, c, 2 * v.shift_y / size]])
        zooms.append(v.zoom)
    return torch.tensor(thetas, dtype=torch.float32), torch.tensor(zooms, dtype=torch.float32)


class ViewBatch(nn.Module):
    """The re-framings as a batch: ``(B,C,S,S)`` faces and ``(B,478,3)`` landmarks become ``V*B`` of each.

    The sampling grids are constants (one per view, computed for the input size), so the graph holds one
    GridSample and no shape-dependent maths; the landmarks move with the image exactly as training's augmentation
    moves them (x, y through the inverse map, depth scaled by the zoom). Row ``v*B + b`` is view v of face b.
    """

    def __init__(self, views: tuple[View, ...], size: int):
        super().__init__()
        theta, zoom = view_affines(views, size)
        grid = F.affine_grid(theta, [len(views), 1, size, size], align_corners=False)  # (V,S,S,2)
        self.register_buffer("grid", grid, persistent=False)
        self.register_buffer("inverse", torch.linalg.inv(theta[:, :, :2]), persistent=False)  # (V,2,2)
        self.register_buffer("shift", theta[:, :, 2], persistent=False)  # (V,2)
        self.register_buffer("zoom", zoom, persistent=False)  # (V,)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None):
        v, b = self.grid.shape[0], image.shape[0]
        grid = self.grid[:, None].expand(v, b, *self.grid.shape[1:]).reshape(v * b, *self.grid.shape[1:])
        images = image[None].expand(v, *image.shape).reshape(v * b, *image.shape[1:])
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if landmarks is None:
            return images
        xy = landmarks[None, ..., :2] * 2 - 1 - self.shift[:, None, None]  # (V,B,478,2)
        xy = torch.einsum("vij,vbnj->vbni", self.inverse, xy)
        z = landmarks[None, ..., 2:] * self.zoom[:, None, None, None]
        return images, torch.cat([(xy + 1) / 2, z], dim=-1).reshape(v * b, *landmarks.shape[1:])


@dataclass
class Member:
    """One shipped model, its card and its graph, exactly as it ships (mirror view and prior correction inside)."""

    path: Path
    card: dict
    graph: onnx.ModelProto | None = None

    @property
    def uses_landmarks(self) -> bool:
        return self.card["input"]["landmarks"] != "none"


def load_member(onnx_path: str | Path) -> Member:
    from training.recover import read_card

    onnx_path = Path(onnx_path)
    card = read_card(onnx_path)
    if card.get("architecture") == "ensemble":
        raise ValueError(f"{onnx_path} is itself an ensemble; name its members instead")
    return Member(onnx_path, card, onnx.load(str(onnx_path)))


def check_compatible(members: list[Member]) -> None:
    """Members must agree on what the graph's inputs and outputs mean."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    first = members[0].card
    for m in members[1:]:
        for key in ("classes", "alignment"):
            if m.card.get(key) != first.get(key):
                raise ValueError(f"{m.path.name} and {members[0].path.name} differ in {key}")
        spec, ref = m.card["input"], first["input"]
        diff = [k for k in ("size", "color", "mean", "std") if spec[k] != ref[k]]
        if diff:
            raise ValueError(f"{m.path.name} and {members[0].path.name} take different input ({', '.join(diff)})")


def view_graph(views: tuple[View, ...], size: int, channels: int, with_landmarks: bool) -> onnx.ModelProto:
    """ViewBatch exported on its own: inputs ``image`` (+ ``landmarks``), outputs ``view_image`` (+
    ``view_landmarks``)."""
    module = ViewBatch(views, size).eval()
    inputs = (torch.zeros(2, channels, size, size),) + ((torch.full((2, 478, 3), 0.5),) if with_landmarks else ())
    names = ["image", "landmarks"][: len(inputs)]
    outs = ["view_image", "view_landmarks"][: len(inputs)]
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, inputs, buffer, input_names=names, output_names=outs, opset_version=OPSET,
                          dynamic_axes={n: {0: "batch"} for n in names + outs}, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def compose(members: list[Member], views: tuple[View, ...]) -> onnx.ModelProto:
    """One graph: the views, every member's own graph on the view batch, then the mean over members and views."""
    from onnx import compose as onnx_compose
    from onnx import helper

    check_compatible(members)
    spec = members[0].card["input"]
    uses = any(m.uses_landmarks for m in members)
    front = view_graph(views, spec["size"], 1 if spec["color"] == "gray" else 3, uses)
    nodes, inits = list(front.graph.node), list(front.graph.initializer)
    outputs = []
    for i, m in enumerate(members):
        if m.graph is None or [o.name for o in m.graph.graph.output] != ["probabilities"]:
            raise ValueError(f"{m.path.name} does not answer one 'probabilities' output")
        prefix = f"m{i}_"
        g = onnx_compose.add_prefix(m.graph, prefix).graph
        rename = {f"{prefix}image": "view_image", f"{prefix}landmarks": "view_landmarks"}
        for node in g.node:
            node.input[:] = [rename.get(n, n) for n in node.input]
        nodes += list(g.node)
        inits += list(g.initializer)
        outputs.append(f"{prefix}probabilities")
    n_classes = len(members[0].card["classes"])
    shape = numpy_helper.from_array(np.array([len(views), -1, n_classes], np.int64), "view_shape")
    nodes += [
        helper.make_node("Mean", outputs, ["member_mean"], name="member_mean"),
        helper.make_node("Reshape", ["member_mean", "view_shape"], ["per_view"], name="per_view"),
        helper.make_node("ReduceMean", ["per_view"], ["probabilities"], axes=[0], keepdims=0, name="view_mean"),
    ]
    graph = helper.make_graph(nodes, "ensemble", list(front.graph.input), [
        helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["batch", n_classes])
    ], [*inits, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ferlive")
    model.ir_version = members[0].graph.ir_version
    return model


def graph_sha256(path: Path) -> str:
    """Fingerprint of a model's graph and weights, not its metadata: re-timing a member rewrites its card in the
    ONNX metadata, which must not make the ensemble look stale."""
    return hashlib.sha256(onnx.load(str(path)).graph.SerializeToString(deterministic=True)).hexdigest()


def member_datasets(card: dict) -> list[str]:
    """The datasets a member saw, by name: its card's ``datasets`` list, or for an older card the dataset part of
    the file names in ``dataset`` (``fer2013_48g.bundle.npz`` -> ``fer2013``)."""
    if card.get("datasets"):
        return [d["name"] for d in card["datasets"]]
    files = [part.strip() for part in card.get("dataset", "").split("+") if part.strip()]
    return [re.split(r"[._]", Path(f).name)[0] for f in files]


def build_card(name: str, members: list[Member], view_set: str, views: tuple[View, ...], parity: float,
               command: str) -> dict:
    from training.export import dataset_terms

    first = members[0].card
    uses = any(m.uses_landmarks for m in members)
    seen = list(dict.fromkeys(d for m in members for d in member_datasets(m.card)))  # every member's, in order
    return {
        "name": name,
        "architecture": "ensemble",
        "size": "large",
        "classes": list(first["classes"]),
        "input": {**first["input"], "landmarks": "mediapipe478" if uses else "none"},
        "alignment": first.get("alignment", {}),
        "dataset": " + ".join(seen),
        "datasets": [dataset_terms(d) for d in seen],
        "splits": first.get("splits", {}),
        "metrics": {},
        "params": int(sum(m.card.get("params") or 0 for m in members)),
        # each member's card already counts its mirror view; every re-framing runs every member again
        "gmacs": round(len(views) * sum(m.card.get("gmacs") or 0.0 for m in members), 4),
        "tta": f"{view_set}: {len(views)} views x mirror",
        "views": [v.__dict__ for v in views],
        "members": [{"name": m.card["name"], "file": m.path.name, "graph_sha256": graph_sha256(m.path),
                     "publictest_acc": m.card.get("metrics", {}).get("publictest_acc"),
                     "command": m.card.get("train", {}).get("command")} for m in members],
        "train": {
            "epochs": 0,
            "notes": "no training of its own: the mean of the members' probabilities (each member's card gives its "
                     "recipe); members and views chosen by training.ensemble_search on the validation splits",
            "command": command,
            "hardware": "CPU (assembly and export only)",
        },
        "onnx": {"opset": OPSET, "parity_max_abs": float(parity), "weights": "float16 storage, float32 compute"},
        "description": f"mean of {', '.join(m.card['name'] for m in members)} over {len(views)} views of the face",
    }


def reference(members: list[Member], views: tuple[View, ...], inputs: dict[str, np.ndarray]) -> np.ndarray:
    """What the ensemble must answer, computed the long way: the views in PyTorch, each member's own file in
    its own ONNX Runtime session, then the means."""
    import onnxruntime as ort

    image = torch.from_numpy(inputs["image"])
    landmarks = torch.from_numpy(inputs["landmarks"]) if "landmarks" in inputs else None
    with torch.no_grad():
        batch = ViewBatch(views, image.shape[-1])(image, landmarks)
    view_image, view_lms = batch if landmarks is not None else (batch, None)
    probs = []
    for m in members:
        sess = ort.InferenceSession(str(m.path), providers=["CPUExecutionProvider"])
        feed = {"image": view_image.numpy(), **({"landmarks": view_lms.numpy()} if m.uses_landmarks else {})}
        probs.append(sess.run(["probabilities"], feed)[0])
    mean = np.mean(probs, axis=0)
    return mean.reshape(len(views), len(image), -1).mean(0)


def export_ensemble(member_paths: list[str | Path], out: str | Path, view_set: str | tuple[View, ...] = "standard",
                    name: str | None = None) -> dict:
    """Compose the members' graphs over the views (a VIEW_SETS name or the views themselves), store the weights
    as float16, check the file against the members run separately, write the card."""
    import onnxruntime as ort

    from app.inference.card import METADATA_KEY
    from training.export import ParityError
    from training.onnx_storage import half_storage

    if isinstance(view_set, str):
        if view_set not in VIEW_SETS:
            raise ValueError(f"unknown view set {view_set!r}; choose one of {', '.join(VIEW_SETS)}")
        views = VIEW_SETS[view_set]
    else:
        views, view_set = tuple(view_set), "custom"
    members = [load_member(p) for p in member_paths]
    out = Path(out)
    name = name or out.stem
    proto = half_storage(compose(members, views))
    onnx.checker.check_model(proto, full_check=True)
    spec = members[0].card["input"]
    rng = np.random.default_rng(0)
    inputs = {"image": rng.normal(size=(8, 1 if spec["color"] == "gray" else 3, spec["size"], spec["size"]))
              .astype(np.float32)}
    if any(m.uses_landmarks for m in members):
        inputs["landmarks"] = (0.5 + 0.05 * rng.normal(size=(8, 478, 3))).astype(np.float32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], inputs)[0]
    parity = float(np.abs(got - reference(members, views, inputs)).max())
    print(f"parity with the members run separately ({len(got)} random inputs, float16 weights): {parity:.2e}")
    if parity > HALF_PARITY_TOLERANCE:
        raise ParityError(f"the ensemble and its members disagree by {parity:.2e} (> {HALF_PARITY_TOLERANCE})")
    command = ("python -m training.ensemble " + " ".join(str(p) for p in member_paths)
               + f" --views {view_set} --name {name}")
    card = build_card(name, members, view_set, views, parity, command)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(card)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="shipped ONNX models (models/NAME.onnx)")
    ap.add_argument("--views", default="standard", choices=list(VIEW_SETS), help="test-time re-framings")
    ap.add_argument("--name", required=True)
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--measure", action="store_true",
                    help="then evaluate it on publictest and CK+ and time it, as training.ship does for a run")
    args = ap.parse_args(argv)
    card = export_ensemble(args.members, args.models_dir / f"{args.name}.onnx", args.views, args.name)
    print(json.dumps({"out": str(args.models_dir / f"{args.name}.onnx"), "params": card["params"],
                      "gmacs": card["gmacs"], "parity_max_abs": card["onnx"]["parity_max_abs"]}))
    if args.measure:
        from training.data.archive import default_data_dir
        from training.ship import measure, table

        card = measure(args.models_dir / f"{args.name}.onnx", default_data_dir())
        print(json.dumps({"model": card["name"], **{k: v for k, v in card["metrics"].items()
                                                    if not isinstance(v, dict)}}))
        print(table(args.models_dir))


if __name__ == "__main__":
    main()
