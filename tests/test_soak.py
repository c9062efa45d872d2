"""A short run of the soak test (``python -m app.soak``): real worker threads, model switches and recordings.

The lead runs it for 30 minutes before a release; here 20 seconds prove it runs, reports and checks its files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.datapaths import require_data, video

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_soak_smoke_run_reports_figures_and_checks_recordings(tmp_path):
    clip = require_data(video("interview_50s.mp4"))
    run = subprocess.run(
        [sys.executable, "-m", "app.soak", "--source", str(clip), "--seconds", "20", "--report-every", "5",
         "--switch-every", "4", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = re.findall(r"soak \d+:\d\d  rss (\d+) MB  threads (\d+)  fds (\d+)  fps ([\d.]+)", run.stdout)
    assert len(rows) >= 3
    assert all(int(rss) > 0 and int(threads) > 0 and int(fds) > 0 for rss, threads, fds, _ in rows)
    assert re.search(r"[1-9]\d* model switches, [1-9]\d* recordings \(\d+ frames\) all open with PyAV", run.stdout)
    assert list(tmp_path.glob("*.mp4")) and list(tmp_path.glob("*.csv"))
