"""What the app remembers between runs, behind typed accessors.

QSettings returns strings from INI files and native types from the registry/plist; reading every key through
one typed helper keeps that difference out of the window code.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from app.capture.rotate import ROTATIONS
from app.smoothing import DEFAULT_STABILITY, PRESETS

ORGANISATION = "ferlive"
APPLICATION = "ferlive"


def default_output_dir(kind: str = "video") -> Path:
    """Movies (recordings) or Pictures (snapshots) as the platform names them, else ~/ferlive."""
    location = (
        QStandardPaths.StandardLocation.MoviesLocation
        if kind == "video"
        else QStandardPaths.StandardLocation.PicturesLocation
    )
    found = QStandardPaths.writableLocation(location)
    return Path(found) if found else Path.home() / "ferlive"


class AppSettings:
    """Typed view of QSettings("ferlive", "ferlive")."""

    def __init__(self, settings: QSettings | None = None) -> None:
        # The (format, scope, org, app) form honours QSettings.setDefaultFormat, which tests use to isolate files.
        self.qs = settings or QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANISATION, APPLICATION)

    def _get(self, key: str, default, kind: type):
        value = self.qs.value(key, None)
        if value is None or value == "":
            return default
        try:
            if kind is bool:
                return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self.qs.setValue(key, value)

    # source -----------------------------------------------------------------------------------------------
    @property
    def source(self) -> str | None:
        """Last source: a camera index ("0") or a file path; None when never chosen."""
        return self._get("source/last", None, str)

    @source.setter
    def source(self, value: str | None) -> None:
        self._set("source/last", "" if value is None else str(value))

    @property
    def camera_resolution(self) -> str:
        return self._get("source/resolution", "Default size", str)

    @camera_resolution.setter
    def camera_resolution(self, value: str) -> None:
        self._set("source/resolution", value)

    @property
    def camera_fps(self) -> str:
        return self._get("source/fps", "Default fps", str)

    @camera_fps.setter
    def camera_fps(self, value: str) -> None:
        self._set("source/fps", value)

    @property
    def mirror_camera(self) -> bool:
        """Cameras are shown mirrored (on by default: people expect to see themselves as in a mirror)."""
        return self._get("source/mirror", True, bool)

    @mirror_camera.setter
    def mirror_camera(self, value: bool) -> None:
        self._set("source/mirror", bool(value))

    @property
    def rotation(self) -> int:
        """Degrees clockwise cameras and video files are turned (a camera mounted sideways or upside down)."""
        degrees = self._get("source/rotation", 0, int)
        return degrees if degrees in ROTATIONS else 0

    @rotation.setter
    def rotation(self, degrees: int) -> None:
        self._set("source/rotation", int(degrees))

    @property
    def loop_files(self) -> bool:
        """Video files restart at their end (on by default: a file stands in for a camera in a demo)."""
        return self._get("source/loop", True, bool)

    @loop_files.setter
    def loop_files(self, value: bool) -> None:
        self._set("source/loop", bool(value))

    # model ------------------------------------------------------------------------------------------------
    @property
    def model(self) -> str | None:
        return self._get("model/name", None, str)

    @model.setter
    def model(self, value: str | None) -> None:
        self._set("model/name", value or "")

    @property
    def provider(self) -> str:
        return self._get("model/provider", "auto", str)

    @provider.setter
    def provider(self, value: str) -> None:
        self._set("model/provider", value)

    # display ----------------------------------------------------------------------------------------------
    def toggle(self, name: str, default: bool = True) -> bool:
        return self._get(f"display/{name}", default, bool)

    def set_toggle(self, name: str, value: bool) -> None:
        self._set(f"display/{name}", bool(value))

    @property
    def stability(self) -> str:
        """A preset name from ``app.smoothing.PRESETS``; an unknown stored name reads as the default."""
        name = self._get("display/stability", DEFAULT_STABILITY, str)
        return name if name in PRESETS else DEFAULT_STABILITY

    @stability.setter
    def stability(self, value: str) -> None:
        self._set("display/stability", str(value))

    @property
    def max_faces(self) -> int:
        return min(10, max(1, self._get("display/max_faces", 4, int)))

    @max_faces.setter
    def max_faces(self, value: int) -> None:
        self._set("display/max_faces", int(value))

    # output -----------------------------------------------------------------------------------------------
    def output_dir(self, kind: str = "video") -> Path:
        stored = self._get(f"output/{kind}_dir", None, str)
        return Path(stored) if stored else default_output_dir(kind)

    def set_output_dir(self, kind: str, path: Path) -> None:
        self._set(f"output/{kind}_dir", str(path))

    @property
    def record_clean(self) -> bool:
        """Whether a recording also keeps the clean video (app.ui.recording); off unless chosen."""
        return self._get("output/record_clean", False, bool)

    @record_clean.setter
    def record_clean(self, value: bool) -> None:
        self._set("output/record_clean", bool(value))

    @property
    def record_video(self) -> bool:
        """Whether a recording keeps the annotated video (app.ui.recording); on unless turned off."""
        return self._get("output/record_video", True, bool)

    @record_video.setter
    def record_video(self, value: bool) -> None:
        self._set("output/record_video", bool(value))

    # window -----------------------------------------------------------------------------------------------
    @property
    def geometry(self) -> QByteArray | None:
        value = self.qs.value("window/geometry", None)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set("window/geometry", value)

    def sync(self) -> None:
        self.qs.sync()


def bind_controls(settings: AppSettings, source, display, model=None, record=None) -> None:
    """Show the remembered values in the control groups, then store every later change at once.

    Stored on change (not on exit) so a crash or a killed process still keeps what the person chose.
    """
    source.set_mode(settings.camera_resolution, settings.camera_fps)
    source.loop.setChecked(settings.loop_files)
    source.mirror.setChecked(settings.mirror_camera)
    source.select_rotation(settings.rotation)
    if model is not None:
        model.select_provider(settings.provider)
    for name, default in (("boxes", True), ("landmarks", False), ("labels", True), ("talking", True)):
        getattr(display, name).setChecked(settings.toggle(name, default))
    display.select_stability(settings.stability)
    display.max_faces.setValue(settings.max_faces)
    if record is not None:
        record.folder_label.setText(str(settings.output_dir("video")))
        record.clean.setChecked(settings.record_clean)
        record.clean.toggled.connect(lambda on: setattr(settings, "record_clean", on))
        record.annotated.setChecked(settings.record_video)
        record.annotated.toggled.connect(lambda on: setattr(settings, "record_video", on))
    source.resolution_combo.currentTextChanged.connect(lambda text: setattr(settings, "camera_resolution", text))
    source.fps_combo.currentTextChanged.connect(lambda text: setattr(settings, "camera_fps", text))
    source.loop.toggled.connect(lambda on: setattr(settings, "loop_files", on))
    source.mirror.toggled.connect(lambda on: setattr(settings, "mirror_camera", on))
    source.rotate_combo.currentIndexChanged.connect(lambda _: setattr(settings, "rotation", source.rotation))
    for name in ("boxes", "landmarks", "labels", "talking"):
        getattr(display, name).toggled.connect(lambda on, name=name: settings.set_toggle(name, on))
    display.stabilityChanged.connect(lambda value: setattr(settings, "stability", value))
    display.maxFacesChanged.connect(lambda value: setattr(settings, "max_faces", value))
