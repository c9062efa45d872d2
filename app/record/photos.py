"""Annotated photos as image files: a photo's ``--out`` is an image, a folder's ``--out`` a folder of them."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from app.capture.base import IMAGE_EXTENSIONS, PILLOW_IMAGE_EXTENSIONS
from app.errors import OutputError
from app.record.paths import prepare_output_path
from app.record.recorder import VIDEO_EXTENSIONS


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def encode_image(image: np.ndarray, suffix: str) -> np.ndarray | None:
    """``image`` encoded in the format of ``suffix``, or None where OpenCV cannot write colour in it (PGM is grey
    only; JFIF is JPEG under another name). HEIF and AVIF, which OpenCV does not write, are encoded by Pillow."""
    if suffix.lower() in PILLOW_IMAGE_EXTENSIONS:
        return encode_with_pillow(image, suffix)
    if suffix.lower() == ".pgm":  # asked anyway, OpenCV would log an error line on the way to refusing
        return None
    try:
        ok, data = cv2.imencode({".jfif": ".jpg"}.get(suffix.lower(), suffix.lower()), image)
    except cv2.error:
        return None
    return data if ok else None


def encode_with_pillow(image: np.ndarray, suffix: str, quality: int = 90) -> np.ndarray | None:
    """A BGR image as HEIF (pillow-heif) or AVIF (Pillow) file bytes, so an iPhone photo's annotated copy keeps its
    format; None where this build cannot encode it."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    try:
        Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(
            buffer, format="AVIF" if suffix.lower() == ".avif" else "HEIF", quality=quality)
    except (OSError, ValueError, KeyError):
        return None
    return np.frombuffer(buffer.getvalue(), np.uint8)


class AnnotatedPhotos:
    """Writes each annotated photo: to ``target`` itself when ``single`` (one photo in), else into the folder
    ``target`` under the photo's own file name (its path inside the input folder), so an annotated set lines up with
    its originals and the CSV's ``image`` column; a photo in a grey-only format (PGM) gets ``.png`` added. A file
    that cannot be written (full disk, no permission) raises ``OutputError``; what was written before stays."""

    def __init__(self, target: str | Path, single: bool) -> None:
        self.target = Path(target)
        self.single = single
        self.written = 0
        if single:
            if not is_image_path(self.target):
                raise OutputError(f"Cannot write the annotated photo to {self.target}: use an image file name "
                                  f"(.jpg, .png, ...), or {', '.join(VIDEO_EXTENSIONS)} for a one-frame video.")
            if encode_image(np.zeros((2, 2, 3), np.uint8), self.target.suffix) is None:
                raise OutputError(f"Cannot write the annotated photo to {self.target}: {self.target.suffix} cannot "
                                  "hold a colour picture; use .png or .jpg.")
            prepare_output_path(self.target, "the annotated photo")
            return
        if is_image_path(self.target):
            raise OutputError(f"Cannot write annotated photos to {self.target}: for a folder of photos, --out is a "
                              f"folder (or {', '.join(VIDEO_EXTENSIONS)} for a slideshow video).")
        if self.target.exists() and not self.target.is_dir():
            raise OutputError(f"Cannot write annotated photos into {self.target}: it is a file, not a folder.")
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the folder {self.target}: {exc.strerror or exc}.") from exc

    def path_for(self, image_name: str) -> Path:
        return self.target if self.single else self.target / image_name

    def write(self, image_name: str, image: np.ndarray) -> Path:
        path = self.path_for(image_name)
        if not self.single and path.parent != self.target:  # a photo from a subfolder (<class>/<image>)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"Cannot create the folder {path.parent}: {exc.strerror or exc}.") from exc
        data = encode_image(image, path.suffix)
        if data is None:  # a grey-only format (PGM): the annotated photo is a PNG beside the original's name
            path = path.with_name(path.name + ".png")
            data = encode_image(image, ".png")
        try:
            data.tofile(str(path))
        except OSError as exc:
            path.unlink(missing_ok=True)  # never leave half an image that looks whole
            raise OutputError(f"Writing {path} failed: {exc.strerror or exc}.") from exc
        self.written += 1
        return path
