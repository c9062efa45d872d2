"""Third-party noise filtering on fd 2: C++ lines are dropped, everything else reaches the terminal in order."""

from __future__ import annotations

import os
import threading

from app import quiet

GLOG = b"W0000 00:00:1796182037.030593   10317 inference_feedback_manager.cc:114] Feedback manager requires...\n"
TFLITE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"


def test_noise_lines_are_dropped_and_the_rest_kept_in_order(capfd, monkeypatch):
    monkeypatch.delenv(quiet.VERBOSE_VARIABLE, raising=False)
    with quiet.filtered_native_stderr():
        os.write(2, TFLITE + b"ferlive: one\n")
        writer = threading.Thread(target=os.write, args=(2, GLOG + b"E0000 00:00:1.0 7 graph.cc:9] a real error\n"))
        writer.start()  # another thread's C++ write lands in the same capture
        writer.join()
        with quiet.filtered_native_stderr():  # nested: one capture
            os.write(2, b"\rbar 10%|#| 1/10 [00:00]" + GLOG)
    kept = "ferlive: one\nE0000 00:00:1.0 7 graph.cc:9] a real error\n\rbar 10%|#| 1/10 [00:00]"
    assert capfd.readouterr().err == kept


def test_verbose_passes_everything(capfd, monkeypatch):
    monkeypatch.setenv(quiet.VERBOSE_VARIABLE, "1")
    with quiet.filtered_native_stderr():
        os.write(2, GLOG)
    assert capfd.readouterr().err == GLOG.decode()


def test_quiet_defaults_leave_what_a_person_set(monkeypatch):
    monkeypatch.delenv(quiet.VERBOSE_VARIABLE, raising=False)
    monkeypatch.setenv("OPENCV_LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    quiet.apply()
    assert os.environ["OPENCV_LOG_LEVEL"] == "DEBUG" and os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "-8"
