"""A face too dim for a reliable label is marked as such on real frames; a normally lit one is not."""

import csv

import numpy as np
import pytest

from app.analyze import load_engine
from app.capture import open_source
from app.face.lighting import DIM_LEVEL, face_level
from app.pipeline import FacePipeline
from app.record.results import ResultsWriter
from app.types import Frame
from tests.datapaths import require_data, video


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    source = open_source(require_data(video("woman_phone_night.mp4")))  # filmed at night, lit by the phone
    try:
        return [source.read() for _ in range(12)]
    finally:
        source.close()


def dimmed(frame: Frame, gain: float) -> Frame:
    image = np.clip(frame.image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return Frame(image, frame.index, frame.timestamp, frame.source)


@pytest.mark.parametrize("gain, dim", [(1.0, False), (0.35, True)])
def test_a_dim_face_is_marked_and_still_labelled(frames, gain, dim, tmp_path):
    pipeline = FacePipeline(load_engine("poster-small", "cpu"))
    try:
        results = [pipeline.process(dimmed(f, gain)) for f in frames]
    finally:
        pipeline.close()
    faces = [r.faces[0] for r in results if r.faces]
    assert len(faces) >= 10  # MediaPipe still finds the dimmed face
    assert all(f.dim == dim for f in faces)
    assert all(f.label for f in faces)
    table = tmp_path / "results.csv"  # and the results file says so, row by row
    with ResultsWriter(table) as writer:
        for result in results:
            writer.write(result)
    assert {row["dim"] for row in csv.DictReader(table.open())} == {str(int(dim))}


def test_the_level_is_read_from_the_face_not_the_corners():
    crop = np.full((48, 48), 200, np.uint8)
    crop[12:43, 10:38] = 40  # a dark face in a bright frame: a face lit from behind
    assert face_level(crop) == 40 < DIM_LEVEL
    colour = np.repeat(crop[..., None], 3, axis=2)
    assert face_level(colour) == pytest.approx(40, abs=0.01)


def test_on_video_a_dim_face_stays_dim_until_clearly_lit():
    """Hysteresis: a face whose level hovers at the line keeps its note instead of blinking it."""
    from app.face.lighting import LIT_AGAIN_LEVEL, DimFaces

    def crop(level: float) -> np.ndarray:
        return np.full((48, 48), level, np.uint8)

    faces = DimFaces()
    between = (DIM_LEVEL + LIT_AGAIN_LEVEL) / 2
    assert [faces.update(1, crop(v)) for v in (between, DIM_LEVEL - 2, between, LIT_AGAIN_LEVEL + 2, between)] == [
        False, True, True, False, False]
    faces.update(2, crop(DIM_LEVEL - 2))
    faces.forget([2])  # a track that ended starts afresh if its number comes back
    assert faces.update(2, crop(between)) is False


@pytest.mark.parametrize("gain, share", [(1.0, "0.0"), (0.35, "1.0")])
def test_analyze_reports_the_share_of_dim_faces(frames, tmp_path, capsys, gain, share):
    """A recorded session says how much of it was too dim to trust, in the printed and the CSV summary."""
    from app.cli import main
    from app.record.recorder import VideoRecorder

    clip = tmp_path / "session.mp4"
    recorder = VideoRecorder(clip, 25.0)
    for frame in frames:
        recorder.write(dimmed(frame, gain).image)
    recorder.close()
    summary = tmp_path / "summary.csv"
    assert main(["analyze", str(clip), "--summary", str(summary), "--quiet"]) == 0
    (row,) = csv.DictReader(summary.open())
    assert row["dim_share"] == share
    assert ("dim faces: 100% of the faces shown" in capsys.readouterr().out) == (share == "1.0")
