"""Open Sound Control over UDP (python-osc): a generic ``/ferlive/...`` scheme, or VRChat avatar parameters.

Only numbers and class names leave the machine, never images. UDP has no connection, so a receiver that is not
listening costs nothing: the datagrams are simply lost. Addresses are documented in docs/outputs.md.
"""

from __future__ import annotations

import socket

from app.errors import PublishError
from app.labels import EXPRESSIONS, canonical_name
from app.publish.base import Publisher
from app.publish.messages import expression_vector, faces_by_track, image_size, normalised_box, primary_face
from app.types import FrameResult, Mark, subject_track

PRESETS = ("generic", "vrchat")
VRCHAT_DEFAULT = ("127.0.0.1", 9000)
VRCHAT_PREFIX = "/avatar/parameters/"
# VRChat parameter names: Fer<Expression> floats 0..1 in app.labels.EXPRESSIONS order (FerAngry ... FerNeutral)
VRCHAT_FLOATS = tuple("Fer" + name.capitalize() for name in EXPRESSIONS)


def _message(address: str, *args: object):
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def generic_messages(result: FrameResult) -> list:
    """The ``/ferlive/...`` messages of one frame (sent together as one bundle)."""
    width, height = image_size(result)
    ts = float(result.frame.timestamp)
    out = [_message("/ferlive/frame", int(result.frame.index), ts, len(result.faces))]
    if result.faces:
        out.append(_message("/ferlive/classes", *result.faces[0].classes))
    if (subject := subject_track(result)) is not None:  # none while a clicked person is out of view
        out.append(_message("/ferlive/subject", subject))
    for slot, face in enumerate(faces_by_track(result)):
        base = f"/ferlive/face/{slot}"
        probs = [float(p) for p in face.probabilities]
        out.append(_message(base, int(face.track_id), face.label, float(face.confidence), ts))
        out.append(_message(f"{base}/box", *normalised_box(face, width, height)))
        out.append(_message(f"{base}/probabilities", *probs))
        out.extend(_message(f"{base}/p_{name}", p) for name, p in zip(face.classes, probs))
        out.append(_message(f"{base}/talking", int(face.talking)))
        out.append(_message(f"{base}/dim", int(face.dim)))
        out.append(_message(f"{base}/turned", int(face.turned)))
        out.append(_message(f"{base}/calibrated", int(face.calibrated)))
    return out


def mark_message(mark: Mark):
    """``/ferlive/mark``: ``s`` text, ``i`` frame_index, ``f`` timestamp of the frame the event was marked on."""
    return _message("/ferlive/mark", mark.text, mark.frame_index, mark.timestamp)


def vrchat_messages(result: FrameResult) -> list:
    """Avatar parameters for the followed face (clicked in the app, else the largest): FerFace (bool), FerExpression
    (int), FerConfidence, Fer<Expression>, FerTalking, FerDim and FerTurned (bool)."""
    face = primary_face(result)
    if face is None:
        return [_message(VRCHAT_PREFIX + "FerFace", False)]
    canon = canonical_name(face.label)
    out = [_message(VRCHAT_PREFIX + "FerFace", True)]
    if canon is not None:
        out.append(_message(VRCHAT_PREFIX + "FerExpression", EXPRESSIONS.index(canon)))
    out.append(_message(VRCHAT_PREFIX + "FerConfidence", float(face.confidence)))
    for name, p in zip(VRCHAT_FLOATS, expression_vector(face)):
        out.append(_message(VRCHAT_PREFIX + name, 0.0 if p != p else p))  # NaN (class not in the model) -> 0
    out.append(_message(VRCHAT_PREFIX + "FerTalking", bool(face.talking)))
    out.append(_message(VRCHAT_PREFIX + "FerDim", bool(face.dim)))  # too dark for a reliable label
    out.append(_message(VRCHAT_PREFIX + "FerTurned", bool(face.turned)))  # turned too far to the side for one
    return out


def resolve_udp(host: str, port: int, what: str) -> tuple:
    """The socket address for ``host:port``, resolved once (sendto with a name would look it up per datagram)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise PublishError(f"{what} cannot send to {host}:{port}: unknown host ({exc}).") from None
    except OverflowError:
        raise PublishError(f"{what} cannot send to {host}:{port}: the port must be 1 to 65535.") from None
    return infos[0][0], infos[0][4]


class OscPublisher(Publisher):
    """``preset="generic"``: one bundle per frame under /ferlive; ``"vrchat"``: /avatar/parameters/Fer* messages."""

    name = "osc"

    def __init__(self, host: str | None = None, port: int | None = None, preset: str = "generic") -> None:
        super().__init__()
        if preset not in PRESETS:
            raise PublishError(f"Unknown OSC preset {preset!r}: use one of {', '.join(PRESETS)}.")
        self.preset = preset
        default_host, default_port = VRCHAT_DEFAULT
        self.host = host or default_host
        self.port = int(port if port is not None else default_port)
        self._client = None

    def endpoint(self) -> str:
        return f"udp://{self.host}:{self.port}" + (" (VRChat)" if self.preset == "vrchat" else "")

    def _open(self) -> None:
        try:
            import pythonosc  # noqa: F401
        except ImportError:
            raise PublishError("The OSC output needs the python-osc package: pip install python-osc.") from None
        from pythonosc.udp_client import UDPClient

        family, address = resolve_udp(self.host, self.port, "The OSC output")
        # non-blocking (python-osc's default): a full send buffer drops the datagram instead of waiting
        self._client = UDPClient(address[0], address[1], family=family)

    def _send(self, result: FrameResult) -> None:
        if self.preset == "vrchat":
            contents = vrchat_messages(result)  # one datagram each: what VRChat's own examples send
        else:
            from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder

            bundle = OscBundleBuilder(IMMEDIATELY)
            for message in generic_messages(result):
                bundle.add_content(message)
            contents = [bundle.build()]
        for content in contents:
            self._client.send(content)
        self.mark_sent(result.frame.captured_at)

    def _send_marks(self, marks: list[Mark]) -> None:
        """Generic scheme: one ``/ferlive/mark`` message each, before the frame's bundle (VRChat has no place)."""
        if self.preset == "generic":
            for mark in marks:
                self._client.send(mark_message(mark))

    def _shutdown(self) -> None:
        if self._client is not None:
            self._client.close()
