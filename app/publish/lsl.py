"""Lab Streaming Layer (pylsl): the followed face's (clicked, else the largest) seven expression probabilities plus
its confidence, talking, dim, turned and calibrated flags as a float32 stream, and each change of its label and each
event the operator marks ("mark 1"...) as a string marker, all stamped at the frame's capture time on LSL's clock.

Channels follow ``app.labels.EXPRESSIONS`` (not the model's own order), so a recording keeps one layout whatever
model is loaded. The rate is irregular: a sample is pushed only for frames with a face, and a live source drops
frames when the model is slower than the camera. Recorders (LabRecorder) find the stream again after a restart by
its ``source_id``.
"""

from __future__ import annotations

import socket
import time

from app.errors import PublishError
from app.labels import EXPRESSIONS, canonical_name
from app.publish.base import Publisher
from app.publish.messages import expression_vector, primary_face
from app.types import FrameResult, Mark

STREAM_TYPE = "Expression"
MARKER_TYPE = "Markers"
# later channels are appended, so a recording made before them keeps its channel numbers (``dim``, ``turned``: a less
# reliable label, ``app.face.lighting`` and ``app.face.pose``; ``calibrated``: a neutral calibration weighs the
# probabilities, ``app.neutral``)
CHANNELS = (*EXPRESSIONS, "confidence", "talking", "dim", "turned", "calibrated")
# unit and type of the channels after the seven probabilities
_EXTRA_CHANNELS = {"confidence": ("probability", "Confidence"), "talking": ("boolean", "Talking"),
                   "dim": ("boolean", "Dim"), "turned": ("boolean", "Turned"),
                   "calibrated": ("boolean", "Calibrated")}
NO_FACE = "no_face"


def default_source_id() -> str:
    """Stable across runs on one machine, so a recorder reconnects; pass another to run two ferlives at once."""
    return f"ferlive-expression@{socket.gethostname()}"


class LslPublisher(Publisher):
    name = "lsl"

    def __init__(self, stream_name: str = "ferlive", source_id: str | None = None) -> None:
        super().__init__()
        self.stream_name = stream_name
        self.source_id = source_id or default_source_id()
        self._outlet = None
        self._markers = None
        self._last_label: str | None = None
        self._lsl = None

    def endpoint(self) -> str:
        return f"lsl:{self.stream_name} ({self.source_id})"

    def clients(self) -> int | None:
        outlet = self._outlet
        return int(outlet.have_consumers()) if outlet is not None else 0

    def _open(self) -> None:
        try:
            import pylsl
        except (ImportError, RuntimeError, OSError) as exc:  # pylsl raises RuntimeError when liblsl is missing
            raise PublishError(f"The LSL output needs pylsl and its liblsl library ({exc}): pip install pylsl.") \
                from None
        self._lsl = pylsl
        info = pylsl.StreamInfo(self.stream_name, STREAM_TYPE, len(CHANNELS), pylsl.IRREGULAR_RATE,
                                pylsl.cf_float32, self.source_id)
        desc = info.desc()
        channels = desc.append_child("channels")
        for label in CHANNELS:
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            unit, kind = _EXTRA_CHANNELS.get(label, ("probability", STREAM_TYPE))
            channel.append_child_value("unit", unit)
            channel.append_child_value("type", kind)
        desc.append_child("acquisition").append_child_value("manufacturer", "ferlive")
        desc.append_child_value("face", "the face clicked in the app, else the largest in the frame")
        markers = pylsl.StreamInfo(f"{self.stream_name}-markers", MARKER_TYPE, 1, pylsl.IRREGULAR_RATE,
                                   pylsl.cf_string, f"{self.source_id}-markers")
        markers.desc().append_child_value(
            "content", f"label of the followed face (clicked, else the largest) on each change; {NO_FACE} when lost; "
                       "the operator's event marks (mark 1, mark 2...) as they are set")
        self._outlet = pylsl.StreamOutlet(info)
        self._markers = pylsl.StreamOutlet(markers)

    def lsl_time(self, captured_at: float) -> float:
        """A ``time.perf_counter()`` reading on LSL's clock (``pylsl.local_clock()``), offset measured now."""
        return captured_at + (self._lsl.local_clock() - time.perf_counter())

    def _send(self, result: FrameResult) -> None:
        face = primary_face(result)
        stamp = self.lsl_time(result.frame.captured_at)
        label = NO_FACE if face is None else (canonical_name(face.label) or face.label)
        if label != self._last_label and not (self._last_label is None and face is None):
            self._markers.push_sample([label], stamp)
            self._last_label = label
        if face is not None:
            self._outlet.push_sample([*expression_vector(face), float(face.confidence), float(face.talking),
                                      float(face.dim), float(face.turned), float(face.calibrated)],
                                     stamp)
            self.mark_sent(result.frame.captured_at)

    def _send_marks(self, marks: list[Mark]) -> None:
        """The operator's marks ("mark 1"...) on the marker stream, stamped at their frame's capture time."""
        for mark in marks:
            self._markers.push_sample([mark.text], self.lsl_time(mark.captured_at))

    def _shutdown(self) -> None:
        self._outlet = self._markers = None  # liblsl closes an outlet when its last reference goes
