"""Frame sources on real files: videos (whole, truncated, not a video), images, folders, cameras, the mailbox."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.capture import (
    CameraInfo,
    CameraSource,
    FolderSource,
    ImageSource,
    LatestFrameMailbox,
    Source,
    ThreadedCapture,
    VideoFileSource,
    list_cameras,
    make_source,
    open_source,
)
from app.errors import CameraUnavailableError, SourceError
from app.types import Frame
from tests.datapaths import require_data, video

SMILE = "woman_smile_neutral.mp4"  # 596x336, 29.97 fps, 464 frames, index (moov) at the end
NIGHT = "woman_phone_night.mp4"  # 596x336, 25 fps, 115 frames
INTERVIEW = "interview_50s.mp4"  # 360x640 portrait, 30 fps, index (moov) at the start


def first_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


# ---- video files ---------------------------------------------------------------------------------------------------


def phone_clip(tmp_path: Path, degrees: int, n: int = 30) -> tuple[Path, list[np.ndarray]]:
    """The night clip as a phone films it held upright: frames stored turned by ``degrees`` (counter-clockwise)
    against their display, and the container's display matrix saying so. Returns the file and the upright frames."""
    upright = first_frames(require_data(video(NIGHT)), n)
    turn = {90: cv2.ROTATE_90_CLOCKWISE, -90: cv2.ROTATE_90_COUNTERCLOCKWISE}[degrees]
    path = tmp_path / f"phone_{degrees}.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        if not hasattr(stream, "set_display_rotation"):
            pytest.skip("this PyAV cannot write a display rotation (stream.set_display_rotation)")
        stream.height, stream.width = upright[0].shape[1], upright[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(degrees)
        for image in upright:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(cv2.rotate(image, turn), format="bgr24")))
        container.mux(stream.encode())
    return path, upright


@pytest.mark.parametrize("degrees", [90, -90])
def test_a_phone_video_with_a_display_rotation_is_delivered_upright(tmp_path, degrees):
    path, upright = phone_clip(tmp_path, degrees)
    with VideoFileSource(path, loop=True) as src:
        assert src.size == (596, 336)
        frames = [src.read() for _ in range(len(upright) + 5)]  # into the second pass: the reopened file too
    for frame, want in zip(frames, upright + upright[:5]):
        assert frame.image.shape == want.shape
        assert np.abs(frame.image.astype(int) - want).mean() < 6  # H.264 round trip, not a turned picture


# Encodes the night clip's first frames as AV1 in a child process: SVT-AV1 switches the thread that calls it to
# real-time scheduling, which would starve this test process's other threads in later tests.
_AV1_WRITER = """
import sys, av, cv2
src, dst, n, degrees = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cap = cv2.VideoCapture(src)
frames = [cap.read()[1] for _ in range(n)]
if degrees == 90:
    frames = [cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE) for f in frames]
with av.open(dst, "w") as container:
    stream = container.add_stream("libsvtav1", rate=25)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv420p"
    if degrees:
        stream.set_display_rotation(degrees)
    for image in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
    container.mux(stream.encode())
"""


def av1_clip(tmp_path: Path, n: int = 40, degrees: int = 0) -> tuple[Path, list[np.ndarray]]:
    """The night clip's first ``n`` frames as AV1 (what many phones and video sites now write), optionally stored
    turned with a display rotation; skips where PyAV has no AV1 encoder."""
    try:
        av.codec.Codec("libsvtav1", "w")
    except Exception:  # noqa: BLE001 (PyAV raises different errors across versions for a missing codec)
        pytest.skip("this PyAV has no AV1 encoder (libsvtav1) to make the test file")
    source = require_data(video(NIGHT))
    path = tmp_path / f"av1_{degrees}.mp4"
    subprocess.run([sys.executable, "-c", _AV1_WRITER, str(source), str(path), str(n), str(degrees)], check=True,
                   capture_output=True, timeout=120)
    return path, first_frames(source, n)


@pytest.mark.parametrize("degrees", [0, 90])
def test_a_video_opencv_cannot_decode_is_decoded_by_pyav(tmp_path, degrees):
    path, upright = av1_clip(tmp_path, degrees=degrees)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    opencv_decodes = cap.isOpened() and cap.read()[0]
    cap.release()
    with VideoFileSource(path, loop=True) as src:
        assert (src.size, src.frame_count) == ((596, 336), 40) and 24 < src.fps < 26
        frames = [src.read() for _ in range(45)]  # into the second pass: the reopened file too
    for frame, want in zip(frames, upright + upright[:5]):
        assert frame.image.shape == want.shape and frame.image.dtype == np.uint8
        assert np.abs(frame.image.astype(int) - want).mean() < 8  # AV1 round trip, upright
    stamps = [f.timestamp for f in frames[:40]]
    np.testing.assert_allclose(stamps, np.arange(40) / 25, atol=1e-3)
    assert frames[40].timestamp > frames[39].timestamp  # the loop keeps time moving
    if opencv_decodes:  # a later opencv-python with AV1 makes this test a plain decoding test
        pytest.skip("OpenCV decodes AV1 here: the PyAV path was not needed")


@pytest.mark.parametrize("decoder", ["opencv", "pyav"])
def test_seeking_in_a_video_lands_on_the_frame_at_that_time(tmp_path, decoder):
    """A seek goes on from the frame nearest the time asked for, with that frame's own stamp, whichever decoder
    reads the file; the file's position is read back from the stamps, across loops too."""
    path = av1_clip(tmp_path, n=40)[0] if decoder == "pyav" else require_data(video(NIGHT))
    with VideoFileSource(path) as src:
        played = list(src)  # every frame and its stamp, read straight through
    stamps = np.array([f.timestamp for f in played])
    with VideoFileSource(path, loop=True) as src:
        assert src._pyav == (decoder == "pyav")
        duration = src.duration
        assert duration == pytest.approx(len(played) / src.fps, rel=0.02)
        for _ in range(5):
            src.read()
        for asked in (1.0, 0.13, 0.0, stamps[-3]):
            src.seek(asked)
            frame, after = src.read(), src.read()
            index = int(np.argmin(np.abs(stamps - asked)))
            assert frame.timestamp == pytest.approx(stamps[index], abs=2e-3), asked
            assert np.abs(frame.image.astype(int) - played[index].image).mean() < 2, asked
            assert after.timestamp == pytest.approx(stamps[index + 1], abs=2e-3)
        looped = [src.read() for _ in range(3)][-1]  # past the end: the second pass
        assert looped.timestamp > stamps[-1] and src.position_of(looped.timestamp) < 0.1


def test_video_file_delivers_every_frame_with_media_time():
    path = require_data(video(NIGHT))
    with VideoFileSource(path) as src:
        assert (src.size, src.frame_count, src.is_live, src.name) == ((596, 336), 115, False, NIGHT)
        assert 24 < src.fps < 26
        frames = list(src)
        assert src.read() is None  # stays ended
    assert len(frames) == 115
    assert [f.index for f in frames] == list(range(115))
    assert all(f.image.shape == (336, 596, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[0].source == NIGHT
    stamps = np.array([f.timestamp for f in frames])
    assert stamps[0] == 0.0 and np.all(np.diff(stamps) > 0)
    np.testing.assert_allclose(stamps[10], 10 / 25, atol=1e-3)


def test_video_timestamps_follow_ntsc_rate():
    path = require_data(video(SMILE))
    with open_source(path) as src:
        frames = [src.read() for _ in range(31)]
    np.testing.assert_allclose(frames[30].timestamp, 30 * 1001 / 30000, atol=1e-3)


def test_looping_video_restarts_with_increasing_time():
    path = require_data(video(NIGHT))
    with VideoFileSource(path, loop=True) as src:
        frames = [src.read() for _ in range(130)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(130))
    assert np.all(np.diff([f.timestamp for f in frames]) > 0)
    np.testing.assert_array_equal(frames[115].image, frames[0].image)  # second pass starts at the first frame


def truncated_copy(path: Path, tmp_path: Path) -> Path:
    data = path.read_bytes()
    out = tmp_path / f"truncated_{path.name}"
    out.write_bytes(data[: int(len(data) * 0.4)])
    return out


def test_truncated_video_with_index_first_ends_cleanly(tmp_path):
    cut = truncated_copy(require_data(video(INTERVIEW)), tmp_path)
    with open_source(cut) as src:
        expected = src.frame_count
        frames = sum(1 for _ in src)
        assert src.read() is None
    assert 0 < frames < 1500
    assert expected is not None


def test_truncated_video_with_index_last_is_a_clear_error(tmp_path):
    cut = truncated_copy(require_data(video(SMILE)), tmp_path)
    with pytest.raises(SourceError, match=cut.name) as info:
        open_source(cut)
    assert "damaged" in str(info.value)


def test_not_a_video_names_the_file(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    with pytest.raises(SourceError, match="notes.mp4"):
        VideoFileSource(fake).open()


def test_missing_video_and_folder_given_as_video(tmp_path):
    with pytest.raises(SourceError, match="not found.*missing.mp4"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(SourceError, match="Image folder not found: .*missing_photos"):
        open_source(f"{tmp_path / 'missing_photos'}/")  # no extension: the folder someone meant
    with pytest.raises(SourceError, match="is a folder"):
        VideoFileSource(tmp_path).open()


def test_video_without_frames_is_an_error(tmp_path):
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as container:  # a valid MP4 header with a video stream and no frame
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    assert empty.stat().st_size > 0
    with pytest.raises(SourceError, match="empty.mp4.*no video frames"):
        open_source(empty)


# ---- still images and folders --------------------------------------------------------------------------------------


def write_png(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def test_image_source_delivers_one_frame(tmp_path):
    image = first_frames(require_data(video(SMILE)), 1)[0]
    path = write_png(tmp_path / "still.png", image)
    src = open_source(path)
    assert isinstance(src, ImageSource) and src.frame_count == 1 and src.size == (596, 336)
    frame = src.read()
    assert frame.index == 0 and frame.timestamp == 0.0 and frame.source == "still.png"
    np.testing.assert_array_equal(frame.image, image)  # PNG is lossless
    assert src.read() is None
    src.close()
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(SourceError, match="broken.jpg"):
        open_source(bad)


def test_folder_source_natural_order_and_skips_unreadable(tmp_path, caplog):
    images = first_frames(require_data(video(NIGHT)), 3)
    for name, image in zip(["frame10.png", "frame2.png", "frame1.png"], images):
        write_png(tmp_path / name, image)
    (tmp_path / "frame3.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    with caplog.at_level(logging.WARNING), open_source(tmp_path, fps=10) as src:
        assert isinstance(src, FolderSource)
        assert src.frame_count == 4  # image files found; the broken one is skipped while reading
        frames, paths = [], []
        while (frame := src.read()) is not None:
            frames.append(frame)
            paths.append(src.last_path.name)
    assert paths == ["frame1.png", "frame2.png", "frame10.png"]
    np.testing.assert_array_equal(frames[2].image, images[0])
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp for f in frames] == [0.0, 0.1, 0.2]
    assert "frame3.png" in caplog.text


def test_a_folder_goes_back_to_a_photo_already_shown_with_its_own_index(tmp_path):
    """What the app's step back needs: seeking to a delivered photo's stamp delivers it again, skipping the unreadable
    file before it as the first pass did; a photo not yet shown cannot be sought."""
    images = first_frames(require_data(video(NIGHT)), 3)
    for name, image in zip(["a1.png", "a3.png", "a4.png"], images):
        write_png(tmp_path / name, image)
    (tmp_path / "a2.png").write_bytes(b"not a png")
    with open_source(tmp_path, fps=2) as src:
        first = [src.read() for _ in range(3)]
        assert [f.image_name for f in first] == ["a1.png", "a3.png", "a4.png"]
        src.seek(first[1].timestamp)  # 0.5 s: the second photo shown
        again = src.read()
        assert (again.image_name, again.index, again.timestamp) == ("a3.png", 1, 0.5)
        np.testing.assert_array_equal(again.image, first[1].image)
        assert src.read().image_name == "a4.png" and src.read() is None
        src.seek(0.0)
        assert src.read().image_name == "a1.png"
        with pytest.raises(SourceError, match="photo 3 has not been shown yet"):
            src.seek(1.0)


def test_a_looping_slideshow_starts_again_after_its_last_photo(tmp_path):
    """The app's Loop on a folder of photos: the first photo follows the last (the unreadable one skipped again),
    with index and stamp still increasing; without it the folder ends, and going back across the seam works."""
    images = first_frames(require_data(video(NIGHT)), 2)
    for name, image in zip(["a1.png", "a3.png"], images):
        write_png(tmp_path / name, image)
    (tmp_path / "a2.png").write_bytes(b"not a png")
    with FolderSource(tmp_path, loop=True) as src:
        frames = [src.read() for _ in range(5)]
        assert [f.image_name for f in frames] == ["a1.png", "a3.png", "a1.png", "a3.png", "a1.png"]
        assert [f.index for f in frames] == [0, 1, 2, 3, 4] and frames[4].timestamp == 4.0
        src.seek(frames[1].timestamp)  # back across the seam
        assert src.read().image_name == "a3.png" and src.read().image_name == "a1.png"
    with FolderSource(tmp_path) as src:
        assert [src.read().image_name for _ in range(2)] == ["a1.png", "a3.png"] and src.read() is None


def test_folder_without_readable_images_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="no image files"):
        FolderSource(tmp_path).open()
    (tmp_path / "a.png").write_bytes(b"broken")
    with pytest.raises(SourceError, match="no readable image"):
        FolderSource(tmp_path).open()


def test_a_folder_of_videos_says_how_to_open_or_analyse_them(tmp_path):
    for name in ("clip10.mp4", "clip2.webm", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(SourceError, match=r"holds 2 video files \(clip2.webm, clip10.mp4\) but no photos.*"
                                          r"play them in turn as a folder of videos.*`ferlive analyze "):
        FolderSource(tmp_path).open()


# ---- cameras and dispatch ------------------------------------------------------------------------------------------


def test_missing_camera_is_unavailable():
    with pytest.raises(CameraUnavailableError, match=r"Camera 7 .*(missing|in use)"):
        CameraSource(7, width=640, height=480).open()
    with pytest.raises(CameraUnavailableError):
        ThreadedCapture(make_source(7)).start()  # open errors reach the caller, not the thread


def test_list_cameras_returns_a_list():
    cameras = list_cameras()
    assert isinstance(cameras, list)
    assert all(isinstance(c, CameraInfo) and isinstance(c.name, str) for c in cameras)


def test_make_source_picks_the_class(tmp_path):
    assert isinstance(make_source(0), CameraSource)
    assert isinstance(make_source("2"), CameraSource) and make_source("2").index == 2
    assert isinstance(make_source(tmp_path), FolderSource)
    assert isinstance(make_source(tmp_path / "x.JPG"), ImageSource)
    assert isinstance(make_source(tmp_path / "x.mkv", loop=True), VideoFileSource)
    assert isinstance(make_source("clip.mp4"), Source)


# ---- mailbox and threaded capture ----------------------------------------------------------------------------------


def test_mailbox_newest_wins_and_counts_drops():
    box: LatestFrameMailbox[int] = LatestFrameMailbox()
    assert box.get(timeout=0.01) is None  # nothing yet: times out
    for i in range(5):
        box.put(i)
    assert box.get(timeout=0.01) == 4
    assert box.dropped == 4
    assert box.get(timeout=0.01) is None  # an item is delivered once
    box.put(5)
    box.close()
    assert box.get(timeout=0.01) == 5  # what was put before close() is not lost
    assert box.get() is None  # closed: returns at once, never blocks


def test_mailbox_close_wakes_a_waiting_consumer():
    box: LatestFrameMailbox[int] = LatestFrameMailbox()
    got = []
    waiter = threading.Thread(target=lambda: got.append(box.get(timeout=10)))
    waiter.start()
    time.sleep(0.05)
    started = time.monotonic()
    box.close()
    waiter.join(2)
    assert not waiter.is_alive() and got == [None]
    assert time.monotonic() - started < 1


def test_threaded_capture_slow_consumer_gets_newest_frames():
    path = require_data(video(NIGHT))
    received = []
    with ThreadedCapture(VideoFileSource(path), pace=False) as capture:
        while (frame := capture.get(timeout=5)) is not None:
            received.append(frame.index)
            time.sleep(0.01)  # slower than decoding
        assert capture.finished and capture.error is None
    assert received == sorted(received) and received[-1] == 114
    assert capture.frames_read == 115
    assert len(received) + capture.dropped == 115
    assert capture.dropped > 0


def test_threaded_capture_paces_files_at_media_rate():
    path = require_data(video(NIGHT))
    capture = ThreadedCapture(VideoFileSource(path)).start()  # a file is paced by default
    try:
        time.sleep(0.8)
        assert 15 < capture.fps < 35  # ~25 fps, not the hundreds a decoder manages
        assert capture.frames_read < 40
    finally:
        capture.stop()
    assert capture.finished


class _FailingSource(VideoFileSource):
    """A real video that then fails like an unplugged camera: read() raises after a few frames."""

    def read(self) -> Frame | None:
        frame = super().read()
        if frame is not None and frame.index == 5:
            raise CameraUnavailableError("Camera 0 stopped delivering frames")
        return frame


def test_threaded_capture_stores_a_read_error():
    path = require_data(video(NIGHT))
    with ThreadedCapture(_FailingSource(path), pace=False) as capture:
        while capture.get(timeout=5) is not None:
            pass
        assert capture.finished
        assert isinstance(capture.error, CameraUnavailableError)


# ---- a camera that disappears or is busy (through CameraSource's capture_factory) ----------------------------------


def test_unplugged_camera_raises_releases_and_reconnects():
    from tests.camera_standin import CameraBench

    bench = CameraBench(first_frames(require_data(video(NIGHT)), 5))
    camera = CameraSource(0, capture_factory=bench.factory)
    with ThreadedCapture(camera) as capture:
        assert capture.get(timeout=5) is not None
        bench.state = "unplugged"
        while capture.get(timeout=5) is not None:
            pass
        assert capture.finished and isinstance(capture.error, CameraUnavailableError)
        assert "unplugged" in str(capture.error)
    assert bench.releases == bench.opens == 1  # released at once, so another application could have it
    assert camera.read() is None  # closed: a lost camera is not reopened behind the person's back
    with pytest.raises(CameraUnavailableError, match="in use by another application"):
        camera.open()  # still unplugged
    bench.state = "busy"
    with pytest.raises(CameraUnavailableError, match="in use by another application"):
        camera.open()
    bench.state = "ok"
    camera.open()  # plugged back in: the same source works again
    frame = camera.read()
    assert frame is not None and frame.index == 0 and frame.image.shape == (336, 596, 3)
    camera.close()
    assert bench.releases == bench.opens - 2  # the two failed opens held nothing


@pytest.mark.parametrize("ext", [".tif", ".tiff", ".pgm", ".ppm", ".JPG", ".jfif"])
def test_face_dataset_formats_open_as_photos_and_folder_members(tmp_path, ext):
    """JAFFE ships TIFF, older sets PGM, cameras upper-case .JPG; each opens alone and in a folder."""
    image = first_frames(require_data(video(SMILE)), 1)[0]
    if ext == ".pgm":
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)  # PGM holds grey
    ok, data = cv2.imencode(".jpg" if ext.lower() in (".jpg", ".jfif") else ext.lower(),
                            image[:, :, 0] if ext == ".pgm" else image)
    assert ok
    path = tmp_path / f"face{ext}"
    path.write_bytes(data.tobytes())
    with open_source(path) as src:
        assert isinstance(src, ImageSource)
        frame = src.read()
    assert frame.image.shape == image.shape and frame.image_name == path.name
    with open_source(tmp_path) as folder:
        assert folder.frame_count == 1 and folder.read().image_name == path.name


@pytest.mark.parametrize("ext", [".heic", ".HEIF", ".avif"])
def test_phone_photo_formats_open_upright_alone_and_in_a_folder(tmp_path, ext):
    """iPhones save HEIC, newer Android phones AVIF; a portrait shot is stored sideways with its turn in the
    metadata, and arrives upright as a JPEG's EXIF turn does."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    image = first_frames(require_data(video(SMILE)), 1)[0]
    turn = Image.Exif()
    turn[0x0112] = 6  # EXIF orientation 6: shown turned 90 degrees clockwise
    path = tmp_path / f"portrait{ext}"
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(
        path, format="AVIF" if ext == ".avif" else "HEIF", exif=turn.tobytes(), quality=90)
    upright = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    with open_source(path) as src:
        assert isinstance(src, ImageSource)
        frame = src.read()
    assert frame.image.shape == upright.shape and frame.image.dtype == np.uint8
    assert np.abs(frame.image.astype(int) - upright).mean() < 3  # the picture itself, not only its shape
    with open_source(tmp_path) as folder:
        assert folder.frame_count == 1 and folder.read().image_name == path.name

    damaged = tmp_path / f"damaged{ext}"
    damaged.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(SourceError, match=r"damaged.*not a readable image, or it is damaged"):
        open_source(damaged).open()


def test_a_dataset_laid_out_in_class_folders_is_read_through_its_subfolders(tmp_path):
    images = first_frames(require_data(video(NIGHT)), 4)
    for name, image in zip(["sad/10.png", "happy/2.png", "happy/10.png", "happy/1.png"], images):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_png(tmp_path / name, image)
    with open_source(tmp_path) as src:
        names = [f.image_name for f in iter(src.read, None)]
    assert names == ["happy/1.png", "happy/2.png", "happy/10.png", "sad/10.png"]
    write_png(tmp_path / "top.png", images[0])  # a folder with images of its own keeps to them
    with open_source(tmp_path) as src:
        assert [f.image_name for f in iter(src.read, None)] == ["top.png"]
