"""The main window: lays out the widgets and wires them to the workers. It never touches OpenCV or ONNX Runtime.

Everything slow (opening a camera, loading a model, analysing, encoding) happens on the workers; the slots here
only forward commands and paint what comes back. Errors arrive as sentences and go to the banner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QMainWindow, QScrollArea, QSplitter, QVBoxLayout, QWidget

from app.capture import IMAGE_EXTENSIONS, VIDEO_FILE_EXTENSIONS, CameraInfo, list_cameras
from app.inference.registry import ModelRegistry
from app.publish import PublisherSet
from app.render import render
from app.types import FrameResult
from app.ui.banner import Banner
from app.ui.calibration_flow import CalibrationFlow
from app.ui.camera_watch import CameraWatch
from app.ui.controls import DisplayControls, ModelControls, RecordControls, SourceControls
from app.ui.face_follow import FaceFollow
from app.ui.marks import MarkFlow
from app.ui.model_switcher import ModelSwitcher
from app.ui.output_settings import OutputSettings
from app.ui.outputs_panel import OutputsPanel
from app.ui.photo_score import PhotoScoreKeeper
from app.ui.playback_bar import PlaybackBar
from app.ui.probability_panel import ProbabilityPanel
from app.ui.qt_compat import guard_signal_refcount
from app.ui.rates import RateMeter
from app.ui.reconnect import ReconnectOffer
from app.ui.record_flow import ENDED, RecordFlow
from app.ui.recording import RecordingController
from app.ui.settings import AppSettings, bind_controls
from app.ui.status import FrameStatusBar
from app.ui.video_view import VideoView
from app.ui.wheel_guard import WheelGuard
from app.ui.workers import ProcessedFrame, SourceInfo, StreamWorker

_PICKABLE = (*VIDEO_FILE_EXTENSIONS, *sorted(IMAGE_EXTENSIONS))
VIDEO_FILTER = "Videos and images (" + " ".join(f"*{ext}" for ext in _PICKABLE) + ");;All files (*)"
NO_CAMERA = ("No camera found (plug one in: ferlive looks every few seconds). Open a video file (Ctrl+O) or drop one "
             "onto the window.")

KEYS_HELP = ("Keys: Space pause or play · comma / period one frame back / on (paused) · R record · S snapshot · "
             "M mark an event · N calibrate neutral · F11 or double-click full screen, Esc back · Ctrl+O open a video "
             "· F1 or ? this help. Click a face (or press F, for each face from the left) to follow it in the panel "
             "and outputs; click beside the faces to let go.")


def fitting_size(available: QSize, wanted: QSize = QSize(1360, 860)) -> QSize:
    """The first window's size: ``wanted``, or less on a smaller screen (a 1280x800 or 1366x768 laptop), so that
    the window and its controls start whole on the screen (a remembered size is restored instead)."""
    return QSize(min(wanted.width(), int(available.width() * 0.96)),
                 min(wanted.height(), int(available.height() * 0.94)))


class MainWindow(QMainWindow):
    snapshotSaved = Signal(str)  # noqa: N815

    def __init__(
        self,
        registry: ModelRegistry | None = None,
        settings: AppSettings | None = None,
        cameras: list[CameraInfo] | None = None,
        find_cameras: Callable[[], list[CameraInfo]] = list_cameras,
    ) -> None:
        guard_signal_refcount()
        super().__init__()
        self.setWindowTitle("ferlive")
        self.registry = registry or ModelRegistry()
        self.settings = settings or AppSettings()
        self.banner, self.view, self.panel = Banner(), VideoView(), ProbabilityPanel()
        self.playback_bar = PlaybackBar()
        self.playback_bar.setVisible(False)  # until a source opens
        self.source_controls, self.model_controls = SourceControls(), ModelControls()
        self.display_controls, self.record_controls = DisplayControls(), RecordControls()
        self.outputs = OutputsPanel(PublisherSet(), OutputSettings(self.settings.qs))
        self.status = FrameStatusBar()
        self.setStatusBar(self.status)
        self._layout()
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        bind_controls(
            self.settings, self.source_controls, self.display_controls, self.model_controls, self.record_controls
        )
        dc = self.display_controls
        self.worker = StreamWorker(dc.render_options(), dc.max_faces.value(), dc.current_stability())
        self.worker.set_talk_discount(dc.talking.isChecked())
        self.worker.publishers = self.outputs.hub
        self.outputs.errorOccurred.connect(self.banner.show_error)
        self.models = ModelSwitcher(
            self.registry, self.model_controls, self.banner, self.settings, self.worker.set_engine, self
        )
        self.source_info: SourceInfo | None = None
        self.last_frame: ProcessedFrame | None = None
        self.recorder = RecordingController(self.worker.set_recording, self)
        self.recording = RecordFlow(
            self.record_controls, self.recorder, self.banner, self.status, self.settings, self._recording_context, self
        )
        self.calibration = CalibrationFlow(self.worker, self.display_controls, self.banner,
                                           lambda: self.source_info is not None and self.source_info.stills, self)
        self.marks = MarkFlow(self.worker, self.status, self.banner, self.panel, self.record_controls.mark_text,
                              lambda: self.recording.available, self)
        self.paused = False
        self._ended = False  # the file or folder playing has ended: Space and the bar's button play it again
        self._presenting, self._was_maximised = False, False
        self._closing = False
        self.follow = FaceFollow(self.worker.set_subject)  # the face clicked (or picked with F), as found again
        self.photo_score = PhotoScoreKeeper()
        self._deferred_source: str | None = None  # opened once the start-up model is ready, so no frame goes unanalysed
        self.display_rate = RateMeter()
        self.worker.set_loop(self.source_controls.loop.isChecked())
        self.worker.set_mirror(self.source_controls.mirror.isChecked())
        self.worker.set_rotation(self.source_controls.rotation)
        self.reconnect = ReconnectOffer(self.worker, self.banner.show_error, self.stop_recording, self.view)
        self.camera_watch = CameraWatch(find_cameras, self)  # started while there is no camera and nothing open
        self._wire()
        self.refresh_cameras(cameras)
        self.models.refresh()
        self.worker.start()
        self.outputs.restore()

    # ---- layout ---------------------------------------------------------------------------------------------
    def _layout(self) -> None:
        """Video with the timeline under it on the left; on the right the controls scroll and the probability bars
        stay in view under them (all seven at 1024x700). Messages float over the video: they never move controls."""
        side = QWidget()
        side_layout = QVBoxLayout(side)
        for group in (self.source_controls, self.model_controls, self.display_controls, self.record_controls,
                      self.outputs):
            side_layout.addWidget(group)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(360)
        self._wheel_guard = WheelGuard(scroll, side)  # the wheel scrolls the controls, never changes one by accident
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.addWidget(scroll, 1)
        column_layout.addWidget(self.panel)
        self._side_column = column  # hidden, with the timeline and status bar, in full-screen presentation
        video = QWidget()
        video_layout = QVBoxLayout(video)
        video_layout.setContentsMargins(0, 0, 0, 0)
        video_layout.setSpacing(2)
        video_layout.addWidget(self.view, 1)
        video_layout.addWidget(self.playback_bar)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(video)
        left.addWidget(self.panel.timeline)
        left.setStretchFactor(0, 4)
        left.setStretchFactor(1, 1)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(left)
        body.addWidget(column)
        body.setStretchFactor(0, 1)
        body.setStretchFactor(1, 0)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(body, 1)
        self.setCentralWidget(central)
        self.banner.attach(self.view)
        self.setAcceptDrops(True)
        self.resize(fitting_size(self.screen().availableGeometry().size()))

    def _wire(self) -> None:
        w, sc, dc, rc = self.worker, self.source_controls, self.display_controls, self.record_controls
        w.frameReady.connect(self._on_frame)
        w.sourceOpened.connect(self._on_source_opened)
        w.sourceFailed.connect(self._on_source_failed)
        w.sourceEnded.connect(self._on_source_ended)
        w.failed.connect(self.banner.show_error)
        w.orientationHint.connect(self._on_orientation_hint)
        self.playback_bar.seekRequested.connect(self.seek)
        self.playback_bar.pauseClicked.connect(self.toggle_pause)
        self.playback_bar.stepRequested.connect(self.step_frame)
        w.recordingFailed.connect(self.recording.failed)
        self.models.activated.connect(lambda _: self.panel.set_classes(tuple(self.models.engine.card.classes)))
        self.models.settled.connect(self._open_deferred_source)
        self.recording.snapshotSaved.connect(self.snapshotSaved)
        sc.loop.toggled.connect(w.set_loop)
        sc.mirror.toggled.connect(w.set_mirror)
        sc.mirror.toggled.connect(lambda _: self._show_source_line())
        sc.rotate_combo.currentIndexChanged.connect(lambda _: self._on_rotation_chosen())
        sc.cameraChosen.connect(lambda index: self.open_source(str(index)))
        sc.openFileRequested.connect(self.choose_file)
        sc.openFolderRequested.connect(self.choose_folder)
        sc.refreshRequested.connect(self.refresh_cameras)
        self.camera_watch.found.connect(self._on_camera_found)
        for combo in (sc.resolution_combo, sc.fps_combo):  # a new mode applies to the running camera at once
            combo.activated.connect(lambda _: self._reopen_camera())
        dc.optionsChanged.connect(lambda: w.set_options(dc.render_options()))
        dc.optionsChanged.connect(self._redraw_still_frame)
        dc.stabilityChanged.connect(w.set_stability)
        dc.talkingChanged.connect(w.set_talk_discount)
        dc.maxFacesChanged.connect(w.set_max_faces)
        rc.recordToggled.connect(self.set_recording)
        rc.snapshotRequested.connect(self.snapshot)
        rc.markRequested.connect(self.marks.mark)
        rc.folderRequested.connect(self.recording.choose_folder)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        for key, slot in (
            (Qt.Key.Key_Space, self.toggle_pause),
            (Qt.Key.Key_Comma, lambda: self.step_frame(-1)),
            (Qt.Key.Key_Period, lambda: self.step_frame(1)),
            (Qt.Key.Key_R, self.toggle_recording),
            (Qt.Key.Key_S, self.snapshot),
            (Qt.Key.Key_M, self.marks.mark),
            (Qt.Key.Key_N, self.calibrate_neutral),
            (Qt.Key.Key_F, self.follow_next_face),
            (Qt.Key.Key_F11, self.toggle_presentation),
            (Qt.Key.Key_Escape, self.leave_presentation),
            (Qt.Key.Key_F1, self.show_keys),
            (Qt.Key.Key_Question, self.show_keys),
            (QKeySequence.StandardKey.Open, self.choose_file),
        ):
            QShortcut(QKeySequence(key), self, activated=slot)

    # ---- start-up -------------------------------------------------------------------------------------------
    def start(self, source: str | int | None = None, model: str | None = None, provider: str | None = None) -> None:
        """Open ``source`` (else the last one, else the first camera) and load ``model`` (else last, else default)."""
        if provider:
            self.model_controls.select_provider(provider)
        self.models.start(model or self.models.remembered())
        spec = source if source is not None else self.settings.source
        if spec is None and self.source_controls.camera_combo.currentData() is not None:
            spec = self.source_controls.camera_combo.currentData()
        if spec is None:
            self.banner.show_message(NO_CAMERA, "warning", scope="source")
            self.view.clear(NO_CAMERA)
            self.camera_watch.start()
        elif self.models.starting:
            self._deferred_source = str(spec)
            self.view.set_placeholder(f"Loading model {self.models.loading_model}…")
        else:
            self.open_source(str(spec))

    def _open_deferred_source(self) -> None:
        spec, self._deferred_source = self._deferred_source, None
        if spec is not None and not self._closing:
            self.open_source(spec)

    def refresh_cameras(self, cameras: list[CameraInfo] | None = None) -> None:
        cameras = list_cameras() if cameras is None else cameras
        self.source_controls.set_cameras(cameras)
        if not cameras:
            self.view.set_placeholder(NO_CAMERA)

    # ---- source ---------------------------------------------------------------------------------------------
    def _on_camera_found(self, cameras: list[CameraInfo]) -> None:
        """A camera appeared while none was open: list it and start it, saying so."""
        if self._closing or self.source_info is not None:
            return
        self.refresh_cameras(cameras)
        self.banner.clear_scope("source")
        self.banner.show_info(f"Camera found: {cameras[0].name}.")  # kept when the camera opens
        self.open_source(str(cameras[0].index))

    def open_source(self, spec: str) -> None:
        self.camera_watch.stop()  # something is being opened: no camera needs waiting for
        self._deferred_source = None
        self.recording.set_source_live(False)
        options = self.source_controls.camera_options() if spec.isdigit() else {}
        self.worker.open_source(spec, **options)
        self.view.set_placeholder(f"Opening {spec}…")

    def _reopen_camera(self) -> None:
        if self.source_info is not None and self.source_info.spec.isdigit():
            self.open_source(self.source_info.spec)

    def _dialog_start(self) -> str:
        """Where file dialogs open: beside the last file or folder opened, else the home folder."""
        if self.settings.source and not self.settings.source.isdigit():
            return str(Path(self.settings.source).parent)
        return str(Path.home())

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video file", self._dialog_start(), VIDEO_FILTER)
        if path:
            self.open_source(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of photos or videos", self._dialog_start())
        if path:
            self.open_source(path)

    def _on_source_opened(self, info: SourceInfo) -> None:
        if self._ended:
            self._ended = False
            self.playback_bar.show_paused(self.paused)
        self.source_info = info
        self.settings.source = info.spec  # remembered only once it really opened
        self.banner.clear_scope("source")  # "has ended", "not found", "no camera" were about another source
        self.banner.clear_scope("orientation")
        self.recording.set_source_live(True)
        self.display_rate.reset()
        self._show_source_line()
        if info.spec.isdigit():
            self.source_controls.select_camera(int(info.spec))
        self.panel.set_stills(info.stills)
        self.panel.clear()
        self.photo_score.start(info.spec, info.stills)  # a labelled set of photos: the status bar keeps its score
        self.status.show_score(None)
        self.follow.select(None)
        self.playback_bar.set_duration(info.duration, info.steppable)  # None (no slider) but for a video file
        self.playback_bar.setVisible(not self._presenting)

    def seek(self, seconds: float) -> None:
        """Go on from ``seconds`` into the video file; the chart and the face panel start again there. A clicked
        person is still followed, found again by their look (faces are numbered afresh after a jump)."""
        self.worker.seek(seconds)
        self.panel.clear()

    def _show_source_line(self) -> None:
        """Name, size and rate of the source playing; "mirrored" while a camera is shown as a mirror."""
        info = self.source_info
        if info is None:
            return
        degrees = 0 if info.stills else self.source_controls.rotation
        width, height = info.size[::-1] if info.size and degrees in (90, 270) else info.size or (0, 0)
        size = f"{width}×{height}" if info.size else ""
        fps = f" @ {info.fps:.2f} fps" if info.fps else ""
        mirrored = " · mirrored" if info.is_live and self.source_controls.mirror.isChecked() else ""
        turned = f" · rotated {degrees}°" if degrees else ""
        self.source_controls.current_label.setText(f"{info.name} {size}{fps}{turned}{mirrored}")

    def _on_rotation_chosen(self) -> None:
        self.worker.set_rotation(self.source_controls.rotation)
        self._show_source_line()
        self.banner.clear_scope("orientation")  # a hint to turn the picture is answered

    def _on_orientation_hint(self, degrees: int) -> None:
        """The faces look turned on several checks in a row: say which Rotate choice would stand them upright."""
        total = (self.source_controls.rotation + degrees) % 360
        looks = "upside down" if degrees == 180 else "turned on their side"
        choice = f"Rotate {total}°" if total else "Upright"
        # a warning stays until the rotation or the source changes: a turned camera does not right itself
        self.banner.show_message(f"The faces look {looks}: if the camera is mounted turned, choose {choice} in "
                                 f"Source (--rotate {total}).", "warning", scope="orientation")

    def show_keys(self) -> None:
        """F1 or ?: the keys and clicks the window answers to, on the banner."""
        self.banner.show_info(KEYS_HELP, scope="keys")

    def calibrate_neutral(self) -> None:
        """N: learn the subject's resting face (``app.ui.calibration_flow``)."""
        self.calibration.calibrate()

    def _on_source_failed(self, message: str) -> None:
        self.banner.show_error(message, scope="source")
        if self.last_frame is None:
            self.view.clear(message)

    def _on_source_ended(self, name: str) -> None:
        self.recording.set_source_live(False, ENDED)
        self.playback_bar.set_duration(None)  # nothing left to seek or step in: the file is closed
        self._ended = True
        self.playback_bar.show_ended()
        self.banner.show_info(f"{name} has ended. Play it again (Space), open another video or pick a camera.",
                              scope="source")

    # ---- frames ---------------------------------------------------------------------------------------------
    def _on_frame(self) -> None:
        frame = self.worker.take_latest()
        if frame is None or self._closing:
            return
        self.last_frame = frame
        self.follow.take(frame.result)
        self.status.show_score(self.photo_score.add(frame.result))
        self.recording.last_image = frame.annotated
        self.view.set_frame(frame.annotated)
        self._show_in_panel(frame.result)
        self.status.show_frame(frame, self.display_rate.tick())
        self.playback_bar.set_position(frame.position, seekable=self.recorder.active is None)

    def _on_view_clicked(self, x: float, y: float) -> None:
        self.follow.click(self.last_frame.result.faces if self.last_frame else [], x, y, self._photo_shown())
        self._redraw_still_frame()  # paused: the panel and the mark follow the click at once

    def follow_next_face(self) -> None:
        """F: follow the next face from the left (the keyboard's click, also in full screen); after the rightmost,
        the largest face again."""
        self.follow.next(self.last_frame.result.faces if self.last_frame else [], self._photo_shown())
        self._redraw_still_frame()

    def _photo_shown(self) -> str | None:
        """The photo on screen in a folder of photos (a face clicked there is picked in it only), else None."""
        stills = self.source_info is not None and self.source_info.stills and self.last_frame is not None
        return self.last_frame.result.frame.image_name if stills else None

    def _redraw_still_frame(self) -> None:
        """Paused, at a file's end, or on a photo, no frame of the same picture follows: the one shown is drawn again
        here with the display options and the face followed as they are now, and the panel follows the face clicked
        on it."""
        frame = self.last_frame
        photo = self.source_info is not None and self.source_info.stills
        if frame is None or not (self.paused or self._ended or photo) or self._closing:
            return
        annotated = render(frame.result.frame.image, frame.result.faces, self.display_controls.render_options(),
                           selected=self.follow.track)
        self.last_frame = replace(frame, annotated=annotated)
        self.recording.last_image = annotated
        self.view.set_frame(annotated)
        self._show_in_panel(frame.result)

    def _show_in_panel(self, result: FrameResult) -> None:
        """The face panel follows the clicked person (and says when they are out of view), else the largest face."""
        shown = self.follow.shown(result.faces)
        self.panel.update_face(shown, result.frame.timestamp, selected=shown is not None and shown.track_id ==
                               self.follow.track, awaited=self.follow.awaited)

    @property
    def selected_track(self) -> int | None:
        """The face the panel follows because it was clicked (None: the largest face)."""
        return self.follow.track

    def _on_view_double_clicked(self) -> None:
        self.follow.undo_click(self._photo_shown())
        self.toggle_presentation()

    # ---- full-screen presentation ---------------------------------------------------------------------------
    @property
    def presenting(self) -> bool:
        return self._presenting

    def toggle_presentation(self) -> None:
        """F11 or a double-click on the video: the annotated video alone fills the screen (for a demo audience);
        the same again, or Esc, brings the controls back. Everything keeps running (recording, outputs)."""
        if self._presenting:
            self.leave_presentation()
            return
        self._presenting, self._was_maximised = True, self.isMaximized()
        self._show_controls(False)
        self.showFullScreen()
        self.banner.show_info("Full screen: press Esc or F11, or double-click the video, to see the controls again",
                              scope="presentation")

    def _show_controls(self, visible: bool) -> None:
        """The controls column, timeline and status bar: everything but the video."""
        for widget in (self._side_column, self.panel.timeline, self.status):
            widget.setVisible(visible)
        self.playback_bar.setVisible(visible and self.source_info is not None)

    def leave_presentation(self) -> None:
        if not self._presenting:
            return
        self._presenting = False
        self.banner.clear_scope("presentation")
        self._show_controls(True)
        if self._was_maximised:
            self.showMaximized()
        else:
            self.showNormal()

    def step_frame(self, frames: int) -> None:
        """Paused, a video file shows the frame ``frames`` (-1 or 1) away, a folder of photos the photo; playing,
        the first press pauses it. A frame stepped back to shows what it showed when it played. No step back while
        recording: it would cut the recording."""
        if not self.playback_bar.steppable:  # a camera or a photo: no frames to step through
            return
        if not self.paused:
            self.toggle_pause()
        elif frames > 0:
            self.worker.step(frames)
        elif self.recorder.active is None:
            self.worker.step(frames)  # the frame as it was shown; the chart runs up to it (app.ui.shown_frames)

    def toggle_pause(self) -> None:
        if self._ended:  # play the file or folder again from the start, playing
            if self.paused:
                self.paused = False
                self.worker.set_paused(False)
                self.recording.set_paused(False)
            self.worker.reconnect()
            return
        self.paused = not self.paused
        self.playback_bar.show_paused(self.paused)
        self.worker.set_paused(self.paused)
        self.recording.set_paused(self.paused)

    # ---- recording and snapshots (RecordFlow) ---------------------------------------------------------------
    def _recording_context(self) -> tuple[float, tuple[str, ...] | None]:
        fps = (self.source_info.fps if self.source_info else None) or (
            self.last_frame.capture_fps if self.last_frame else 0.0
        )
        classes = tuple(self.models.engine.card.classes) if self.models.engine else None
        return fps or 30.0, classes

    def toggle_recording(self) -> None:
        self.recording.toggle()

    def set_recording(self, on: bool) -> None:
        self.recording.set(on)

    def stop_recording(self, wait: bool = False) -> None:
        self.recording.stop(wait)

    def snapshot(self) -> Path | None:
        return self.recording.snapshot()

    # ---- Qt events ------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_source(files[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Finalise a recording, stop the threads, remember the window; only then close."""
        self._closing = True
        self.stop_recording(wait=True)
        self.recorder.join()
        self.worker.stop()
        self.worker.wait(10_000)
        self.outputs.close_all()
        self.models.loader.wait()
        self.leave_presentation()  # remember the window, not the full screen
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        super().closeEvent(event)
