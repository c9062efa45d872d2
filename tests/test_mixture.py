"""Training on several datasets at once: soft labels from crowd votes, a validation score per dataset, a card that
names every dataset, and a shipped prior that no longer favours FER2013's classes."""

import json

import numpy as np
import pytest

from tests.datapaths import write_fer_slice

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VOTE_COLUMNS = np.array(["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                         "unknown", "NF"])


def test_vote_targets_follow_the_ferplus_columns(tmp_path):
    from training.data.mixture import ferplus_vote_targets, soft_targets

    votes = np.array([[0, 0, 0, 5, 0, 0, 0, 0, 0, 0],  # five sadness votes
                      [6, 2, 0, 0, 0, 0, 0, 2, 0, 0],  # contempt votes are dropped, not spread
                      [-1] * 10], np.int16)  # unmatched image
    path = tmp_path / "votes.npz"
    np.savez(path, images=np.zeros((3, 48, 48), np.uint8), labels=np.array([4, 6, 0]), classes=np.array(CLASSES),
             ferplus_votes=votes, ferplus_vote_columns=VOTE_COLUMNS)
    dist = ferplus_vote_targets(path, CLASSES)
    assert dist[0, CLASSES.index("sad")] == 1.0
    assert dist[1, CLASSES.index("neutral")] == pytest.approx(0.75) and dist[1, CLASSES.index("happy")] == 0.25
    assert np.isnan(dist[2]).all()
    targets = soft_targets(np.array([4, 6, 0]), dist, len(CLASSES), weight=0.5)
    assert np.allclose(targets.sum(1), 1.0)
    assert targets[0, CLASSES.index("sad")] == 1.0  # label and votes agree
    assert targets[1, CLASSES.index("neutral")] == pytest.approx(0.875)
    assert targets[2, 0] == 1.0  # no votes: the hard label alone


def test_uniform_prior_cancels_balanced_sampling():
    from training.checkpoint import prior_weights

    counts = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965], float)
    sampled = np.sqrt(counts) / np.sqrt(counts).sum()  # what "sqrt" balance draws
    uniform = sampled * np.array(prior_weights(counts.tolist(), "sqrt", "uniform"))
    assert np.allclose(uniform / uniform.sum(), 1 / 7)
    train = sampled * np.array(prior_weights(counts.tolist(), "sqrt", "train"))
    assert np.allclose(train / train.sum(), counts / counts.sum())
    assert prior_weights(counts.tolist(), "full", "uniform") is None


@pytest.mark.slow
def test_two_datasets_train_together_and_are_scored_apart(tmp_path, monkeypatch):
    """Real FER2013 faces with their votes beside a colour image folder: one run, two validation scores."""
    import cv2

    from training.config import load_config
    from training.export import export
    from training.train import train

    monkeypatch.setenv("FERLIVE_CACHE", str(tmp_path / "cache"))
    fer = write_fer_slice(tmp_path / "fer_slice.npz", {"train": 300, "publictest": 80}, seed=1, votes=True)
    src = np.load(fer)
    folder = tmp_path / "colour_faces"
    # the same kind of faces, tinted, as a train/valid image folder
    for j, i in enumerate(range(0, len(src["labels"]), 3)):
        split = "valid" if j % 4 == 0 else "train"
        out = folder / split / CLASSES[int(src["labels"][i])]
        out.mkdir(parents=True, exist_ok=True)
        rgb = cv2.resize(cv2.cvtColor(src["images"][i], cv2.COLOR_GRAY2BGR), (96, 96)) * np.array([0.8, 0.9, 1.0])
        cv2.imwrite(str(out / f"{j}.jpg"), rgb.astype(np.uint8))
    cfg = load_config("poster", "tiny", overrides={"epochs": 1, "max_steps_per_epoch": 3, "warmup_epochs": 0,
                                                   "vote_weight": 0.5})
    state = train(cfg, [str(fer), str(folder)], tmp_path / "run")
    scores = state["history"][-1]["val_acc_by_dataset"]
    assert set(scores) == {"fer_slice/publictest", "colour_faces/valid"}
    assert state["history"][-1]["val_acc"] == pytest.approx(np.mean(list(scores.values())), abs=1e-4)
    card = export(tmp_path / "run" / "best.pt", tmp_path / "m.onnx", prior_target="uniform")
    assert [d["name"] for d in card["datasets"]] == ["fer_slice", "colour_faces"]
    assert "--vote-weight 0.5" in card["train"]["command"] and "colour_faces" in card["train"]["command"]
    assert card["prior_correction"]["target"] == "uniform"
    assert json.loads((tmp_path / "m.json").read_text())["dataset"] == "fer_slice + colour_faces"  # names, not files
