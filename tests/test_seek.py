"""Going elsewhere in a video file: playback makes the seek on its reading thread, drops a frame held from before
it, and while paused delivers exactly the frame sought; the window's seek bar drives it."""

from __future__ import annotations

import time

import pytest

from app.capture import ThreadedCapture, VideoFileSource
from app.ui.playback import PausablePlayback
from tests.datapaths import require_data, video

SMILE = "woman_smile_neutral.mp4"  # 596x336, 29.97 fps, 15.5 s


@pytest.fixture
def playing():
    playback = PausablePlayback(VideoFileSource(require_data(video(SMILE))))
    capture = ThreadedCapture(playback, pace=False).start()
    yield playback, capture
    playback.interrupt()
    capture.stop()


def next_frame(capture, timeout=5.0):
    frame = capture.get(timeout=timeout)
    assert frame is not None
    return frame


def test_a_seek_while_playing_goes_on_from_there_at_its_pace(playing):
    playback, capture = playing
    assert playback.seekable and playback.inner.duration == pytest.approx(15.48, abs=0.01)
    first = next_frame(capture)
    assert first.timestamp < 0.5
    playback.seek(10.0)
    frame = next_frame(capture)
    while frame.timestamp < 9.9:  # at most a frame or two already on their way
        frame = next_frame(capture)
        assert time.perf_counter() - first.captured_at < 1.0
    assert frame.timestamp == pytest.approx(10.0, abs=0.04)
    sought_at = time.perf_counter()
    later = next_frame(capture)
    while later.timestamp < frame.timestamp + 0.5:
        later = next_frame(capture)
    # paced again from the frame sought (half a second of video takes about that long), not rushed out to catch
    # up with the clock as it ran before the seek (a forward seek) nor held back by it (a backward one)
    assert time.perf_counter() - sought_at > 0.3


def test_a_seek_while_paused_shows_that_one_frame_and_stays_paused(playing):
    playback, capture = playing
    next_frame(capture)
    playback.set_paused(True)
    time.sleep(0.2)
    capture.get(timeout=0)  # whatever came before the pause
    for asked in (5.0, 2.5):
        playback.seek(asked)
        frame = next_frame(capture)
        assert frame.timestamp == pytest.approx(asked, abs=0.04)
        assert capture.get(timeout=0.5) is None  # still paused: nothing after it
    playback.set_paused(False)
    resumed = next_frame(capture)
    assert 2.5 < resumed.timestamp < 3.0


def test_a_step_while_paused_delivers_exactly_the_next_frame_and_stays_paused(playing):
    """Frame stepping: each step gives the frame after the last one read, however long the pause; playing
    ignores it; after steps, playback resumes at its pace from there instead of rushing to catch up."""
    playback, capture = playing
    last = next_frame(capture)
    playback.step()  # playing: not a step
    playback.set_paused(True)
    time.sleep(0.3)
    while (frame := capture.get(timeout=0.2)) is not None:  # what was on its way as the pause came
        last = frame
    for n in range(15):  # half a second of video
        playback.step()
        frame = next_frame(capture)
        assert frame.index == last.index + 1
        if n < 2:
            assert capture.get(timeout=0.3) is None  # one frame a step, still paused
        last = frame
    playback.set_paused(False)
    resumed_at = time.perf_counter()
    frame = next_frame(capture)
    assert frame.index == last.index + 1
    assert time.perf_counter() - resumed_at < 0.25  # not held back by the half second the steps went on
    while frame.timestamp < last.timestamp + 0.5:
        frame = next_frame(capture)
    assert time.perf_counter() - resumed_at > 0.3  # nor rushed: paced from the frame stepped to


def test_in_a_folder_of_videos_the_one_playing_is_sought_in(tmp_path):
    """Its length, a seek and the position read back are the video's own, while stamps run on across the folder."""
    from app.capture import VideoPlaylistSource
    from tests.datapaths import cut_clip

    cut_clip(SMILE, tmp_path / "a.mp4", 10)
    cut_clip(SMILE, tmp_path / "b.mp4", 60)
    with VideoPlaylistSource(tmp_path) as playlist:
        playback = PausablePlayback(playlist)
        assert playback.seekable and playlist.duration == pytest.approx(10 / 29.97, abs=0.01)
        frames = [playlist.read() for _ in range(12)]
        assert frames[-1].source == "b.mp4" and playlist.duration == pytest.approx(60 / 29.97, abs=0.01)
        playlist.seek(1.5)
        frame = playlist.read()
    assert frame.source == "b.mp4" and frame.timestamp > frames[-1].timestamp  # the next video started later
    assert playlist.position_of(frame.timestamp) == pytest.approx(1.5, abs=0.02)
    assert playlist.position_of(frames[-1].timestamp) == pytest.approx(1 / 29.97, abs=0.005)
