"""Proxy-training throughput: many proxies batched on one device vs one proxy at a time.

Runs the production training loop (``tasks.sweep.trainer.train_proxies``: data streaming, forward, backward,
per-proxy clipping, AdamW) on CPU and, when a CUDA GPU is present, on the GPU, and prints tokens/s and
proxies/hour (at a given per-proxy token budget) side by side::

    .venv/bin/python bench/bench_proxy.py                      # RegMix 1M proxies, 16 at once, CPU (+ GPU)
    .venv/bin/python bench/bench_proxy.py --proxies 128 --devices cuda --steps 30
    .venv/bin/python bench/bench_proxy.py --model tiny --proxies 32 --threads 1

"one at a time" trains single proxies back to back (``--sequential`` of them, extrapolated to ``--proxies``):
what a sweep costs without batching. Training text is tinyshakespeare from ../shared/data when present, else
random bytes (throughput does not depend on the text).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.sweep.model import ProxyModelConfig
from tasks.sweep.tokenizer import encode_documents
from tasks.sweep.trainer import MixtureStream, TrainConfig, train_proxies


def _corpus(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    shared = Path(
        os.environ.get("QUARRY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    text_path = shared / "eval" / "tinyshakespeare" / "input.txt"
    if text_path.exists():
        text = text_path.read_text(encoding="utf-8")
    else:
        rng = np.random.default_rng(seed)
        text = bytes(rng.integers(32, 127, 1_000_000, dtype=np.uint8)).decode()
    docs = [text[i : i + 4000] for i in range(0, len(text), 4000)]
    return encode_documents(docs)


def _run(
    model: ProxyModelConfig,
    train: TrainConfig,
    n: int,
    steps: int,
    device: str,
    tokens: np.ndarray,
    offsets: np.ndarray,
) -> tuple[float, float]:
    """(seconds of training, tokens trained) for ``n`` proxies batched, ``steps`` optimizer steps."""
    values = np.ones(len(offsets) - 1)
    streams = [MixtureStream(tokens, offsets, values, seed=i, chunk=model.seq_len) for i in range(n)]
    budget = steps * train.batch_size * model.seq_len
    out = train_proxies(
        model_config=model,
        train_config=train,
        streams=streams,
        seeds=list(range(n)),
        token_budget=budget,
        targets={},
        device=device,
    )
    return out.train_seconds, float(n * budget)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="regmix-1m", choices=["regmix-1m", "small", "tiny"])
    ap.add_argument("--proxies", type=int, default=16, help="proxies trained together (batched)")
    ap.add_argument(
        "--sequential", type=int, default=2, help="single proxies timed for the one-at-a-time rate"
    )
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps timed (after a warm-up run)")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per step per proxy")
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--budget", type=float, default=1e9, help="tokens per proxy for the proxies/hour column")
    ap.add_argument("--devices", default="auto", help="comma list: cpu,cuda (auto: cpu + cuda when present)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()

    overrides = {"seq_len": args.seq_len} if args.seq_len else {}
    model = ProxyModelConfig.preset(args.model, **overrides)
    train = TrainConfig(batch_size=args.batch_size, threads=args.threads)
    devices = (
        ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        if args.devices == "auto"
        else (args.devices.split(","))
    )
    tokens, offsets = _corpus()
    print(
        f"model {args.model}: {model.n_params():,} parameters ({model.n_params(embeddings=False):,} "
        f"non-embedding), seq_len {model.seq_len}, batch {args.batch_size} sequences/proxy/step; "
        f"torch {torch.__version__}, {torch.get_num_threads() if args.threads is None else args.threads} "
        "CPU threads"
    )
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    rows = []
    for device in devices:
        _run(model, train, min(2, args.proxies), 2, device, tokens, offsets)  # warm-up (allocator, kernels)
        secs, toks = _run(model, train, args.proxies, args.steps, device, tokens, offsets)
        batched = toks / secs
        seq_secs = seq_toks = 0.0
        for _ in range(max(1, args.sequential)):
            s, t = _run(model, train, 1, args.steps, device, tokens, offsets)
            seq_secs += s
            seq_toks += t
        single = seq_toks / seq_secs
        rows.append(
            (device, f"batched x{args.proxies}", batched, batched / args.budget * 3600, batched / single)
        )
        rows.append((device, "one at a time", single, single / args.budget * 3600, 1.0))
    print(
        f"\n{'device':<8}{'mode':<18}{'tokens/s':>14}{'proxies/hour':>16}{'speed-up':>10}   "
        f"(proxies/hour at {args.budget:,.0f} tokens per proxy)"
    )
    for device, mode, tps, pph, speed in rows:
        print(f"{device:<8}{mode:<18}{tps:>14,.0f}{pph:>16,.2f}{speed:>9.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
