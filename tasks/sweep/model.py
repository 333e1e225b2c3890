"""Many small decoder-only LMs trained as one: every weight has a leading "proxy" dimension ``P``.

The architecture is RegMix's 1M-parameter proxy (a LLaMA-style block: RMSNorm, rotary attention, SwiGLU MLP,
no biases, untied output head; 2 layers, 8 heads, width 256, MLP 512), with a byte-level vocabulary. ``P``
proxies are stacked: the embedding is one lookup into a ``(P·V) × d`` table, every projection is a batched
matmul (``torch.bmm`` over ``P``), attention runs on ``P·B`` sequences at once, and the loss is kept per proxy.
One optimizer step therefore advances all ``P`` models with a handful of large kernels instead of ``P`` sets
of small, launch-bound ones: this is what makes a sweep of hundreds of proxies affordable on one GPU. On CPU the
work is compute-bound either way (batched runs at the one-at-a-time rate; the trainer splits passes so that
activations stay in cache); ``bench/bench_proxy.py`` prints both side by side.

The proxies never interact: their parameters are disjoint slices, element-wise optimizers (AdamW) act per
element, and gradient clipping is done per proxy (:func:`clip_and_mask_`), so a diverging proxy is masked
without disturbing the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.sweep.tokenizer import VOCAB_SIZE


@dataclass(frozen=True)
class ProxyModelConfig:
    n_layer: int = 2
    n_head: int = 8
    d_model: int = 256
    d_ff: int = 512
    seq_len: int = 512
    vocab_size: int = VOCAB_SIZE
    rope_base: float = 10000.0
    init_std: float = 0.02
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "d_model", "d_ff", "seq_len", "vocab_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError("d_model must be a multiple of n_head with an even head size (rotary)")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ProxyModelConfig:
        """``regmix-1m`` (the default shape), ``small`` or ``tiny`` (for CPU tests)."""
        presets: dict[str, dict[str, Any]] = {
            "regmix-1m": {},
            "small": {"n_layer": 2, "n_head": 4, "d_model": 96, "d_ff": 192, "seq_len": 256},
            "tiny": {"n_layer": 1, "n_head": 2, "d_model": 32, "d_ff": 64, "seq_len": 64},
        }
        if name not in presets:
            raise ValueError(f"unknown model preset {name!r}; one of {', '.join(presets)}")
        return cls(**{**presets[name], **overrides})

    def n_params(self, embeddings: bool = True) -> int:
        d, f, v = self.d_model, self.d_ff, self.vocab_size
        per_layer = 4 * d * d + 3 * d * f + 2 * d
        emb = 2 * v * d if embeddings else 0
        return self.n_layer * per_layer + d + emb

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    # x: [P, N, d], weight: [P, d]
    xf = x.float()
    out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (out * weight.float()[:, None, :]).to(x.dtype)


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    # x: [N, H, T, hd]; cos/sin: [T, hd/2]
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)


class BatchedProxyLM(nn.Module):
    """``P`` independent decoder-only LMs with stacked weights."""

    cos: Tensor
    sin: Tensor
    vocab_offsets: Tensor

    def __init__(
        self, config: ProxyModelConfig, seeds: Sequence[int], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__()
        self.config = config
        self.n_proxies = P = len(seeds)
        if P < 1:
            raise ValueError("need at least one proxy")
        d, f, v, L = config.d_model, config.d_ff, config.vocab_size, config.n_layer
        shapes: dict[str, tuple[int, ...]] = {"wte": (v, d), "norm_f": (d,), "head": (d, v)}
        for i in range(L):
            shapes.update(
                {
                    f"l{i}.norm1": (d,),
                    f"l{i}.qkv": (d, 3 * d),
                    f"l{i}.proj": (d, d),
                    f"l{i}.norm2": (d,),
                    f"l{i}.fc": (d, 2 * f),
                    f"l{i}.out": (f, d),
                }
            )
        self.names = list(shapes)
        self.weights = nn.ParameterDict()
        for name, shape in shapes.items():
            self.weights[name.replace(".", "_")] = nn.Parameter(torch.empty((P, *shape)))
        self._init_weights(seeds)
        self.to(device)
        hd = d // config.n_head
        inv = 1.0 / (config.rope_base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        t = torch.arange(config.seq_len, dtype=torch.float32)
        freqs = torch.outer(t, inv)
        self.register_buffer("cos", freqs.cos().to(device), persistent=False)
        self.register_buffer("sin", freqs.sin().to(device), persistent=False)
        self.register_buffer("vocab_offsets", (torch.arange(P) * v).to(device), persistent=False)

    def w(self, name: str) -> Tensor:
        param: Tensor = self.weights[name.replace(".", "_")]
        return param

    @torch.no_grad()
    def _init_weights(self, seeds: Sequence[int]) -> None:
        """Each proxy is initialised from its own seed, so its weights do not depend on its batch-mates."""
        std = self.config.init_std
        out_std = std / math.sqrt(2 * self.config.n_layer)
        for p, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for name in self.names:
                param = self.w(name)
                if "norm" in name:
                    param[p].fill_(1.0)
                else:
                    s = out_std if name.endswith((".proj", ".out")) else std
                    param[p].copy_(torch.randn(param.shape[1:], generator=gen) * s)

    def matrices(self) -> list[Tensor]:
        return [self.w(n) for n in self.names if "norm" not in n]

    def norms(self) -> list[Tensor]:
        return [self.w(n) for n in self.names if "norm" in n]

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens: [P, B, T] (int) → logits [P, B·T, V]."""
        cfg = self.config
        P, B, T = tokens.shape
        if self.n_proxies != P:
            raise ValueError(f"tokens for {P} proxies, model has {self.n_proxies}")
        if cfg.seq_len < T:
            raise ValueError(f"sequence length {T} > model seq_len {cfg.seq_len}")
        H, d = cfg.n_head, cfg.d_model
        hd = d // H
        idx = (tokens.long() + self.vocab_offsets[:, None, None]).reshape(P, B * T)
        x = F.embedding(idx, self.w("wte").reshape(P * cfg.vocab_size, d))  # [P, B·T, d]
        cos, sin = self.cos[:T], self.sin[:T]
        for i in range(cfg.n_layer):
            h = _rms_norm(x, self.w(f"l{i}.norm1"), cfg.norm_eps)
            qkv = torch.bmm(h, self.w(f"l{i}.qkv").to(h.dtype))  # [P, B·T, 3d]
            qkv = qkv.view(P, B, T, 3, H, hd).permute(3, 0, 1, 4, 2, 5).reshape(3, P * B, H, T, hd)
            q, k, v = _rope(qkv[0], cos, sin), _rope(qkv[1], cos, sin), qkv[2]
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [P·B, H, T, hd]
            a = a.view(P, B, H, T, hd).permute(0, 1, 3, 2, 4).reshape(P, B * T, d)
            x = x + torch.bmm(a, self.w(f"l{i}.proj").to(a.dtype))
            h = _rms_norm(x, self.w(f"l{i}.norm2"), cfg.norm_eps)
            gate, up = torch.bmm(h, self.w(f"l{i}.fc").to(h.dtype)).chunk(2, dim=-1)
            x = x + torch.bmm(F.silu(gate) * up, self.w(f"l{i}.out").to(h.dtype))
        x = _rms_norm(x, self.w("norm_f"), cfg.norm_eps)
        return torch.bmm(x, self.w("head").to(x.dtype))

    def token_losses(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy per token: [P, B, T] (float32)."""
        P, B, T = inputs.shape
        logits = self(inputs)
        loss = F.cross_entropy(
            logits.reshape(-1, self.config.vocab_size).float(), targets.reshape(-1).long(), reduction="none"
        )
        return loss.view(P, B, T)


def clip_and_mask_(params: Sequence[Tensor], max_norm: float, dead: Tensor) -> Tensor:
    """Per-proxy gradient clipping; proxies in ``dead`` (bool [P]) or with a non-finite gradient get a zero
    gradient. Returns the per-proxy gradient norm (before clipping)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros_like(dead, dtype=torch.float32)
    sq = torch.stack([g.float().pow(2).flatten(1).sum(1) for g in grads]).sum(0)
    norm = sq.sqrt()
    bad = dead | ~torch.isfinite(norm)
    coef = torch.where(bad, torch.zeros_like(norm), (max_norm / (norm + 1e-6)).clamp(max=1.0))
    for g in grads:
        shape = (-1,) + (1,) * (g.dim() - 1)
        g.mul_(coef.view(shape).to(g.dtype))
        g.masked_fill_(bad.view(shape).expand_as(g), 0.0)
    return norm
