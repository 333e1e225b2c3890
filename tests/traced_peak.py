"""The peak of one call's allocations, measured by tracemalloc in a fresh child process.

``tracemalloc.stop()`` races with other threads that free Python objects on Python 3.11 (CPython gh-128679, fixed
in 3.12 and 3.13 only): on 2026-12-08 a pyarrow I/O thread releasing a read buffer after the main thread had
stopped tracing spun for 15 minutes holding the GIL, and the test suite hung. Measured here, the child imports
and warms up, starts tracing, makes the call, reports the peak and exits without ever stopping the tracer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, os, sys, tracemalloc
{setup}
{warm}
tracemalloc.start()
result = {call}
extra = {extra}
sys.stdout.write(json.dumps({{"result": result, "peak": tracemalloc.get_traced_memory()[1], "extra": extra}}))
sys.stdout.flush()
os._exit(0)
"""


def traced_peak(setup: str, call: str, warm: str = "", extra: str = "0") -> tuple[Any, int, Any]:
    """Run ``setup`` (imports), then ``warm`` (a first call, so that caches are not counted), then ``call`` under
    tracemalloc in a child Python; returns ``call``'s JSON-able result, the traced peak in bytes, and ``extra``
    (an expression evaluated after the call, e.g. a memory pool's own peak)."""
    code = _CHILD.format(setup=setup, warm=warm, call=call, extra=extra)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=600
    )
    if done.returncode != 0:
        raise AssertionError(f"traced child failed ({done.returncode}): {done.stderr[-2000:]}")
    out = json.loads(done.stdout)
    return out["result"], int(out["peak"]), out["extra"]
