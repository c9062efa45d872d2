"""The threads behind the window: capture and inference (+ rendering, feeding a recording).

Newest frame wins at every hand-off. The capture thread (``ThreadedCapture``) overwrites a one-slot mailbox; the
stream worker takes the newest frame, runs the pipeline, renders, feeds an active recording, and overwrites a
second one-slot mailbox for the GUI. It emits ``frameReady`` only when the GUI has taken the previous frame, so
the Qt event queue never holds more than one pending frame notification and a slow GUI skips frames instead of
lagging. Commands from the GUI (new source, new engine, options) are stored under a lock and applied by the
worker between frames. Every failure becomes a one-sentence signal; nothing raises into Qt.

Longer than most modules on purpose: the worker's loop, the commands it applies between frames and the lock that
guards them are one piece of state; split across files, the locking could no longer be read in one place.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QThread, Signal

from app.capture import FolderSource, ImageSource, LatestFrameMailbox, Source, ThreadedCapture, make_source
from app.capture.playlist import VideoPlaylistSource
from app.capture.rotate import rotated
from app.capture.video import VideoFileSource
from app.errors import FerliveError, InferenceCancelled, OutputError
from app.face.orientation import OrientationHint
from app.inference.engine import InferenceEngine
from app.neutral import NeutralCalibration
from app.pipeline import PHOTO_MAX_FACES, FacePipeline
from app.publish import PublisherSet
from app.render import RenderOptions, render
from app.smoothing import DEFAULT_STABILITY, Stability, stability_preset
from app.types import Frame, FrameResult
from app.ui.calibrations import Calibrations
from app.ui.pending_marks import PendingMarks
from app.ui.playback import PausablePlayback
from app.ui.rates import RateMeter
from app.ui.recording import Recording
from app.ui.shown_frames import Same, ShownFrames

log = logging.getLogger(__name__)


def describe_error(exc: BaseException, doing: str) -> str:
    """The sentence for the banner: our own errors already are one; anything else gets context."""
    if isinstance(exc, FerliveError):
        return str(exc)
    return f"Unexpected error while {doing}: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class SourceInfo:
    spec: str  # what was asked for: a camera index as text, or a path
    name: str
    fps: float | None
    size: tuple[int, int] | None
    is_live: bool
    duration: float | None = None  # seconds, for a video file playback can seek in; else None
    stills: bool = False  # photos (never rotated or mirrored)
    steppable: bool = False  # paused, frame by frame (a video file, a folder of videos or of photos)


@dataclass(frozen=True)
class ProcessedFrame:
    """What the GUI shows for one frame; immutable so it can cross threads."""

    result: FrameResult
    annotated: np.ndarray
    capture_fps: float
    inference_fps: float
    dropped: int
    provider: str
    position: float | None = None  # seconds into the video file playing (None: a camera, photos)


LOOPING_SOURCES = (VideoFileSource, VideoPlaylistSource, FolderSource)  # what Loop applies to


class StreamWorker(QThread):
    """Owns the source and the pipeline; all public methods are safe to call from the GUI thread."""

    frameReady = Signal()  # noqa: N815 (Qt naming) - take it with take_latest()
    sourceOpened = Signal(object)  # noqa: N815 - SourceInfo
    sourceFailed = Signal(str)  # noqa: N815
    sourceEnded = Signal(str)  # noqa: N815 - source name
    failed = Signal(str)
    recordingFailed = Signal(str)  # noqa: N815
    sourceLost = Signal(str)  # noqa: N815 - a camera was unplugged or is busy; reconnect() tries it again
    orientationHint = Signal(int)  # noqa: N815 - degrees clockwise more that would stand the faces upright
    neutralCalibrated = Signal(str)  # noqa: N815 - what the resting face read as before (app.neutral)
    neutralFailed = Signal(str)  # noqa: N815 - why the seconds given could not calibrate
    neutralCleared = Signal(str)  # noqa: N815 - why a calibration was dropped ("" when asked to)
    # an event mark set: its text, seconds (into the file, else the frame's stamp), frame index, the frame's stamp
    marked = Signal(str, float, int, float)

    def __init__(self, options: RenderOptions | None = None, max_faces: int = 4,
                 stability: str = DEFAULT_STABILITY) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._pending_source: tuple[str, dict] | None = None
        self._pending_seek: float | None = None
        self._show_next = False  # the frame a seek made while paused is analysed and shown
        self._pending_step = 0  # +1 / -1: a frame step asked for while paused
        self._unshown: Frame | None = None  # read just as playback paused, never shown: the next step shows it
        self._last_position: float | None = None  # seconds into the file of the frame shown last
        self._last_timestamp: float | None = None  # and its stamp
        self._shown = ShownFrames()  # a video file's recent frames as shown, for a step back (app.ui.shown_frames)
        self._rotated_by = 0  # the rotation the frame being analysed was given
        self._restore: tuple | None = None  # (context, pipeline state) of the last frame shown again, see _analyse
        self._revisiting = False  # since a step back, until a frame not shown before (a loop's start is not one)
        self._click: tuple[int | None] | None = None  # a face clicked to follow, not yet passed on (set_subject)
        self._last_analysed: Frame | None = None  # the frame shown last, as analysed (oriented)
        self._analyse_again = False  # paused and the model changed: analyse the frame shown with the new one
        self._mark_on_screen = False  # a mark asked for: paused or ended, it goes on the frame shown
        self._ended = False  # a file or folder has ended, its last frame (_last_analysed) still on screen
        self._last_source: tuple[str, dict] | None = None  # what reconnect() opens again
        self._close_requested = False
        self._engine: InferenceEngine | None = None
        self._options = options or RenderOptions()
        self._max_faces = max_faces
        self._preset_name, self._talk_discount = stability, True
        self._stability = stability_preset(stability)  # what the pipeline applies, resolved when either changes
        self._paused = False
        self._recording: Recording | None = None
        self._out: LatestFrameMailbox[ProcessedFrame] = LatestFrameMailbox()
        self._notified = False
        self._capture: ThreadedCapture | None = None
        self._playback: PausablePlayback | None = None
        self._pipeline: FacePipeline | None = None
        self._stills = False
        self._rate = RateMeter()
        self._rate_engine: InferenceEngine | None = None  # the inference rate restarts with each model
        self._loop = True
        self._mirror = True
        self._mirror_changed = False
        self._rotation, self._rotation_changed = 0, False
        self._mirrored_now = False  # the frame being analysed was mirrored (a camera shown as a mirror)
        self._last_error = ""
        self._playing = ""  # the video of a folder of videos last announced
        self._orientation = OrientationHint()  # notices a camera mounted sideways or upside down
        # people's resting faces made to read neutral (app.neutral), one each, and the one being gathered
        self.calibrations = Calibrations(self.neutralCalibrated.emit, self.neutralFailed.emit,
                                         self.neutralCleared.emit)
        self._marks = PendingMarks()  # event marks asked for, set on the next frame analysed (mark())
        self.frames_processed = 0
        self.publishers = PublisherSet()  # live outputs (the Outputs panel adds and removes them)

    # ---- commands (GUI thread) ----------------------------------------------------------------------------
    def open_source(self, spec: str | int, **camera_options: float | int) -> None:
        with self._lock:
            self._pending_source = (str(spec), camera_options)
        self._wake.set()

    def reconnect(self) -> None:
        """Open the last source again with the same options (a camera plugged back in, or freed by another app)."""
        with self._lock:
            self._pending_source = self._last_source
        self._wake.set()

    def seek(self, seconds: float) -> None:
        """Go on from ``seconds`` into the video file playing (ignored for other sources). Faces start afresh; while
        paused, the frame sought is analysed and shown and playback stays paused."""
        with self._lock:
            self._pending_seek = float(seconds)
        self._wake.set()

    def set_subject(self, track_id: int | None) -> None:
        """The face the single-subject outputs (LSL, VRChat) and a calibration about to start follow: a face the
        person clicked (None: the largest). The pipeline then follows that person, by their look once their track
        ends (``FacePipeline.subject``); each frame's result carries their track (``FrameResult.subject``)."""
        with self._lock:
            self._click = (track_id,)

    def step(self, frames: int) -> None:
        """While paused, show the next (``frames`` > 0) or the previous (< 0) frame of the video file playing, or
        photo of the folder (ignored for other sources and while playing). A step forward goes on from the frame
        shown, smoothing and all; a step back is a seek to the frame before it."""
        with self._lock:
            self._pending_step = 1 if frames > 0 else -1 if frames < 0 else 0
        self._wake.set()

    def mark(self, text: str) -> None:
        """Set an event mark (``FrameResult.marks``) on the next frame analysed (paused, or at a file's end: on the
        frame shown): it goes to the recording and to the live outputs with that frame, and ``marked`` says where it
        landed. Any thread (a mark sent in comes on its output's); dropped when the source closes first."""
        self._marks.add(text)
        with self._lock:
            self._mark_on_screen = True
        self._wake.set()

    def close_source(self) -> None:
        with self._lock:
            self._close_requested, self._pending_source = True, None
        self._wake.set()

    def set_engine(self, engine: InferenceEngine | None) -> None:
        """Takes effect at the next frame: a frame in flight on the old engine is cancelled and its result dropped,
        so leaving a slow model never freezes the view; a processed frame of the old model not yet shown is
        dropped too. Paused, or at a file's end, the frame shown is analysed again by the new model, so models can
        be compared on it."""
        with self._lock:
            old, self._engine = self._engine, engine
            still = self._paused or self._ended
            self._analyse_again = still and engine is not None and engine is not old
        if old is not None and old is not engine:
            old.cancel()
            self._out.get(timeout=0)
        self._wake.set()
        self.calibrations.model_changed(engine.card.name if engine is not None else None)

    def calibrate_neutral(self) -> None:
        """Learn the subject's resting face over the next ``CALIBRATION_S`` seconds of video (app.neutral);
        ``neutralCalibrated`` or ``neutralFailed`` tells how it went."""
        self.calibrations.request()
        self._wake.set()

    def clear_neutral(self) -> None:
        self.calibrations.clear()

    @property
    def neutrals(self) -> tuple[NeutralCalibration, ...]:
        """The calibrations in force, one per person, the latest last."""
        return self.calibrations.people

    def set_loop(self, loop: bool) -> None:
        """Video files and folders of photos restart at their end (demos); applies to the one playing now and to
        later ones."""
        with self._lock:
            self._loop = loop
            playback = self._playback
        if playback is not None and isinstance(playback.inner, LOOPING_SOURCES):
            playback.inner.loop = loop

    def set_mirror(self, mirror: bool) -> None:
        """Cameras are flipped left to right before anything sees the frame, so boxes, recordings, results and
        outputs all follow the picture shown; applies from the next frame (video files and photos never flip)."""
        with self._lock:
            self._mirror_changed = self._mirror_changed or bool(mirror) != self._mirror
            self._mirror = bool(mirror)

    def set_rotation(self, degrees: int) -> None:
        """Cameras and video files are turned ``degrees`` clockwise before anything sees the frame (a camera mounted
        sideways or upside down); photos turn by themselves. Applies from the next frame."""
        with self._lock:
            self._rotation_changed = self._rotation_changed or int(degrees) != self._rotation
            self._rotation = int(degrees)

    def set_options(self, options: RenderOptions) -> None:
        with self._lock:
            self._options = replace(options)

    def set_max_faces(self, n: int) -> None:
        with self._lock:
            self._max_faces = int(n)

    def set_stability(self, preset: str) -> None:
        """A preset name from ``app.smoothing.PRESETS``; takes effect before the next frame."""
        with self._lock:
            self._preset_name = str(preset)
            self._stability = self._resolved_stability()

    def set_talk_discount(self, on: bool) -> None:
        """Whether a talking face's parted-lip frames count less (the preset's ``talk_weight``) or every frame
        alike; takes effect before the next frame."""
        with self._lock:
            self._talk_discount = bool(on)
            self._stability = self._resolved_stability()

    def _resolved_stability(self) -> Stability:
        """The chosen preset, with every frame counted alike when the talking discount is off (under the lock)."""
        preset = stability_preset(self._preset_name)
        return preset if self._talk_discount else replace(preset, talk_weight=1.0)

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = paused
            if self._playback is not None:
                self._playback.set_paused(paused)

    def set_recording(self, recording: Recording | None) -> None:
        with self._lock:
            self._recording = recording

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._playback is not None:
                self._playback.interrupt()
        self._wake.set()

    def take_latest(self) -> ProcessedFrame | None:
        """The newest processed frame not yet taken (GUI thread), or None."""
        with self._lock:
            self._notified = False
        return self._out.get(timeout=0)

    @property
    def engine(self) -> InferenceEngine | None:
        return self._engine

    @property
    def frames_captured(self) -> int:
        """Frames the capture thread has read from the current source (processed or dropped)."""
        capture = self._capture
        return capture.frames_read if capture is not None else 0

    # ---- worker thread ------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._stopping:
                try:
                    self._step()
                except Exception as exc:  # the thread must outlive any one failure; the person is told
                    log.exception("Stream worker step failed")
                    self.failed.emit(describe_error(exc, "handling the video stream"))
                    time.sleep(0.2)
        finally:
            self._close_capture()
            if self._pipeline is not None:
                self._pipeline.close()
                self._pipeline = None

    def _step(self) -> None:
        """One turn of the loop: apply commands, then take and process the newest frame (if any)."""
        self._apply_commands()
        with self._lock:
            again, self._analyse_again = self._analyse_again, False
            mark, self._mark_on_screen = self._mark_on_screen, False
        if (again or mark) and self._last_analysed is not None and (self._paused or self._ended):
            # already recorded once, as first shown; a mark asked for now is this frame's, the one on screen
            self._process(self._last_analysed, record=False, take_marks=True)
        if self._capture is None:
            self._wake.wait(0.1)
            self._wake.clear()
            return
        frame = self._capture.get(timeout=0.05)
        if frame is None:
            if self._capture.finished:
                self._end_of_source()
            return
        self._announce_next_video(frame)
        if not self._paused or self._show_next:
            self._show_next, self._unshown = False, None
            self._process(self._oriented(frame))
        else:
            self._unshown = frame  # read as playback paused: the next frame after the one shown

    def _oriented(self, frame: Frame) -> Frame:
        """The frame turned (cameras and video files) and then mirrored (cameras) as chosen."""
        with self._lock:
            mirror, mirror_changed, self._mirror_changed = self._mirror, self._mirror_changed, False
            degrees, turn_changed, self._rotation_changed = self._rotation, self._rotation_changed, False
        live = self._capture is not None and self._capture.source.is_live
        if turn_changed:
            self._orientation.reset()
        if ((mirror_changed and live) or (turn_changed and not self._stills)) and self._pipeline is not None:
            # every face jumps to a new place: MediaPipe must find it afresh (and a mirrored face looks mirrored)
            self._pipeline.reset(mirrored=(mirror and live) != self._mirrored_now)
        if not self._stills:
            frame = rotated(frame, degrees)
        self._rotated_by = degrees
        self._mirrored_now = mirror and live
        return replace(frame, image=np.ascontiguousarray(frame.image[:, ::-1])) if mirror and live else frame

    def _apply_commands(self) -> None:
        with self._lock:
            pending, self._pending_source = self._pending_source, None
            close, self._close_requested = self._close_requested, False
            seek, self._pending_seek = self._pending_seek, None
            step, self._pending_step = self._pending_step, 0
        if close:
            self._close_capture()
            self._last_analysed, self._ended = None, False
        if pending is not None:
            self._open(*pending)
        elif seek is not None:
            self._seek(seek)
        elif step:
            self._step_frame(step)

    def _seek(self, seconds: float, stepping_back: bool = False) -> None:
        playback, capture = self._playback, self._capture
        if playback is None or capture is None or not playback.can_seek:
            return
        capture.get(timeout=0)  # a frame from before the seek is not shown after it
        self._unshown, self._restore = None, None  # a frame shown again, then a seek: its state is not wanted
        self._revisiting = stepping_back  # frames shown before are shown again until one was not (_analyse)
        if not stepping_back:  # a jump: what was shown before it is not the way to what comes after
            self._shown.clear()
        playback.seek(seconds)
        if self._pipeline is not None:
            self._pipeline.reset()  # time jumps: smoothing and tracks start again at the new place
        self._show_next = True

    def _step_frame(self, direction: int) -> None:
        playback = self._playback
        if playback is None or not self._paused:
            return
        if direction > 0:
            frame, self._unshown = self._unshown, None
            if frame is not None:
                self._process(self._oriented(frame))
            else:
                playback.step()
                self._show_next = True
            return
        fps = playback.inner.fps
        # a video file's place in the file, or a photo's stamp (its index / fps)
        shown = self._last_position if self._last_position is not None else self._last_timestamp
        if playback.can_seek and shown is not None and fps:
            # a frame period back: seeks land on the nearest frame, which is the one before (tests/test_seek.py)
            self._seek(max(0.0, shown - 1.0 / fps), stepping_back=True)

    def _open(self, spec: str, camera_options: dict) -> None:
        self._close_capture()
        # whatever happens next, the last source's frame is no longer the one to analyse again
        self._last_analysed, self._ended = None, False
        with self._lock:
            self._click = (None,)  # a person picked in the last source is not looked for in this one
        if self._last_source is not None and self._last_source[0] != spec:
            self.calibrations.drop_for("another source")
        self._last_source = (spec, camera_options)
        try:
            source: Source = make_source(spec, **(camera_options if spec.isdigit() else {}))
            stills = isinstance(source, (ImageSource, FolderSource))
            playback = None
            # a folder of photos too: a pause then holds the slideshow instead of letting it run on unseen
            if not source.is_live and not isinstance(source, ImageSource):
                playback = source = PausablePlayback(source)
                playback.set_paused(self._paused)
            capture = ThreadedCapture(source, pace=False if playback else None).start()
        except Exception as exc:
            log.warning("Opening %s failed: %s", spec, exc)
            lost = self.sourceLost if spec.isdigit() else self.sourceFailed  # a busy camera may be free later
            lost.emit(describe_error(exc, f"opening {spec}"))
            return
        with self._lock:
            self._capture, self._playback = capture, playback
            if playback is not None and isinstance(playback.inner, LOOPING_SOURCES):
                playback.inner.loop = self._loop  # read only at the file's end, so setting it now is in time
        if self._pipeline is not None and stills != self._stills:
            self._pipeline.close()
            self._pipeline = None
        elif self._pipeline is not None:
            self._pipeline.reset()
        self._stills = stills
        self._rate.reset()
        self._last_error = ""
        self._playing, self._show_next, self._unshown = "", False, None
        self._last_position = self._last_timestamp = None
        self._shown.clear()
        self._restore, self._revisiting = None, False
        self._orientation.reset()
        duration = playback.inner.duration if playback is not None and playback.seekable else None
        self.sourceOpened.emit(SourceInfo(spec, source.name, source.fps, source.size, source.is_live, duration,
                                          stills, steppable=playback is not None))

    def _announce_next_video(self, frame: Frame) -> None:
        """A folder of videos moved on to its next video: the window names it (and forgets the last one's faces)."""
        playback = self._playback
        if playback is None or not isinstance(playback.inner, VideoPlaylistSource) or frame.source == self._playing:
            return
        if self._playing:
            self.calibrations.drop_for("another video")
        self._playing = frame.source
        self._orientation.reset()  # another video may have been filmed another way up
        number, count = playback.inner.position
        name = f"{playback.inner.name}/{frame.source} ({number} of {count})"
        size = (frame.image.shape[1], frame.image.shape[0])
        duration = playback.inner.duration if playback.seekable else None
        self.sourceOpened.emit(SourceInfo(self._last_source[0], name, playback.inner.fps, size, False, duration,
                                          steppable=True))

    def _close_capture(self) -> None:
        with self._lock:
            capture, self._capture, self._playback = self._capture, None, None
        self._marks.clear()  # asked for with no frame to come: they would land on another source's frame
        if capture is not None:
            if isinstance(capture.source, PausablePlayback):
                capture.source.interrupt()
            capture.stop()

    def _end_of_source(self) -> None:
        capture = self._capture
        assert capture is not None
        name = capture.source.name
        error = capture.error
        self._close_capture()
        if not capture.source.is_live:
            self._ended = True
        if error is not None and capture.source.is_live:  # a camera does not end by itself: it was lost
            self.sourceLost.emit(describe_error(error, f"reading {name}"))
            return
        if error is not None:
            self.failed.emit(describe_error(error, f"reading {name}"))
        self.sourceEnded.emit(name)

    def _sync_pipeline(self, engine: InferenceEngine | None, max_faces: int, stability: Stability) -> None:
        if engine is None:
            return
        if self._stills:  # a photo is analysed once: the Max faces box does not cut a group photo short
            max_faces = max(max_faces, PHOTO_MAX_FACES)
        if self._pipeline is None:
            self._pipeline = FacePipeline(engine, max_faces=max_faces, stability=stability,
                                          video_mode=not self._stills)
            return
        if self._pipeline.engine is not engine:
            self._pipeline.set_engine(engine)
        if self._pipeline.mesh.max_faces != max_faces:
            self._pipeline.set_max_faces(max_faces)
        if self._pipeline.smoother.stability is not stability:
            self._pipeline.set_stability(stability)
        # a calibration belongs to one person in a video; photos are unrelated people
        self._pipeline.neutrals = () if self._stills else self.calibrations.people

    def _position(self, frame: Frame) -> float | None:
        """Seconds into the video file for ``frame``, where playback can seek in it."""
        playback = self._playback
        if playback is None or not playback.seekable:
            return None
        return playback.inner.position_of(frame.timestamp)

    def _analyse(self, frame: Frame, engine: InferenceEngine) -> tuple[FrameResult, bool]:
        """The pipeline's result for ``frame``, and whether it is one shown before: after a step back, the frames of
        a video file shown since the last jump, under the same settings, are shown as they were, and the analysis
        carries on from the state the last of them left (``app.ui.shown_frames``); any other frame is analysed and
        kept."""
        pipeline, playback = self._pipeline, self._playback
        assert pipeline is not None
        position = None if self._stills else self._position(frame)
        if position is None or playback is None:
            return pipeline.process(frame), False
        context = (Same(engine), pipeline.smoother.stability, pipeline.mesh.max_faces, Same(pipeline.neutrals),
                   self._rotated_by, frame.source)
        fps = playback.inner.fps
        tolerance = 0.4 / fps if fps else 0.005
        kept = self._shown.recall(position, context, tolerance) if self._revisiting else None
        if kept is not None:
            # restored when a frame is next analysed: a run of frames shown again needs only the last one's state
            # (a restore restarts the face mesh, about 30 ms)
            self._restore = (context, kept.state)
            return replace(kept.result_for(frame), subject=pipeline.subject, subject_away=pipeline.subject_away), True
        restore, self._restore, self._revisiting = self._restore, None, False
        if restore is not None and restore[0] == context:
            pipeline.restore(restore[1])
        result = pipeline.process(frame)
        self._shown.remember(position, context, result, pipeline.snapshot())
        return result, False

    def _process(self, frame: Frame, record: bool = True, take_marks: bool = False) -> None:
        """Analyse, draw and hand over one oriented frame (and write it to the recording, unless ``record`` is
        off: a frame analysed again). The marks asked for go on it when it is new or ``take_marks`` (the frame on
        screen while paused: then only the marks go to the recording)."""
        self._last_analysed = frame
        with self._lock:
            engine, options, recording = self._engine, self._options, self._recording
            max_faces, stability, click = self._max_faces, self._stability, self._click
        try:
            self._sync_pipeline(engine, max_faces, stability)
            if self._pipeline is not None and click is not None:
                # a photo's faces are numbered afresh: a face clicked in one photo is nobody in the next
                self._pipeline.subject = None if self._stills else click[0]
                with self._lock:
                    if self._click is click:
                        self._click = None
            if self._pipeline is not None and engine is not None:
                result, again = self._analyse(frame, engine)
                if record or take_marks:
                    self._marks.attach(result)
                self.publishers.publish(result)  # before drawing: outputs get it first; never blocks
                if not self._stills and not again and (
                        turn := self._orientation.update(self._pipeline.mesh, frame.image, result.faces,
                                                         frame.timestamp)):
                    # seen in the mirrored picture, a quarter turn is the other way round in the camera's own
                    self.orientationHint.emit((360 - turn) % 360 if self._mirrored_now else turn)
            else:
                result = FrameResult(frame=frame)
                if record or take_marks:
                    self._marks.attach(result)
            t0 = time.perf_counter()
            annotated = render(frame.image, result.faces, options, selected=result.subject,
                               caption=self._marks.caption(frame))
            result.timings_ms["render"] = (time.perf_counter() - t0) * 1000.0
        except InferenceCancelled:  # the model was switched mid-frame: its result is no longer wanted
            return
        except Exception as exc:  # one bad frame or a model that fails at run time: report once, keep going
            message = describe_error(exc, "analysing a frame")
            if message != self._last_error:
                log.exception("Processing frame %d failed", frame.index)
                self.failed.emit(message)
                self._last_error = message
            return
        if self._pipeline is not None and engine is not None and not self._stills:
            self.calibrations.feed(result, engine.card, self._pipeline, lambda: self._engine is engine)
        if recording is not None and (record or result.marks):
            try:
                if record:
                    recording.write(result, annotated)
                else:
                    recording.write_marks(result)
            except OutputError as exc:
                self.set_recording(None)
                self.recordingFailed.emit(str(exc))
        capture = self._capture
        self.frames_processed += 1
        if engine is not self._rate_engine:
            self._rate.reset()
            self._rate_engine = engine
        processed = ProcessedFrame(
            result=result,
            annotated=annotated,
            capture_fps=capture.fps if capture is not None else 0.0,
            inference_fps=self._rate.tick(),
            dropped=capture.dropped if capture is not None else 0,
            provider=engine.provider if engine is not None else "",
            position=self._position(frame),
        )
        self._last_position, self._last_timestamp = processed.position, frame.timestamp
        for text in result.marks:
            self.marked.emit(text, processed.position if processed.position is not None else frame.timestamp,
                             frame.index, frame.timestamp)
        with self._lock:
            if self._engine is not engine:  # switched while this frame ran: a stale result is never shown
                return
            self._out.put(processed)  # under the lock, so set_engine's drain cannot miss it
            notify, self._notified = not self._notified, True
        if notify:
            self.frameReady.emit()
