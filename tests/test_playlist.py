"""A folder of videos as one source: real clips played in turn, a damaged one skipped, faces started afresh at each
new video, and a recording of mixed sizes that keeps every video's shape."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from app.capture import FolderSource, VideoPlaylistSource, make_source
from app.errors import SourceError
from app.record.recorder import VideoRecorder, letterbox
from tests.datapaths import cut_clip

NIGHT = "woman_phone_night.mp4"  # 596x336 landscape, 25 fps
INTERVIEW = "interview_50s.mp4"  # 360x640 portrait, 30 fps


@pytest.fixture
def session(tmp_path) -> Path:
    """``s/a_night.mp4`` (12 frames), ``s/b_broken.mp4`` (not a video) and ``s/day2/c_interview.mp4`` (10 frames)."""
    folder = tmp_path / "s"
    (folder / "day2").mkdir(parents=True)
    cut_clip(NIGHT, folder / "a_night.mp4", 12)
    (folder / "b_broken.mp4").write_bytes(b"the recorder crashed")
    cut_clip(INTERVIEW, folder / "day2" / "c_interview.mp4", 10)
    return folder


def test_a_folder_of_videos_plays_them_in_turn_and_skips_a_damaged_one(session):
    source = make_source(session)
    assert isinstance(source, VideoPlaylistSource)
    with source:
        frames = list(source)
        assert [p.name for p in source.files] == ["a_night.mp4", "b_broken.mp4", "c_interview.mp4"]
        assert [p.name for p, _ in source.skipped] == ["b_broken.mp4"]
    assert [f.source for f in frames] == ["a_night.mp4"] * 12 + ["day2/c_interview.mp4"] * 10
    assert [f.image_name for f in frames] == [f.source for f in frames]  # the results' image column
    assert [f.index for f in frames] == list(range(22))
    assert [f.image.shape[:2] for f in (frames[0], frames[-1])] == [(336, 596), (640, 360)]
    times = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(times) > 0)  # one stream for playback's pacing
    assert times[12] == pytest.approx(times[11] + 1 / 25, abs=1e-3)  # the next video starts a frame period later


def test_a_looping_folder_starts_again_with_time_still_running(session):
    with VideoPlaylistSource(session, loop=True) as source:
        frames = [source.read() for _ in range(30)]
        assert source.position == (1, 3)
    assert [f.source for f in frames[20:24]] == ["day2/c_interview.mp4"] * 2 + ["a_night.mp4"] * 2
    assert np.all(np.diff([f.timestamp for f in frames]) > 0)


def test_a_folder_whose_videos_cannot_play_is_a_clear_error(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mov").write_bytes(b"y")
    with pytest.raises(SourceError, match=r"none of its 2 videos can be played \(Cannot open .*a.mp4"):
        VideoPlaylistSource(tmp_path).open()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="contains no video files"):
        VideoPlaylistSource(tmp_path / "empty").open()
    with pytest.raises(SourceError, match="Video folder not found"):
        VideoPlaylistSource(tmp_path / "gone").open()


def test_a_folder_with_photos_stays_a_folder_of_photos(session, tmp_path):
    (session / "cover.png").write_bytes(b"")
    assert isinstance(make_source(session), FolderSource)
    assert isinstance(make_source(tmp_path / "empty"), FolderSource)


def test_the_next_video_starts_its_faces_afresh(session):
    """At the first frame of the next video only its own face is shown, as a fresh track read as the model reads
    it; the same frames stamped as one video keep the last video's face on screen (held) a moment longer."""
    from app.inference.engine import InferenceEngine
    from app.pipeline import FacePipeline

    model = Path(__file__).resolve().parents[1] / "models" / "poster-small.onnx"
    with VideoPlaylistSource(session) as source:
        frames = list(source)
    first_of_second = next(i for i, f in enumerate(frames) if f.source != frames[0].source)

    def second_video_start(restamp: bool):
        pipeline = FacePipeline(InferenceEngine(model, provider="cpu"))
        try:
            for frame in frames[:first_of_second + 1]:
                result = pipeline.process(replace(frame, source="one video") if restamp else frame)
        finally:
            pipeline.close()
        return result.faces

    faces = second_video_start(restamp=False)
    assert len(faces) == 1 and not faces[0].held and faces[0].track_id == 1
    assert np.allclose(faces[0].probabilities, faces[0].raw_probabilities, atol=1e-6)
    assert any(f.held for f in second_video_start(restamp=True))


def test_a_recording_keeps_each_videos_shape_with_black_bars(tmp_path):
    landscape = np.full((336, 596, 3), 200, np.uint8)
    portrait = np.full((640, 360, 3), 90, np.uint8)
    fitted = letterbox(portrait, 596, 336)
    assert fitted.shape == (336, 596, 3)
    content = np.where(fitted[168, :, 0] > 0)[0]
    assert abs((content[-1] - content[0] + 1) - 189) <= 1  # 360 * 336 / 640 wide, centred
    assert abs(content[0] - (596 - 189) // 2) <= 1
    path = tmp_path / "mixed.mp4"
    with VideoRecorder(path, fps=25) as recorder:
        recorder.write(landscape)
        recorder.write(portrait)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert [d.shape for d in decoded] == [(336, 596, 3)] * 2
    assert decoded[1][168, 20].max() < 20 and abs(int(decoded[1][168, 298, 1]) - 90) < 8
