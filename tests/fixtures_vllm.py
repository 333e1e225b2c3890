"""Fixtures for the rater / distill / score / cluster tests (register with ``pytest_plugins = ["fixtures_vllm"]``).

- ``vllm_server`` (session): a real vLLM-on-CPU OpenAI-compatible server serving SmolLM2-135M-Instruct on a free
  127.0.0.1 port, built by ``infra/vllm/setup.sh`` (idempotent; slow only the first time) and started by
  ``infra/vllm/serve.sh``. The object can ``kill()`` (SIGKILL, to simulate a crash) and ``start()`` again.
- ``build_documents``: writes a small documents/ store (docs/CONTRACT.md schema) from real text in
  ``../shared/data``: web documents (CCNet/C4 JSONL), French/Swedish/Finnish web pages (Turku CORE register
  corpora, with their human register labels kept aside for tests), and Wikipedia paragraphs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import lzma
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tasks.ingest.shard import DOCUMENT_SCHEMA

REPO = Path(__file__).resolve().parent.parent
TOKEN_RE = re.compile(r"\w+|[^\w\s]")

DOC_SCHEMA = DOCUMENT_SCHEMA  # the documents/ schema the ingest stage writes


# ------------------------------------------------------------------------------------------------------------
# documents
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceDoc:
    url: str
    text: str
    language: str
    label: str | None = None  # a human register label where the source has one


def _jsonl_gz(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def web_docs(shared_data: Path) -> list[SourceDoc]:
    """~70 English web documents from CCNet/RedPajama (dolma fixtures) and C4 (OLMo fixtures)."""
    base = shared_data / "crawl" / "cc-derived-jsonl"
    out: list[SourceDoc] = []
    for path in sorted(base.glob("*/*.gz")):
        for i, row in enumerate(_jsonl_gz(path)):
            text = str(row.get("text") or "")
            meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            url = str(
                row.get("url")
                or (meta or {}).get("url")
                or row.get("id")
                or f"https://{path.stem}.example/{i}"
            )
            if len(text) > 200:
                out.append(SourceDoc(url, text, "en"))
    return out


def register_docs(shared_data: Path, corpus: str, language: str, limit: int) -> list[SourceDoc]:
    """Web pages with human register labels (Turku CORE corpora): ``labels<TAB>text``."""
    path = shared_data / "labels" / "turku-register" / corpus / "dev.tsv.xz"
    out: list[SourceDoc] = []
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            labels, _, text = line.rstrip("\n").partition("\t")
            if len(text) < 300:
                continue
            out.append(SourceDoc(f"https://{corpus.lower()}.example/{i}", text, language, labels.split()[0]))
            if len(out) >= limit:
                break
    return out


def wiki_docs(shared_data: Path, limit: int) -> list[SourceDoc]:
    text = (shared_data / "eval" / "wikitext-2" / "wiki.valid.txt").read_text(encoding="utf-8")
    paras = [p.strip() for p in text.split("\n") if len(p.strip()) > 400 and not p.strip().startswith("=")]
    return [SourceDoc(f"https://en.wikipedia.example/{i}", p, "en") for i, p in enumerate(paras[:limit])]


def doc_id(url: str, text: str) -> str:
    return hashlib.blake2b(f"{url}\n{text}".encode(), digest_size=16).hexdigest()


def write_documents(
    root: str | Path, docs: list[SourceDoc], snapshot: str = "CC-TEST-2024-01", n_shards: int = 2
) -> list[str]:
    """Write ``docs`` as ``n_shards`` documents shards (CONTRACT schema, sorted by warc_offset); return ids."""
    from tasks.storage import Store, write_parquet_atomic

    store = Store(str(root))
    ids: list[str] = []
    for shard_no in range(n_shards):
        part = docs[shard_no::n_shards]
        rows = []
        for j, d in enumerate(part):
            did = doc_id(d.url, d.text)
            ids.append(did)
            rows.append(
                {
                    "id": did,
                    "url": d.url,
                    "snapshot": snapshot,
                    "warc_file": f"test-{shard_no:05d}.warc.gz",
                    "warc_offset": j * 1000,
                    "source": "jsonl",
                    "text": d.text,
                    "language": d.language,
                    "language_score": 0.9,
                    "n_chars": len(d.text),
                    "n_tokens": len(TOKEN_RE.findall(d.text)),
                    "fetch_time": "2024-01-01T00:00:00Z",
                }
            )
        write_parquet_atomic(
            store.document_shard(snapshot, f"shard-{shard_no:05d}"),
            pa.Table.from_pylist(rows, schema=DOC_SCHEMA),
        )
    return ids


def mixed_corpus(
    shared_data: Path, en_web: int = 30, per_register: int = 8, wiki: int = 10
) -> list[SourceDoc]:
    docs = web_docs(shared_data)[:en_web]
    docs += register_docs(shared_data, "FrCORE", "fr", per_register)
    docs += register_docs(shared_data, "SvCORE", "sv", per_register)
    docs += register_docs(shared_data, "FinCORE", "fi", per_register)
    docs += wiki_docs(shared_data, wiki)
    return docs


# ------------------------------------------------------------------------------------------------------------
# the vLLM server
# ------------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VllmServer:
    """A vLLM server started by ``infra/vllm/serve.sh``; ``url`` is the OpenAI base (…/v1)."""

    def __init__(self, port: int, run_dir: Path) -> None:
        self.port = port
        self.run_dir = run_dir
        self.url = f"http://127.0.0.1:{port}/v1"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"vllm-{self.port}.pid"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "QUARRY_VLLM_RUN_DIR": str(self.run_dir)}

    def start(self) -> None:
        proc = subprocess.run(
            ["bash", str(REPO / "infra" / "vllm" / "serve.sh"), str(self.port)],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"vLLM server did not start:\n{proc.stdout}\n{proc.stderr}")

    def _signal(self, sig: int) -> None:
        if not self.pidfile.exists():
            return
        pid = int(self.pidfile.read_text().strip())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)  # serve.sh starts it with setsid: pid == process group id
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        # make sure the engine core child is gone too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/models", timeout=5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def ensure_running(self) -> None:
        """Start the server again if a test left it down (e.g. after killing it)."""
        if not self.alive():
            self.stop()
            self.start()

    def kill(self) -> None:
        """Simulate a crash: SIGKILL the whole server process group."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)


def ensure_vllm_env() -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "infra" / "vllm" / "setup.sh")], capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(f"infra/vllm/setup.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


# One server per test session even when several test modules import the fixture (each import is its own
# fixture definition): the instance is shared and stopped when its last user is torn down.
_SHARED: dict[str, Any] = {"server": None, "users": 0}


@pytest.fixture(scope="session", name="vllm_server")
def vllm_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """The session's real vLLM server (fixture name ``vllm_server``)."""
    if _SHARED["server"] is None:
        ensure_vllm_env()
        server = VllmServer(free_port(), tmp_path_factory.mktemp("vllm-run"))
        server.start()
        _SHARED["server"] = server
    shared: VllmServer = _SHARED["server"]
    shared.ensure_running()
    _SHARED["users"] += 1
    try:
        yield shared
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            shared.stop()
            _SHARED["server"] = None


# ------------------------------------------------------------------------------------------------------------
# ratings derived from human labels (for distill/score tests that do not need the LLM)
# ------------------------------------------------------------------------------------------------------------
REGISTER_EDU = {"IN": 4.0, "HI": 4.0, "IP": 2.5, "OP": 2.0, "ID": 1.0, "NA": 1.0}


def register_rated_docs(shared_data: Path, per_corpus: int = 80) -> list[SourceDoc]:
    """French and Swedish web pages with their human register labels (NA, IN, IP, ...)."""
    return register_docs(shared_data, "FrCORE", "fr", per_corpus) + register_docs(
        shared_data, "SvCORE", "sv", per_corpus
    )


def write_label_ratings(
    root: str | Path, docs: list[SourceDoc], name: str = "human", heldout_every: int = 5
) -> None:
    """Write ``ratings/<name>/`` in the rate stage's format, with values taken from HUMAN register labels
    (not from an LLM): educational_value from the register (informational/how-to high, narrative low, a small
    deterministic jitter so it is continuous) and the register itself as the ``domain`` label. Every
    ``heldout_every``-th document is held out."""
    from tasks.rate.criteria import CRITERIA, text_hash
    from tasks.storage import Store, join, write_json_atomic, write_parquet_atomic

    store = Store(str(root))
    rows = []
    for i, d in enumerate(docs):
        label = d.label or "NA"
        jitter = (int(hashlib.blake2b(d.url.encode(), digest_size=2).hexdigest(), 16) / 65535 - 0.5) * 0.6
        did = doc_id(d.url, d.text)
        rows.append(
            {
                "id": did,
                "snapshot": "CC-TEST-2024-01",
                "shard": "shard-00000",
                "url": d.url,
                "language": d.language,
                "stratum": f"{d.language}|-",
                "split": "heldout" if i % heldout_every == 0 else "train",
                "text": d.text[:4000],
                "doc_hash": text_hash(d.text[:4000]),
                "doc_status": "ok",
                "orig_chars": len(d.text),
                "sent_chars": min(len(d.text), 4000),
                "truncated": len(d.text) > 4000,
                "injection_suspected": False,
                "educational_value": REGISTER_EDU.get(label, 1.0) + jitter,
                "educational_value__status": "ok",
                "domain": label if label in ("NA", "IN", "IP") else "other",
                "domain_score": 1.0,
                "domain_probs": "{}",
                "domain__status": "ok",
            }
        )
    base = join(store.ratings(), name)
    write_parquet_atomic(join(base, "ratings.parquet"), pa.Table.from_pylist(rows))
    crit = {
        c: {"key": CRITERIA[c].key, "kind": CRITERIA[c].kind, "version": CRITERIA[c].version}
        for c in ("educational_value", "domain")
    }
    write_json_atomic(
        join(base, "meta.json"),
        {
            "name": name,
            "model": "human-register-labels",
            "criteria": crit,
            "complete": True,
            "n_sampled": len(rows),
        },
    )
