"""The side-panel control groups: source, model, display and recording.

Each group only turns widget events into meaningful signals and shows state it is told; none of them knows about
threads, files or models, so the window wires them and tests can drive them like a person would.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.capture import CameraInfo
from app.capture.rotate import ROTATIONS
from app.neutral import CALIBRATION_S
from app.render import RenderOptions
from app.smoothing import DEFAULT_STABILITY, PRESETS
from app.ui.icons import dot_icon, standard_icon
from app.ui.model_controls import (  # noqa: F401 (ModelControls moved; old imports work)
    ModelControls,
    model_title,
    model_tooltip,
    set_combo_silently,
)

RESOLUTIONS = ["Default size", "640x480", "1280x720", "1920x1080"]
FRAME_RATES = ["Default fps", "15 fps", "30 fps", "60 fps"]


class SourceControls(QGroupBox):
    """Camera picker (with resolution and rate), refresh, "Open video file..." and "Open folder..." (photos, or
    videos in turn)."""

    cameraChosen = Signal(int)  # noqa: N815 (Qt signal naming)
    openFileRequested = Signal()  # noqa: N815
    openFolderRequested = Signal()  # noqa: N815
    refreshRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Source", parent)
        self.camera_combo = QComboBox()
        self.camera_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.camera_combo.setMinimumContentsLength(12)
        self.refresh_button = QToolButton()
        self.refresh_button.setIcon(standard_icon("BrowserReload"))
        self.refresh_button.setToolTip("Look for cameras again")
        self.resolution_combo = QComboBox()
        self.resolution_combo.addItems(RESOLUTIONS)
        self.fps_combo = QComboBox()
        self.fps_combo.addItems(FRAME_RATES)
        self.open_button = QPushButton("Open video file…")
        self.folder_button = QPushButton("Open folder…")
        self.folder_button.setToolTip("A folder of photos, shown one a second (a dataset's <class>/<image> folders "
                                      "too), or of videos, played one after another")
        self.loop = QCheckBox("Loop files")
        self.loop.setChecked(True)
        self.loop.setToolTip("Start a video file, a folder of videos or a slideshow of photos again at its end, so it "
                             "can stand in for a camera")
        self.mirror = QCheckBox("Mirror camera")
        self.mirror.setChecked(True)
        self.mirror.setToolTip("Show a camera as a mirror shows you, as video calls do; boxes, recordings and results "
                               "follow the mirrored picture (video files and photos are never mirrored)")
        self.rotate_combo = QComboBox()
        for degrees in ROTATIONS:
            self.rotate_combo.addItem("Upright" if not degrees else f"Rotate {degrees}°", degrees)
        self.rotate_combo.setToolTip("Turn a camera's or video file's picture clockwise before anything sees it: a "
                                     "camera mounted sideways or upside down (photos turn by themselves)")
        self.current_label = QLabel("No source")
        self.current_label.setWordWrap(True)
        self.current_label.setStyleSheet("color: gray;")
        row = QHBoxLayout()
        row.addWidget(self.camera_combo, 1)
        row.addWidget(self.refresh_button)
        options = QHBoxLayout()
        options.addWidget(self.resolution_combo, 1)
        options.addWidget(self.fps_combo)
        options.addWidget(self.rotate_combo)
        form = QFormLayout(self)
        form.addRow("Camera", row)
        form.addRow("Mode", options)
        files = QHBoxLayout()
        files.addWidget(self.open_button, 1)
        files.addWidget(self.folder_button)
        form.addRow(files)
        toggles = QHBoxLayout()
        toggles.addWidget(self.loop)
        toggles.addWidget(self.mirror)
        form.addRow(toggles)
        form.addRow(self.current_label)
        self.camera_combo.activated.connect(self._on_camera_activated)
        self.open_button.clicked.connect(self.openFileRequested)
        self.folder_button.clicked.connect(self.openFolderRequested)
        self.refresh_button.clicked.connect(self.refreshRequested)

    @property
    def rotation(self) -> int:
        """Degrees clockwise the picture is turned."""
        return int(self.rotate_combo.currentData() or 0)

    def select_rotation(self, degrees: int) -> None:
        self.rotate_combo.setCurrentIndex(max(0, self.rotate_combo.findData(int(degrees))))

    def set_cameras(self, cameras: Sequence[CameraInfo]) -> None:
        self.camera_combo.clear()
        if not cameras:
            self.camera_combo.addItem("No camera found", None)
            self.camera_combo.setEnabled(False)
            return
        self.camera_combo.setEnabled(True)
        for cam in cameras:
            self.camera_combo.addItem(f"{cam.index}: {cam.name}", cam.index)

    def select_camera(self, index: int | None) -> None:
        pos = self.camera_combo.findData(index) if index is not None else -1
        set_combo_silently(self.camera_combo, max(pos, 0))

    def _on_camera_activated(self, pos: int) -> None:
        index = self.camera_combo.itemData(pos)
        if index is not None:
            self.cameraChosen.emit(int(index))

    def camera_options(self) -> dict[str, float | int]:
        """Requested width/height/fps for ``CameraSource`` (empty for "Default")."""
        opts: dict[str, float | int] = {}
        res = self.resolution_combo.currentText()
        if res[:1].isdigit():
            w, h = res.split("x")
            opts.update(width=int(w), height=int(h))
        rate = self.fps_combo.currentText().split()[0]
        if rate.isdigit():
            opts["fps"] = float(rate)
        return opts

    def set_mode(self, resolution: str, fps: str) -> None:
        self.resolution_combo.setCurrentIndex(max(0, self.resolution_combo.findText(resolution)))
        self.fps_combo.setCurrentIndex(max(0, self.fps_combo.findText(fps)))


class DisplayControls(QGroupBox):
    """What to draw, how firmly labels hold still, how many faces to look for."""

    optionsChanged = Signal()  # noqa: N815
    stabilityChanged = Signal(str)  # noqa: N815 - a preset name from app.smoothing.PRESETS
    talkingChanged = Signal(bool)  # noqa: N815 - whether a talking face's parted-lip frames count less
    maxFacesChanged = Signal(int)  # noqa: N815
    calibrateRequested = Signal()  # noqa: N815 - learn the largest face's resting face (app.neutral)
    clearCalibrationRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        self.boxes = QCheckBox("Boxes")
        self.landmarks = QCheckBox("Landmarks")
        self.labels = QCheckBox("Labels")
        self.stability = QComboBox()
        for name, preset in PRESETS.items():
            self.stability.addItem(name.capitalize(), name)
            self.stability.setItemData(self.stability.count() - 1, stability_tooltip(preset),
                                       Qt.ItemDataRole.ToolTipRole)
        self.select_stability(DEFAULT_STABILITY)
        self.talking = QCheckBox("Talking mouths count less")
        self.talking.setChecked(True)
        self.talking.setToolTip(
            f"While a face talks, its frames with parted lips count {PRESETS[DEFAULT_STABILITY].talk_weight:g} of a "
            "frame in the smoothing: models that learnt from posed photos read a talking mouth as surprise or fear. "
            "Off: every frame counts alike (the raw probabilities in recordings and outputs are the same either way).")
        self.max_faces = QSpinBox()
        self.max_faces.setRange(1, 10)
        self.max_faces.setMaximumWidth(70)
        self.max_faces.setToolTip("Faces labelled per video frame (the cost of each is paid on every frame). "
                                  "Photos are analysed once: up to 20 faces each, or this many if more.")
        grid = QGridLayout(self)
        grid.addWidget(self.boxes, 0, 0)
        grid.addWidget(self.landmarks, 0, 1)
        grid.addWidget(self.labels, 0, 2)
        grid.addWidget(QLabel("Stability"), 1, 0)
        grid.addWidget(self.stability, 1, 1, 1, 2)
        grid.addWidget(self.talking, 2, 0, 1, 3)
        grid.addWidget(QLabel("Max faces"), 3, 0)
        grid.addWidget(self.max_faces, 3, 1)
        self.calibrate_button = QPushButton("Calibrate neutral (N)")
        self.calibrate_button.setToolTip(
            f"The person in front holds a relaxed, neutral face for {CALIBRATION_S:g} s; from then on, what their "
            "resting face reads as (sad, fear, surprise...) is weighed down so that it reads neutral, and a real "
            "expression still shows. It weighs the face clicked (else the largest) only; click another face and "
            "calibrate again for that person too. Video only.")
        self.clear_calibration_button = QPushButton("Clear")
        self.clear_calibration_button.setToolTip("Forget every person's neutral calibration.")
        self.clear_calibration_button.setEnabled(False)
        self.calibration_label = QLabel("Neutral face: not calibrated")
        self.calibration_label.setWordWrap(True)
        grid.addWidget(self.calibrate_button, 4, 0, 1, 2)
        grid.addWidget(self.clear_calibration_button, 4, 2)
        grid.addWidget(self.calibration_label, 5, 0, 1, 3)
        self.calibrate_button.clicked.connect(self.calibrateRequested)
        self.clear_calibration_button.clicked.connect(self.clearCalibrationRequested)
        for box in (self.boxes, self.landmarks, self.labels):
            box.toggled.connect(self.optionsChanged)
        self.stability.currentIndexChanged.connect(lambda pos: self.stabilityChanged.emit(self.stability.itemData(pos)))
        self.max_faces.valueChanged.connect(self.maxFacesChanged)
        self.talking.toggled.connect(self.talkingChanged)

    def show_calibration(self, text: str, calibrated: bool, busy: bool = False) -> None:
        """The neutral calibration's state in a line; the buttons offer what makes sense in it."""
        self.calibration_label.setText(text)
        self.calibrate_button.setEnabled(not busy)
        self.clear_calibration_button.setEnabled(calibrated or busy)

    def select_stability(self, name: str) -> None:
        """Show preset ``name`` (unknown names: the default); emits ``stabilityChanged`` when it changes."""
        pos = self.stability.findData(name)
        self.stability.setCurrentIndex(pos if pos >= 0 else self.stability.findData(DEFAULT_STABILITY))

    def current_stability(self) -> str:
        return str(self.stability.currentData())

    def render_options(self) -> RenderOptions:
        """The labels toggle also governs the per-face bars drawn beside each box."""
        labels = self.labels.isChecked()
        return RenderOptions(
            boxes=self.boxes.isChecked(), landmarks=self.landmarks.isChecked(), labels=labels, bars=labels
        )


def stability_tooltip(preset) -> str:
    """What a preset does, in the terms a person notices: how long a new expression takes to show."""
    return (f"Probabilities averaged over {preset.time_constant_s:.2f} s; a new label shows once it leads by "
            f"{100 * preset.margin:.0f} points or for {preset.hold_s:.2f} s "
            f"(a clear change shows within {preset.switch_bound_s:.2f} s)")


class RecordControls(QGroupBox):
    """Record toggle with elapsed time, which videos are kept beside the results (annotated, clean), snapshot, event
    mark, and the output folder."""

    recordToggled = Signal(bool)  # noqa: N815
    snapshotRequested = Signal()  # noqa: N815
    markRequested = Signal()  # noqa: N815
    folderRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Output", parent)
        self.record_button = QPushButton(dot_icon(), "Record (R)")
        self.record_button.setCheckable(True)
        self.elapsed = QLabel("")
        self.annotated = QCheckBox("Video")
        self.annotated.setChecked(True)
        self.annotated.setToolTip("Record the annotated video (<name>.mp4). Untick it to keep no picture of anyone: "
                                  "the per-frame results (<name>.csv) and the timeline picture (<name>.png) are still "
                                  "saved, for studies that may not store video.")
        self.clean = QCheckBox("Clean video")
        self.clean.setToolTip("Record the picture the models saw, without boxes or labels, beside the annotated "
                              "video (<name>-clean.mp4): to analyse the session again later (ferlive analyze, "
                              "another model or tool) or to have people code it. One more H.264 encode per frame.")
        self.snapshot_button = QPushButton("Snapshot (S)")
        self.mark_button = QPushButton("Mark (M)")
        self.mark_button.setToolTip("Mark an event (a stimulus shown, a trial starting): mark 1, mark 2... goes with "
                                    "the next frame to the recording (<name>-marks.csv and a line on the timeline "
                                    "picture) and to the live outputs (OSC /ferlive/mark, WebSocket ferlive.mark/1, "
                                    "the LSL marker stream).")
        self.mark_text = QLineEdit()
        self.mark_text.setPlaceholderText("mark 1, mark 2… or type a name")
        self.mark_text.setClearButtonEnabled(True)
        self.mark_text.setToolTip("What the next marks are called (a stimulus, a trial); empty: numbered. Enter here "
                                  "sets a mark at once.")
        self.folder_button = QPushButton("Folder…")
        self.folder_label = QLabel("")
        self.folder_label.setWordWrap(True)
        self.folder_label.setStyleSheet("color: gray;")
        grid = QGridLayout(self)
        grid.addWidget(self.record_button, 0, 0)
        grid.addWidget(self.elapsed, 0, 1)
        grid.addWidget(self.annotated, 1, 0)
        grid.addWidget(self.clean, 1, 1)
        grid.addWidget(self.snapshot_button, 2, 0)
        grid.addWidget(self.mark_button, 2, 1)
        grid.addWidget(self.mark_text, 3, 0, 1, 2)
        grid.addWidget(self.folder_button, 4, 0)
        grid.addWidget(self.folder_label, 4, 1)
        self.record_button.toggled.connect(self.recordToggled)
        self.snapshot_button.clicked.connect(self.snapshotRequested)
        self.mark_button.clicked.connect(self.markRequested)
        self.mark_text.returnPressed.connect(self.markRequested)
        self.folder_button.clicked.connect(self.folderRequested)

    def set_recording(self, on: bool) -> None:
        """Reflect the real state (e.g. recording stopped because the source ended) without re-emitting."""
        self.record_button.blockSignals(True)
        self.record_button.setChecked(on)
        self.record_button.blockSignals(False)
        self.record_button.setText("Stop (R)" if on else "Record (R)")
        self.record_button.setIcon(standard_icon("MediaStop") if on else dot_icon())
        self.record_button.setStyleSheet("color: #e5484d; font-weight: bold;" if on else "")
        self.clean.setEnabled(not on)  # read when a recording starts
        self.annotated.setEnabled(not on)
        if not on:
            self.elapsed.setText("")

    def set_elapsed(self, seconds: float, frames: int) -> None:
        self.elapsed.setText(f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d} · {frames} frames")
