"""Run every bench/bench_*.py present, one after the other, and collect their tables in one report.

    .venv/bin/python bench/run_all.py                              # every benchmark with its defaults
    .venv/bin/python bench/run_all.py --only ingest,dedup --out /tmp/bench-report.md
    .venv/bin/python bench/run_all.py --args ingest="--repeat 1 --rounds 1" --args dedup="--base 200"

Each benchmark runs as its own process (with .venv's Python) so one failing does not stop the others; the
report keeps each one's header lines and markdown tables, and says which failed and why.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(BENCH.glob("bench_*.py"))}


def tables_of(output: str) -> str:
    """The report part of a benchmark's output: header lines (machine, input) and markdown tables."""
    keep: list[str] = []
    in_table = False
    for line in output.splitlines():
        if line.startswith(("###", "|")) or (in_table and not line.strip()):
            keep.append(line)
            in_table = True
        elif line.startswith(("input:", "device:", "machine:")) or line[:4].isdigit():
            keep.append(line)
            in_table = False
        else:
            in_table = False
    return "\n".join(keep).strip() or output.strip()[-4000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="", help="comma-separated names (ingest, dedup, score, ...)")
    parser.add_argument("--args", action="append", default=[], metavar='NAME="ARGS"', help="extra arguments")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    parser.add_argument("--list", action="store_true", help="list the benchmarks found and exit")
    args = parser.parse_args(argv)

    found = discover()
    if args.list:
        print("\n".join(found))
        return 0
    wanted = [n for n in args.only.split(",") if n] or list(found)
    unknown = [n for n in wanted if n not in found]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; found {sorted(found)}")
    extra: dict[str, list[str]] = {}
    for item in args.args:
        name, _, value = item.partition("=")
        extra[name] = shlex.split(value)

    python = REPO / ".venv" / "bin" / "python"
    sections: list[str] = []
    failed: list[str] = []
    for name in wanted:
        cmd = [str(python if python.exists() else sys.executable), str(found[name]), *extra.get(name, [])]
        print(f"== {name}: {shlex.join(cmd)}", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = -1, str(exc.stdout or ""), f"timed out after {args.timeout:.0f} s"
        seconds = time.perf_counter() - started
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"   {status} in {seconds:.0f} s", flush=True)
        body = tables_of(out) if code == 0 else (out[-2000:] + "\n" + str(err)[-2000:]).strip()
        sections.append(f"## {name} ({status}, {seconds:.0f} s)\n\n`{shlex.join(cmd[1:])}`\n\n{body}\n")
        if code != 0:
            failed.append(name)
    report = "\n".join(sections)
    if failed:
        report += f"\nFailed: {', '.join(failed)}\n"
    print("\n" + report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
