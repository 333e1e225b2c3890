"""Train a group of proxies at once on their mixtures and evaluate them on the target sets.

Each proxy reads its own token stream: the documents its sampling function selected, each repeated as often
as its repetition count says, shuffled (per proxy seed) and concatenated with an end-of-document token, read
front to back for ``token_budget`` tokens (and re-shuffled when exhausted: the mixture is then repeated, which is
exactly what a too-small mixture means). Evaluation is the mean next-byte loss (nats) over non-overlapping
windows of each target set, and per held-out document for the quality-illusion report.

A proxy whose loss becomes non-finite is marked diverged at that step; its gradient is zeroed from then on and
it is reported as failed, the others continue unaffected.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from tasks.sweep.model import BatchedProxyLM, ProxyModelConfig, clip_and_mask_
from tasks.sweep.tokenizer import EOS, TokenArray

log = logging.getLogger(__name__)

Fault = Literal["nan", "die"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of every proxy (RegMix: AdamW, warm-up, then a constant or decaying rate)."""

    batch_size: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_tokens: int = 131_072  # per target set
    eval_batch_size: int = 64  # windows per evaluation step
    heldout_tokens_per_doc: int = 0  # 0: the model's seq_len
    chunk_tokens: int = 0  # unit of the mixture stream's draws and shuffle; 0: the model's seq_len
    max_tokens_per_pass: int = 0  # tokens (all proxies) per forward pass; 0: 16k on CPU, 2M on GPU
    threads: int | None = None  # torch CPU threads (None: torch's default)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.lr <= 0 or self.eval_tokens < 1 or self.eval_batch_size < 1:
            raise ValueError("batch_size, lr, eval_tokens and eval_batch_size must be positive")
        if not 0 <= self.warmup_fraction < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("warmup_fraction must be in [0, 1) and min_lr_ratio in [0, 1]")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MixtureStream:
    """An endless token stream over one proxy's mixture.

    Every document is cut into chunks of ``chunk`` tokens and each chunk gets the document's sampling value
    ``a.b``: ``a`` copies plus one more with probability ``b``, drawn per chunk (per seed). The copies are
    shuffled (re-shuffled every epoch) and read back to back. Drawing and shuffling chunks rather than whole
    documents keeps the mixture's expected composition but cuts the seed-to-seed noise of a proxy's loss
    several-fold when the sample has few documents or the budget is smaller than the mixture: the loss then
    reflects the sampling function, not which documents happened to be drawn or to come first."""

    def __init__(
        self,
        tokens: TokenArray,
        offsets: npt.NDArray[np.int64],
        values: npt.ArrayLike,
        seed: int,
        chunk: int = 256,
    ) -> None:
        self.tokens = tokens
        v = np.asarray(values, dtype=np.float64)
        v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
        lengths = offsets[1:] - offsets[:-1]
        n_chunks = (lengths + chunk - 1) // chunk
        doc = np.repeat(np.arange(len(v)), n_chunks)
        first = np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
        within = np.arange(len(doc)) - first
        self.rng = np.random.default_rng(seed)
        cv = v[doc]
        copies = (np.floor(cv) + (self.rng.random(len(doc)) < cv - np.floor(cv))).astype(np.int64)
        start = offsets[doc] + within * chunk
        end = np.minimum(start + chunk, offsets[doc + 1])
        self.unit_start = np.repeat(start, copies)
        self.unit_end = np.repeat(end, copies)
        self.length = int((self.unit_end - self.unit_start).sum())
        self.order = self.rng.permutation(len(self.unit_start))
        self.i = 0
        self.pos = 0
        self.epochs = 0

    @property
    def empty(self) -> bool:
        return self.length == 0

    def take(self, n: int) -> npt.NDArray[np.int64]:
        if self.empty:
            raise ValueError("empty mixture")
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            if self.i >= len(self.order):
                self.order = self.rng.permutation(len(self.unit_start))
                self.i, self.pos = 0, 0
                self.epochs += 1
            u = self.order[self.i]
            start, end = int(self.unit_start[u]) + self.pos, int(self.unit_end[u])
            k = min(end - start, n - filled)
            out[filled : filled + k] = self.tokens[start : start + k]
            filled += k
            self.pos += k
            if start + k >= end:
                self.i += 1
                self.pos = 0
        return out


@dataclass
class ProxyOutcome:
    status: Literal["completed", "diverged", "empty"]
    losses: dict[str, float] = field(default_factory=dict)
    final_train_loss: float | None = None
    diverged_at_step: int | None = None
    steps: int = 0
    tokens_trained: int = 0
    mixture_epochs: float = 0.0
    heldout_doc_losses: list[float] | None = None


@dataclass
class GroupOutcome:
    proxies: list[ProxyOutcome]
    seconds: float
    train_seconds: float
    tokens_per_second: float
    device: str


_ALLOCATOR_TUNED = False


def tune_cpu_allocator() -> bool:
    """Keep freed activation buffers in the process instead of unmapping them after every step.

    glibc returns large blocks to the kernel on free (mmap threshold, heap trimming), so a CPU training loop
    whose activations are tens of MB pays page faults on every step (a third of the time here). Raising the
    thresholds once per process fixes that; opt out with ``QUARRY_MALLOC_TUNING=0``. No-op off glibc."""
    global _ALLOCATOR_TUNED
    if (
        _ALLOCATOR_TUNED
        or os.environ.get("QUARRY_MALLOC_TUNING", "1") == "0"
        or not sys.platform.startswith("linux")
    ):
        return _ALLOCATOR_TUNED
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        ok = libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024) == 1
        ok &= libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024) == 1
        ok &= libc.mallopt(m_top_pad, 64 * 1024 * 1024) == 1
    except (OSError, AttributeError):
        return False
    _ALLOCATOR_TUNED = bool(ok)
    return _ALLOCATOR_TUNED


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def _rows_per_pass(P: int, T: int, rows: int, cfg: TrainConfig, dev: torch.device) -> int:
    """Sequences per proxy in one forward pass: all ``rows``, unless that exceeds the token cap (on CPU large
    activations fall out of cache and run 2x slower than the same work in pieces; on GPU it bounds memory)."""
    cap = cfg.max_tokens_per_pass or (16_384 if dev.type == "cpu" else 2_097_152)
    return max(1, min(rows, cap // max(1, P * T)))


def _lr_at(step: int, steps: int, cfg: TrainConfig) -> float:
    warm = max(1, int(cfg.warmup_fraction * steps))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _windows(tokens: TokenArray, seq_len: int, max_tokens: int) -> npt.NDArray[np.int64]:
    n = min((len(tokens) - 1) // seq_len, max(1, max_tokens // seq_len))
    if n < 1:
        return np.zeros((0, seq_len + 1), dtype=np.int64)
    idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    out: npt.NDArray[np.int64] = tokens[idx].astype(np.int64)
    return out


def _autocast(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def evaluate_windows(
    model: BatchedProxyLM, windows: npt.NDArray[np.int64], batch: int, device: torch.device
) -> npt.NDArray[np.float64]:
    """Mean token loss of every proxy over ``windows`` ([n, T+1]); returns [P]."""
    P = model.n_proxies
    total = torch.zeros(P, dtype=torch.float64, device=device)
    count = 0
    for s in range(0, len(windows), batch):
        w = torch.from_numpy(windows[s : s + batch]).to(device)
        x = w[:, :-1].unsqueeze(0).expand(P, -1, -1)
        y = w[:, 1:].unsqueeze(0).expand(P, -1, -1)
        with _autocast(device):
            loss = model.token_losses(x, y)
        total += loss.double().sum(dim=(1, 2))
        count += y.shape[1] * y.shape[2]
    out: npt.NDArray[np.float64] = (total / max(1, count)).cpu().numpy()
    return out


@torch.no_grad()
def evaluate_documents(
    model: BatchedProxyLM, docs: Sequence[TokenArray], length: int, batch: int, device: torch.device
) -> npt.NDArray[np.float64]:
    """Mean token loss of every proxy on the first ``length`` predicted tokens of each document: [P, n_docs]
    (NaN for a document too short to predict anything)."""
    P = model.n_proxies
    n = len(docs)
    out = np.full((P, n), np.nan)
    for s in range(0, n, batch):
        chunk = docs[s : s + batch]
        arr = np.full((len(chunk), length + 1), EOS, dtype=np.int64)
        mask = np.zeros((len(chunk), length), dtype=bool)
        for j, d in enumerate(chunk):
            k = min(len(d), length + 1)
            arr[j, :k] = d[:k]
            mask[j, : max(0, k - 1)] = True
        w = torch.from_numpy(arr).to(device)
        m = torch.from_numpy(mask).to(device)
        x = w[:, :-1].unsqueeze(0).expand(P, -1, -1)
        y = w[:, 1:].unsqueeze(0).expand(P, -1, -1)
        with _autocast(device):
            loss = model.token_losses(x, y)
        per = (loss.double() * m).sum(-1) / m.sum(-1).clamp(min=1)
        per = torch.where(m.sum(-1) > 0, per, torch.full_like(per, float("nan")))
        out[:, s : s + len(chunk)] = per.cpu().numpy()
    return out


def make_stream(
    tokens: TokenArray,
    offsets: npt.NDArray[np.int64],
    values: npt.ArrayLike,
    seed: int,
    model_config: ProxyModelConfig,
    train_config: TrainConfig,
) -> MixtureStream:
    return MixtureStream(
        tokens, offsets, values, seed, chunk=train_config.chunk_tokens or model_config.seq_len
    )


def train_proxies(
    *,
    model_config: ProxyModelConfig,
    train_config: TrainConfig,
    streams: Sequence[MixtureStream],
    seeds: Sequence[int],
    token_budget: int,
    targets: Mapping[str, TokenArray],
    heldout_docs: Sequence[TokenArray] = (),
    device: str = "auto",
    faults: Mapping[int, Fault] | None = None,
    keep_doc_losses: bool = False,
) -> GroupOutcome:
    """Train one proxy per stream (all at once), then evaluate them. Streams that are empty are not trained
    (status ``empty``). ``faults`` (index → ``nan``/``die``) injects a divergence or a crash: a testing hook."""
    t0 = time.perf_counter()
    faults = dict(faults or {})
    if any(v == "die" for v in faults.values()):
        raise RuntimeError("injected fault: proxy worker died")
    if train_config.threads:
        torch.set_num_threads(train_config.threads)
    dev = resolve_device(device)
    if dev.type == "cpu":
        tune_cpu_allocator()
    outcomes: list[ProxyOutcome | None] = [ProxyOutcome(status="empty") if s.empty else None for s in streams]
    live = [i for i, s in enumerate(streams) if not s.empty]
    if not live:
        return GroupOutcome(
            [o for o in outcomes if o is not None], time.perf_counter() - t0, 0.0, 0.0, str(dev)
        )

    T, B = model_config.seq_len, train_config.batch_size
    steps = max(1, math.ceil(token_budget / (B * T)))
    model = BatchedProxyLM(model_config, [seeds[i] for i in live], device=dev)
    P = model.n_proxies
    decay, no_decay = model.matrices(), model.norms()
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": train_config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=train_config.lr,
        betas=(train_config.beta1, train_config.beta2),
        fused=dev.type == "cuda",
    )
    dead = torch.zeros(P, dtype=torch.bool, device=dev)
    diverged_at: list[int | None] = [None] * P
    poison = torch.ones(P, device=dev)
    nan_at = steps // 2
    last_loss = torch.zeros(P, device=dev)
    pin = dev.type == "cuda"
    micro = _rows_per_pass(P, T, B, train_config, dev)
    t_train = time.perf_counter()
    for step in range(steps):
        batch = np.stack([streams[i].take(B * T + 1) for i in live])  # [P, B·T+1]
        xb = torch.from_numpy(batch)
        if pin:
            xb = xb.pin_memory()
        xb = xb.to(dev, non_blocking=True)
        x = xb[:, :-1].reshape(P, B, T)
        y = xb[:, 1:].reshape(P, B, T)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, train_config)
        if step == nan_at:
            for j, i in enumerate(live):
                if faults.get(i) == "nan":
                    poison[j] = float("nan")
        opt.zero_grad(set_to_none=True)
        per_proxy = torch.zeros(P, device=dev)
        for s in range(0, B, micro):  # gradient accumulation over micro-batches (same result as one pass)
            with _autocast(dev):
                part = model.token_losses(x[:, s : s + micro], y[:, s : s + micro]).sum(dim=(1, 2))
            part = part / (B * T) * poison
            alive = ~dead & torch.isfinite(part)
            part.masked_fill(~alive, 0.0).sum().backward()
            per_proxy += part.detach()
        bad_now = ~torch.isfinite(per_proxy) & ~dead
        if bool(bad_now.any()):
            for j in torch.nonzero(bad_now).flatten().tolist():
                diverged_at[j] = step
                log.warning(
                    "proxy %d diverged at step %d (loss %s)", seeds[live[j]], step, per_proxy[j].item()
                )
        dead |= bad_now
        clip_and_mask_(list(model.parameters()), train_config.grad_clip, dead)
        opt.step()
        last_loss = torch.where(dead, last_loss, per_proxy.detach())
        if bool(dead.all()):
            break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - t_train
    tokens_total = P * steps * B * T

    model.eval()
    losses: dict[str, np.ndarray] = {}
    for name, toks in targets.items():
        windows = _windows(toks, T, train_config.eval_tokens)
        if len(windows):
            rows = _rows_per_pass(P, T, train_config.eval_batch_size, train_config, dev)
            losses[name] = evaluate_windows(model, windows, rows, dev)
    doc_losses = None
    if heldout_docs:
        length = train_config.heldout_tokens_per_doc or T
        doc_losses = evaluate_documents(
            model,
            heldout_docs,
            min(length, T),
            _rows_per_pass(P, T, train_config.eval_batch_size, train_config, dev),
            dev,
        )
        from tasks.sweep.targets import HELDOUT

        losses[HELDOUT] = np.nanmean(doc_losses, axis=1)
    final = last_loss.cpu().numpy()
    for j, i in enumerate(live):
        row = {name: float(v[j]) for name, v in losses.items()}
        finite = all(math.isfinite(v) for v in row.values())
        if diverged_at[j] is not None or not finite:
            outcomes[i] = ProxyOutcome(
                status="diverged",
                diverged_at_step=diverged_at[j] if diverged_at[j] is not None else steps,
                steps=steps,
                tokens_trained=steps * B * T,
            )
            continue
        outcomes[i] = ProxyOutcome(
            status="completed",
            losses=row,
            final_train_loss=float(final[j]),
            steps=steps,
            tokens_trained=steps * B * T,
            mixture_epochs=(steps * B * T) / max(1, streams[i].length),
            heldout_doc_losses=doc_losses[j].tolist()
            if (keep_doc_losses and doc_losses is not None)
            else None,
        )
    seconds = time.perf_counter() - t0
    return GroupOutcome(
        proxies=[o if o is not None else ProxyOutcome(status="empty") for o in outcomes],
        seconds=seconds,
        train_seconds=train_seconds,
        tokens_per_second=tokens_total / max(train_seconds, 1e-9),
        device=str(dev),
    )
