"""An ensemble ships as one ONNX graph: the views move face and landmarks together, the graph equals the mean of
its members run separately, float16 storage changes nothing that matters, and the app loads it like any model."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.test_training import cache_in_tmp, small_archive  # noqa: F401  (fixtures)

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_a_pixel_shift_moves_the_face_and_its_landmarks_together():
    from training.ensemble import View, ViewBatch

    size = 48
    views = (View("identity"), View("shift-right", shift_x=2.0), View("shift-down", shift_y=3.0))
    image = torch.rand(2, 1, size, size)
    landmarks = torch.rand(2, 478, 3)
    images, moved = ViewBatch(views, size)(image, landmarks)
    images, moved = images.reshape(3, 2, 1, size, size), moved.reshape(3, 2, 478, 3)
    torch.testing.assert_close(images[0], image, atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[0], landmarks, atol=1e-6, rtol=0)
    # shift_x=+2 samples two pixels to the right: the face moves left, the edge column repeats
    want = torch.cat([image[..., 2:], image[..., -1:].expand(-1, -1, -1, 2)], dim=-1)
    torch.testing.assert_close(images[1], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[1, ..., 0], landmarks[..., 0] - 2 / size, atol=1e-6, rtol=0)
    torch.testing.assert_close(moved[1, ..., 1:], landmarks[..., 1:], atol=1e-6, rtol=0)
    want = torch.cat([image[..., 3:, :], image[..., -1:, :].expand(-1, -1, 3, -1)], dim=-2)
    torch.testing.assert_close(images[2], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[2, ..., 1], landmarks[..., 1] - 3 / size, atol=1e-6, rtol=0)


def test_a_zoom_keeps_the_centre_and_scales_landmarks_about_it():
    from training.ensemble import View, ViewBatch

    landmarks = torch.tensor([[[0.5, 0.5, 0.1], [0.75, 0.25, 0.2]]]).expand(1, 2, 3)
    _, moved = ViewBatch((View("zoom-in", zoom=1.25),), 48)(torch.rand(1, 1, 48, 48), landmarks)
    torch.testing.assert_close(moved[0, 0], torch.tensor([0.5, 0.5, 0.125]))
    torch.testing.assert_close(moved[0, 1], torch.tensor([0.8125, 0.1875, 0.25]))


def _tiny_members(archive, tmp_path):
    from training.config import load_config
    from training.export import export
    from training.train import train

    torch.manual_seed(0)
    paths = []
    for arch in ("apvit", "poster"):
        train(load_config(arch, "tiny", overrides={"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 8}),
              str(archive), tmp_path / arch)
        paths.append(tmp_path / "models" / f"{arch}-tiny.onnx")
        export(tmp_path / arch / "best.pt", paths[-1])
    return paths


def _faces(archive, size, count=64):
    from training.data.prepare import load_or_prepare
    from training.train import normalise

    prep = load_or_prepare(str(archive), size, gray=True).subset("publictest")
    image = normalise(torch.from_numpy(prep.images[:count])[:, None], [0.5], [0.25], 1).numpy()
    return image, prep.landmarks[:count].astype(np.float32)


def _run(path, image, landmarks):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = {"image": image, **({"landmarks": landmarks} if "landmarks" in names else {})}
    return sess.run(["probabilities"], feed)[0]


@pytest.mark.slow
def test_the_ensemble_graph_is_the_mean_of_its_members_and_loads_in_the_app(small_archive, tmp_path):  # noqa: F811
    from app.inference.engine import InferenceEngine
    from training.ensemble import export_ensemble

    members = _tiny_members(small_archive, tmp_path)
    size = json.loads(members[0].with_suffix(".json").read_text())["input"]["size"]
    image, landmarks = _faces(small_archive, size)
    plain = export_ensemble(members, tmp_path / "models" / "plain.onnx", "none")
    want = np.mean([_run(p, image, landmarks) for p in members], axis=0)
    got = _run(tmp_path / "models" / "plain.onnx", image, landmarks)
    np.testing.assert_allclose(got, want, atol=2e-3)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
    assert plain["onnx"]["parity_max_abs"] <= 2e-3
    assert plain["input"]["landmarks"] == "mediapipe478"  # one member reads landmarks, so the ensemble takes them
    assert [m["file"] for m in plain["members"]] == ["apvit-tiny.onnx", "poster-tiny.onnx"]

    # the mirror-free re-framing is checked against a shift done here with plain numpy (edge pixels repeat)
    from training.ensemble import View

    views = (View("identity"), View("shift-right", shift_x=2.0))
    card = export_ensemble(members, tmp_path / "models" / "views.onnx", views)
    assert card["gmacs"] == pytest.approx(2 * plain["gmacs"], rel=1e-3) and len(card["views"]) == 2
    shifted = np.concatenate([image[..., 2:], np.repeat(image[..., -1:], 2, axis=-1)], axis=-1)
    moved = landmarks.copy()
    moved[..., 0] -= 2 / size
    want = (got + _run(tmp_path / "models" / "plain.onnx", shifted, moved)) / 2
    np.testing.assert_allclose(_run(tmp_path / "models" / "views.onnx", image, landmarks), want, atol=2e-3)

    # float16 storage: no large float32 weight is left in the file
    proto = onnx.load(str(tmp_path / "models" / "views.onnx"))
    large = [i for i in proto.graph.initializer if np.prod(i.dims) >= 1024]
    assert large and all(i.data_type == onnx.TensorProto.FLOAT16 for i in large)

    # the search scores the same framings the ensemble graph makes
    from training.ensemble_search import cached_view_probabilities, view_probabilities

    per_view = view_probabilities(members[1], views, image, landmarks)
    np.testing.assert_allclose(per_view["identity"], _run(members[1], image, landmarks), atol=1e-5)
    # its cache answers the same, and keeps models apart by their graph, not their file name
    cache = tmp_path / "search_cache"
    for _ in range(2):
        cached = cached_view_probabilities(members[1], views, image, landmarks, cache)
        assert len(list(cache.iterdir())) == 1
        for v in views:
            np.testing.assert_array_equal(cached[v.name], per_view[v.name])
    renamed = tmp_path / members[1].name
    renamed.write_bytes(members[0].read_bytes())  # another model under the same stem
    other = cached_view_probabilities(renamed, views, image, landmarks, cache)
    assert len(list(cache.iterdir())) == 2
    assert not np.allclose(other["identity"], per_view["identity"])

    engine = InferenceEngine(tmp_path / "models" / "views.onnx", provider="cpu")
    assert engine.card.architecture == "ensemble"
    crops = np.full((2, size, size), 128, np.uint8)
    probs = engine.predict(crops, np.full((2, 478, 3), 0.5, np.float32))
    assert probs.shape == (2, 7)
    saved = json.loads((tmp_path / "models" / "views.json").read_text())
    assert saved["train"]["command"].startswith("python -m training.ensemble")

    # its members come back out as models of their own, answering as the files the ensemble was built from
    from training.ensemble_members import extract_members

    cut = extract_members(tmp_path / "models" / "views.onnx", tmp_path / "cut")
    assert [p.name for p in cut] == ["apvit-tiny-of-views.onnx", "poster-tiny-of-views.onnx"]
    for original, extracted in zip(members, cut):
        np.testing.assert_allclose(_run(extracted, image, landmarks), _run(original, image, landmarks), atol=2e-3)
        own, back = (json.loads(p.with_suffix(".json").read_text()) for p in (original, extracted))
        assert (back["params"], back["gmacs"]) == (own["params"], own["gmacs"])
    landmark_use = [InferenceEngine(p, provider="cpu").card.uses_landmarks for p in cut]
    assert landmark_use == [False, True]


def test_an_ensemble_refuses_members_that_disagree_on_input(tmp_path):
    from training.ensemble import Member, check_compatible

    base = {"name": "a", "classes": ["x"], "alignment": {}, "input": {"size": 48, "color": "gray", "mean": [0.5],
                                                                     "std": [0.25], "landmarks": "none"}}
    other = {**base, "name": "b", "input": {**base["input"], "size": 64}}
    with pytest.raises(ValueError, match="different input"):
        check_compatible([Member(tmp_path / "a.onnx", base), Member(tmp_path / "b.onnx", other)])


def test_half_storage_halves_a_shipped_model_and_keeps_its_answers(tmp_path):
    from app.inference.registry import default_models_dir
    from training.onnx_storage import half_storage

    src = default_models_dir() / "poster-small.onnx"
    out = tmp_path / "half.onnx"
    onnx.save(half_storage(onnx.load(str(src))), str(out))
    assert out.stat().st_size < 0.55 * src.stat().st_size
    rng = np.random.default_rng(0)
    image = rng.normal(size=(16, 1, 48, 48)).astype(np.float32)
    landmarks = (0.5 + 0.05 * rng.normal(size=(16, 478, 3))).astype(np.float32)
    np.testing.assert_allclose(_run(out, image, landmarks), _run(src, image, landmarks), atol=2e-3)


def test_an_ensemble_card_names_every_dataset_its_members_saw_with_terms(tmp_path):
    from onnx import TensorProto, helper

    from training.ensemble import Member, build_card, member_datasets

    old = {"dataset": "fer2013_48g.bundle.npz"}  # a card from before cards listed datasets
    mixed = {"dataset": "x", "datasets": [{"name": "fer2013", "terms": "t"}, {"name": "affectnet96", "terms": "t"}]}
    assert member_datasets(old) == ["fer2013"] and member_datasets({"dataset": "fer2013.npz"}) == ["fer2013"]
    base = {"name": "m", "classes": ["a"], "input": {"landmarks": "none"}, "params": 1, "gmacs": 0.1}
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [value],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    for f in ("a.onnx", "b.onnx"):
        onnx.save(graph, str(tmp_path / f))
    members = [Member(tmp_path / "a.onnx", {**base, **old}), Member(tmp_path / "b.onnx", {**base, **mixed})]
    card = build_card("e", members, "none", (), 0.0, "cmd")
    assert card["dataset"] == "fer2013 + affectnet96"
    assert [d["name"] for d in card["datasets"]] == ["fer2013", "affectnet96"]
    assert "non-commercial" in card["datasets"][1]["terms"]


def test_the_search_scores_every_subset_and_view_set_best_first():
    from training.ensemble_search import score

    labels = np.array([0, 1, 0, 1])
    sure = np.eye(2)[[0, 1, 0, 1]]  # always right
    wrong = np.eye(2)[[1, 1, 1, 1]] * 0.6 + 0.2  # right only on the 1s, less confident
    probs = {"a": {"identity": sure, "zoom-in": wrong}, "b": {"identity": wrong, "zoom-in": wrong}}
    rows = score(probs, labels, {"none": ["identity"], "zoom-pair": ["identity", "zoom-in"]})
    assert len(rows) == 3 * 2
    assert rows[0] == {"models": ["a"], "views": "none", "accuracy": 1.0}
    acc = {(tuple(r["models"]), r["views"]): r["accuracy"] for r in rows}
    assert acc[(("b",), "none")] == 0.5 and acc[(("a", "b"), "none")] == 1.0  # sure 1.0 beats 0.8
    assert [r["accuracy"] for r in rows] == sorted((r["accuracy"] for r in rows), reverse=True)


def test_split_half_selection_shows_the_optimism_of_choosing_the_best_of_many():
    """Many combinations of pure chance: the one chosen on half the faces looks good there and is at chance on the
    other half. A combination that is really better stays better on the half it was not chosen on."""
    from training.ensemble_search import selection_optimism

    rng = np.random.default_rng(1)
    luck = rng.random((200, 400)) < 0.5  # 200 coin-flip combinations, 400 faces
    got = selection_optimism(luck, splits=50)
    assert got["accuracy_where_chosen"] > 0.55 and abs(got["accuracy_held_out"] - 0.5) < 0.03
    skill = np.vstack([luck, rng.random((1, 400)) < 0.8])
    got = selection_optimism(skill, splits=50)
    assert got["accuracy_held_out"] > 0.75


def test_with_two_datasets_the_search_ranks_by_their_mean_so_the_larger_does_not_outvote_the_smaller():
    from training.ensemble_search import correct_per_face, ranked, selection_optimism

    labels = np.zeros(100, np.int64)  # 90 faces of one dataset, then 10 of another
    big, small = {"big": slice(0, 90), "small": slice(90, 100)}.values()
    right, wrong = np.eye(2)[0], np.eye(2)[1]
    only_big = np.array([right] * 90 + [wrong] * 10) * 0.2 + 0.4  # 90% of all faces, but 50% as a mean of the two
    half_each = np.array([right] * 63 + [wrong] * 27 + [right] * 10)  # 73% of all faces, 85% as a mean
    probs = {"a": {"identity": only_big}, "b": {"identity": half_each}}
    combos, correct = correct_per_face(probs, labels, {"none": ["identity"]})
    rows = ranked(combos, correct, {"big": big, "small": small})
    by_models = {tuple(r["models"]): r for r in rows}
    assert rows[0]["accuracy"] == by_models[("b",)]["accuracy"] == 0.85  # (a + b answers as the surer b)
    assert by_models[("b",)]["by_dataset"] == {"big": 0.7, "small": 1.0}
    single = by_models[("a",)]
    assert single["accuracy"] == 0.5 and single["by_dataset"] == {"big": 1.0, "small": 0.0}
    assert ranked(combos, correct)[0]["models"] == ["a"]  # one pool of faces: the big dataset decides
    got = selection_optimism(correct, splits=20, datasets={"big": big, "small": small})
    assert 0.7 < got["accuracy_held_out"] <= 1.0


def _recorded(frames):
    from itertools import islice

    from app.capture import open_source
    from app.pipeline import FacePipeline
    from training.flicker import _frames, record

    def run(engine):
        source = open_source(frames)
        pipeline = FacePipeline(engine, max_faces=1)
        try:
            return record(pipeline, islice(_frames(source), 45))
        finally:
            source.close()
            pipeline.close()
    return run


def test_an_ensembles_clip_recording_is_the_mean_of_its_members_recordings(tmp_path):
    """The clip criterion of the search scores a subset without building it: the members' recordings of a real
    clip, averaged face by face, are what the composed ensemble records through the live pipeline."""
    from app.inference.engine import InferenceEngine
    from tests.datapaths import require_data, video
    from training.ensemble import export_ensemble
    from training.ensemble_search import mean_recording

    run = _recorded(require_data(video("woman_phone_night.mp4")))
    members = [Path("models/poster-small.onnx"), Path("models/ferformer-small.onnx")]
    export_ensemble(members, tmp_path / "pair.onnx", "none")
    alone = [run(InferenceEngine(m, provider="cpu")) for m in members]
    together = run(InferenceEngine(tmp_path / "pair.onnx", provider="cpu"))
    mean = mean_recording(alone)
    assert len(mean) == len(together) == 45 and sum(f.found for f in together) >= 40
    for want, got in zip(mean, together):
        assert [f._replace(probabilities=f.probabilities is None) for f in want.faces] == \
            [f._replace(probabilities=f.probabilities is None) for f in got.faces]
        for a, b in zip(want.faces, got.faces):
            if a.probabilities is not None:
                np.testing.assert_allclose(a.probabilities, b.probabilities, atol=3e-3)
    # the members differ
    assert not np.allclose(alone[0][10].faces[0].probabilities, alone[1][10].faces[0].probabilities, atol=1e-2)
    with pytest.raises(ValueError, match="differ in length"):
        mean_recording([alone[0], alone[1][:-1]])
    shifted = [replace(f, faces=[face._replace(track_id=face.track_id + 1) for face in f.faces]) for f in alone[1]]
    with pytest.raises(ValueError, match="different faces"):
        mean_recording([alone[0], shifted])


def test_with_clips_the_search_ranks_by_the_mean_of_the_stills_and_the_clips():
    """A model that is best on the stills but wrong on the clip loses to one a little behind on the stills and
    right on the clip; the stills-only ranking is left as it was."""
    from training.ensemble_search import add_clip_scores
    from training.flicker import RecordedFace, RecordedFrame

    def clip(label: int, n: int = 40) -> list[RecordedFrame]:
        p = np.full(7, 0.02)
        p[label] = 0.88
        return [RecordedFrame(i / 30, [RecordedFace(1, p.copy(), i == 0)]) for i in range(n)]

    clips = {"c.mp4": [(0, 40, "happy")]}
    recordings = {"stills": {"c.mp4": clip(4)}, "video": {"c.mp4": clip(3)}}
    rows = [{"models": ["stills"], "views": "none", "accuracy": 0.70, "by_dataset": {"a": 0.70, "b": 0.70}},
            {"models": ["video"], "views": "none", "accuracy": 0.66, "by_dataset": {"a": 0.66, "b": 0.66}}]
    ranked = add_clip_scores(rows, recordings, clips, CLASSES)
    assert [r["models"] for r in ranked] == [["video"], ["stills"]]
    assert ranked[0]["clip_acc"] == 1.0 and ranked[1]["clip_acc"] == 0.0
    assert ranked[0]["mean_with_clips"] == pytest.approx((0.66 + 0.66 + 1.0) / 3, abs=1e-4)
    assert ranked[1]["by_clip"] == {"c.mp4": 0.0}


def test_above_keeps_only_the_combinations_better_than_the_default_on_every_split():
    from training.ensemble_search import above

    rows = [{"models": ["default"], "accuracy": 0.675, "by_dataset": {"a": 0.68, "b": 0.67}},
            {"models": ["x", "y"], "accuracy": 0.69, "by_dataset": {"a": 0.70, "b": 0.68}},
            {"models": ["z"], "accuracy": 0.70, "by_dataset": {"a": 0.74, "b": 0.66}}]  # better mean, worse on b
    assert [r["models"] for r in above(rows, "default")] == [["x", "y"]]
    with pytest.raises(ValueError, match="not one of the candidates"):
        above(rows, "missing")


def test_clip_recordings_are_cached_per_model_graph(tmp_path):
    from tests.datapaths import require_data, video
    from training.ensemble_search import clip_recordings

    clip = require_data(video("woman_phone_night.mp4"))
    clips = {clip.name: [(0, 60, "happy")]}
    first = clip_recordings(Path("models/poster-small.onnx"), clips, clip.parent, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    again = clip_recordings(Path("models/poster-small.onnx"), clips, clip.parent, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    frames = first[clip.name]
    assert len(frames) == len(again[clip.name]) and sum(f.found for f in frames) > 0.8 * len(frames)
    for a, b in zip(frames, again[clip.name]):
        assert a.timestamp == b.timestamp
        for x, y in zip(a.faces, b.faces):
            p, q = x.probabilities, y.probabilities
            assert (p is None and q is None) or np.array_equal(p, q)
    other = clip_recordings(Path("models/ferformer-small.onnx"), clips, clip.parent, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    assert not np.allclose(other[clip.name][20].faces[0].probabilities, frames[20].faces[0].probabilities, atol=1e-3)


def test_the_search_refuses_two_candidates_of_one_name(tmp_path, capsys):
    """Candidates are named by file stem in the cache and the report: a second apvit-small from another folder would
    overwrite the first one's probabilities, so it is refused with what to do."""
    from training.ensemble_search import main

    with pytest.raises(SystemExit):
        main([str(tmp_path / "a" / "apvit-small.onnx"), str(tmp_path / "b" / "apvit-small.onnx")])
    assert "two candidates are both named apvit-small" in capsys.readouterr().err
