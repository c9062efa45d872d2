"""Outputs: the annotated video (``recorder``: H.264 through PyAV on its own thread), per-frame results
(``results``: CSV/JSONL), the operator's event marks (``marks``) and one row per analysed input
(``summary_table``). Import from here; the submodules are an implementation detail."""

from __future__ import annotations

from app.record.marks import MarksWriter, read_marks
from app.record.paths import prepare_output_path
from app.record.recorder import KEYFRAME_SECONDS, VideoRecorder, container_options, pick_encoder, video_rate
from app.record.results import ResultsWriter
from app.record.summary_table import SummaryTable

__all__ = [
    "KEYFRAME_SECONDS",
    "MarksWriter",
    "ResultsWriter",
    "SummaryTable",
    "VideoRecorder",
    "container_options",
    "pick_encoder",
    "prepare_output_path",
    "read_marks",
    "video_rate",
]
