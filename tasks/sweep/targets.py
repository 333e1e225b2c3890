"""Target sets: the text proxy models are evaluated on (validation loss), read from paths (local or s3://).

A target is written ``NAME=[FORMAT:]PATH`` on the command line and in the DAG's Params, e.g.
``wikitext2=/data/eval/wikitext-2/wiki.test.txt`` or ``hellaswag=hellaswag:/data/eval/hellaswag/val.txt.bz2``.
Formats:

* ``text``: a plain text file (``.bz2``/``.gz``/``.xz`` are decompressed);
* ``jsonl``: one JSON object per line; its string fields are joined (GSM8K's question + answer);
* ``mmlu``: a directory of MMLU csv files (question, four choices, answer letter; no header) or one such file;
  rendered as a question with lettered choices and the answer, subjects interleaved;
* ``hellaswag``: the llama.cpp layout (``label: context`` / gold index / four endings); rendered as the context
  followed by its gold ending;
* ``parquet``: a ``text`` column.

``auto`` picks by path: a directory → mmlu, ``*.jsonl`` → jsonl, ``*.parquet`` → parquet, a name containing
``hellaswag`` → hellaswag, else text. Only the first ``max_bytes`` of rendered text are used (MMLU interleaves
subjects so that a prefix covers all of them).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from typing import Literal, get_args

from tasks.storage import list_files, read_parquet, resolve, validate_name

TargetFormat = Literal["auto", "text", "jsonl", "mmlu", "hellaswag", "parquet"]
FORMATS: tuple[str, ...] = get_args(TargetFormat)
HELDOUT = "heldout"  # the name of the automatic target: held-out documents of the scored corpus


@dataclass(frozen=True)
class TargetSpec:
    name: str
    path: str
    format: TargetFormat = "auto"
    max_bytes: int = 2_000_000

    def __post_init__(self) -> None:
        validate_name(self.name, "target name")
        if self.name == HELDOUT:
            raise ValueError(f"target name {HELDOUT!r} is reserved for the corpus's held-out documents")
        if self.format not in FORMATS:
            raise ValueError(f"unknown target format {self.format!r}; one of {', '.join(FORMATS)}")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")

    @classmethod
    def parse(cls, text: str, max_bytes: int = 2_000_000) -> TargetSpec:
        """``NAME=[FORMAT:]PATH``."""
        if "=" not in text:
            raise ValueError(f"target {text!r} is not NAME=[FORMAT:]PATH")
        name, rest = text.split("=", 1)
        fmt: str = "auto"
        head, sep, tail = rest.partition(":")
        if sep and head in FORMATS and not tail.startswith("//"):
            fmt, rest = head, tail
        return cls(name=name.strip(), path=rest.strip(), format=fmt, max_bytes=max_bytes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "path": self.path, "format": self.format, "max_bytes": self.max_bytes}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TargetSpec:
        return cls(
            name=str(data["name"]),
            path=str(data["path"]),
            format=str(data.get("format", "auto")),  # type: ignore[arg-type]
            max_bytes=int(data.get("max_bytes", 2_000_000)),  # type: ignore[call-overload]
        )


def default_targets(eval_dir: str) -> tuple[TargetSpec, ...]:
    """The standard target sets under an eval-data directory laid out like ``../shared/data/eval``."""
    return (
        TargetSpec("wikitext2", os.path.join(eval_dir, "wikitext-2", "wiki.test.txt"), "text"),
        TargetSpec(
            "hellaswag", os.path.join(eval_dir, "hellaswag", "hellaswag_val_full.txt.bz2"), "hellaswag"
        ),
        TargetSpec("mmlu", os.path.join(eval_dir, "mmlu", "test"), "mmlu"),
    )


def _detect(spec: TargetSpec) -> str:
    if spec.format != "auto":
        return spec.format
    fs, path = resolve(spec.path)
    if fs.isdir(path):
        return "mmlu"
    low = spec.path.lower()
    if ".jsonl" in low:
        return "jsonl"
    if low.endswith(".parquet"):
        return "parquet"
    if "hellaswag" in low:
        return "hellaswag"
    return "text"


def _read_text(url: str, limit: int) -> str:
    fs, path = resolve(url)
    if not fs.exists(path):
        raise FileNotFoundError(f"target file not found: {url}")
    with fs.open(path, "rb", compression="infer") as fh:
        data = fh.read(limit)
    return data.decode("utf-8", errors="replace")  # type: ignore[no-any-return]


def _render_mmlu(spec: TargetSpec) -> str:
    files = [u for u in list_files(spec.path, (".csv",)) if not u.rsplit("/", 1)[-1].startswith(".")]
    if not files:
        raise FileNotFoundError(f"no MMLU csv files under {spec.path}")
    per_file: list[list[str]] = []
    for url in files:
        rows = []
        for row in csv.reader(io.StringIO(_read_text(url, 1 << 24))):
            if len(row) < 6:
                continue
            q, a, b, c, d, ans = row[:6]
            rows.append(f"{q.strip()}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer: {ans.strip()}\n\n")
        per_file.append(rows)
    out: list[str] = []
    size = 0
    i = 0
    while size < spec.max_bytes and any(i < len(r) for r in per_file):
        for rows in per_file:
            if i < len(rows):
                out.append(rows[i])
                size += len(rows[i])
        i += 1
    return "".join(out)


def _render_hellaswag(spec: TargetSpec) -> str:
    # Read generously: the rendered text drops three of four endings.
    lines = _read_text(spec.path, spec.max_bytes * 4).splitlines()
    out: list[str] = []
    size = 0
    for i in range(0, len(lines) - 5, 6):
        ctx, label = lines[i], lines[i + 1].strip()
        if not label.isdigit() or int(label) > 3:
            continue
        ending = lines[i + 2 + int(label)]
        item = f"{ctx.strip()} {ending.strip()}\n"
        out.append(item)
        size += len(item)
        if size >= spec.max_bytes:
            break
    if not out:
        raise ValueError(f"{spec.path} is not in the hellaswag layout (context / label / four endings)")
    return "".join(out)


def _render_jsonl(spec: TargetSpec) -> str:
    out: list[str] = []
    size = 0
    for line in _read_text(spec.path, spec.max_bytes * 2).splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue  # a truncated last line, or garbage: skipped
        if isinstance(obj, dict):
            item = "\n".join(str(v) for v in obj.values() if isinstance(v, str)) + "\n\n"
        else:
            item = str(obj) + "\n\n"
        out.append(item)
        size += len(item)
        if size >= spec.max_bytes:
            break
    return "".join(out)


def load_target_text(spec: TargetSpec) -> str:
    """The rendered text of a target set (at most ``max_bytes`` of it, roughly)."""
    fmt = _detect(spec)
    if fmt == "mmlu":
        text = _render_mmlu(spec)
    elif fmt == "hellaswag":
        text = _render_hellaswag(spec)
    elif fmt == "jsonl":
        text = _render_jsonl(spec)
    elif fmt == "parquet":
        texts = read_parquet(spec.path, columns=["text"]).column("text").to_pylist()
        text = "\n\n".join(t for t in texts if t)
    else:
        text = _read_text(spec.path, spec.max_bytes)
    text = text[: spec.max_bytes]
    if not text.strip():
        raise ValueError(f"target {spec.name!r} ({spec.path}) has no text")
    return text
