"""Benchmark: rater throughput (requests/s and ratings/s) against the local vLLM-on-CPU server.

Without --server-url it runs infra/vllm/setup.sh (idempotent), starts infra/vllm/serve.sh on a free 127.0.0.1
port and stops it at the end. Documents are real web pages (CCNet/C4 JSONL and Turku CORE pages from
../shared/data), prepared exactly as the rate stage prepares them.

    .venv/bin/python bench/bench_rater.py [--docs 48] [--batch-sizes 1,8] [--concurrency 4] [--server-url URL]
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def real_texts(shared: Path, n: int) -> list[str]:
    texts: list[str] = []
    for path in sorted((shared / "crawl" / "cc-derived-jsonl").glob("*/*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts += [str(json.loads(line).get("text") or "") for line in fh if line.strip()]
    with lzma.open(shared / "labels" / "turku-register" / "FrCORE" / "dev.tsv.xz", "rt") as fh:
        texts += [line.partition("\t")[2] for line in fh]
    return [t for t in texts if len(t) > 200][:n]


def start_server() -> tuple[str, int]:
    subprocess.run(["bash", str(REPO / "infra" / "vllm" / "setup.sh")], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    out = subprocess.run(
        ["bash", str(REPO / "infra" / "vllm" / "serve.sh"), str(port)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1], port


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-url", default=None)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--docs", type=int, default=48)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-doc-tokens", type=int, default=512)
    ap.add_argument("--criterion", default="educational_value")
    args = ap.parse_args()

    from tasks.rate.client import Job, RaterClient, RaterConfig, check_server
    from tasks.rate.criteria import CRITERIA
    from tasks.rate.stage import prepare_text

    port = None
    url = args.server_url
    if url is None:
        url, port = start_server()
    try:
        info = check_server(RaterConfig(url=url))
        crit = CRITERIA[args.criterion]
        texts = [
            prepare_text(t, args.max_doc_tokens * 3)[0] for t in real_texts(Path(args.shared), args.docs)
        ]
        print(
            f"server {info.url} model {info.model} (max_model_len {info.max_model_len}); {len(texts)} real "
            f"documents, criterion {crit.key}, <= {args.max_doc_tokens} document tokens"
        )
        warm = RaterClient(RaterConfig(url=url), info.model)
        warm.rate([Job("warm", crit, "A short warm-up page.")], lambda o: None)
        sizes = [int(b) for b in args.batch_sizes.split(",")]
        for k, bs in enumerate(sizes):
            subset = texts[k :: len(sizes)]  # distinct documents per run: no help from vLLM's prefix cache
            client = RaterClient(
                RaterConfig(url=url, batch_size=bs, concurrency=args.concurrency), info.model
            )
            got: list[object] = []
            t = time.perf_counter()
            stats = client.rate([Job(f"{bs}-{i}", crit, txt) for i, txt in enumerate(subset)], got.append)
            wall = time.perf_counter() - t
            print(
                f"batch {bs:>2}, concurrency {args.concurrency}: {stats.requests / wall:6.2f} requests/s, "
                f"{stats.ok / wall:6.2f} ratings/s ({stats.ok} ok, {stats.malformed} malformed, {wall:.1f} s)"
            )
    finally:
        if port is not None:
            pidfile = REPO / ".quarry" / "run" / f"vllm-{port}.pid"
            if pidfile.exists():
                os.killpg(int(pidfile.read_text()), signal.SIGTERM)
                pidfile.unlink()


if __name__ == "__main__":
    main()
