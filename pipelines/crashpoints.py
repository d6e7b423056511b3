"""Named points in the writing of outputs where a crash-safety test can stop a job, to kill it
there with SIGKILL (tests/pipelines/test_crash_safety.py).

Off unless `FRICTION_TEST_PAUSE_AT` names the point: the job then writes its pid to the file
`FRICTION_TEST_PAUSE_FILE` and waits to be killed. The variables are read when a point is
reached, never at import.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["PAUSE_AT", "PAUSE_FILE", "reached"]

PAUSE_AT = "FRICTION_TEST_PAUSE_AT"
PAUSE_FILE = "FRICTION_TEST_PAUSE_FILE"
# Longer than any test waits: the test kills the job well before; a forgotten variable in a
# real run shows as a stalled job, not as lost data.
_WAIT_S = 600.0


def reached(point: str) -> None:
    """Pause here when the test asked for this point; a no-op otherwise."""
    if os.environ.get(PAUSE_AT) != point or not (marker := os.environ.get(PAUSE_FILE)):
        return
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(_WAIT_S)
