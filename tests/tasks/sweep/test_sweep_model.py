"""The batched proxy LM and its trainer: proxies are independent, learn, diverge alone, and stream their mixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.sweep.model import BatchedProxyLM, ProxyModelConfig, clip_and_mask_
from tasks.sweep.tokenizer import EOS, VOCAB_SIZE, decode, encode, encode_documents
from tasks.sweep.trainer import MixtureStream, TrainConfig, train_proxies

TINY = ProxyModelConfig.preset("tiny")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_tokenizer_round_trip_and_document_layout() -> None:
    text = "Héllo, wörld — ☃"
    assert decode(encode(text)) == text
    tokens, offsets = encode_documents(["ab", "", "c"])
    assert tokens.tolist() == [97, 98, EOS, EOS, 99, EOS]
    assert offsets.tolist() == [0, 3, 4, 6]
    assert VOCAB_SIZE == 257


def test_proxies_do_not_depend_on_their_batch_mates() -> None:
    torch.manual_seed(0)
    tokens = torch.randint(0, 256, (3, 2, 16))
    big = BatchedProxyLM(TINY, seeds=[11, 22, 33])
    alone = BatchedProxyLM(TINY, seeds=[22])
    assert torch.allclose(big(tokens)[1], alone(tokens[1:2])[0], atol=1e-5)
    # gradients of one proxy's loss touch only its own slice of every weight
    loss = big.token_losses(tokens, tokens)[0].mean()
    loss.backward()
    for p in big.parameters():
        assert p.grad is not None and p.grad[0].abs().sum() > 0
        assert p.grad[1:].abs().sum() == 0
    assert TINY.n_params() == sum(p[0].numel() for p in big.parameters())
    assert ProxyModelConfig().n_params(embeddings=False) == pytest.approx(1.3e6, rel=0.05)  # RegMix's "1M"


def test_clip_and_mask_is_per_proxy() -> None:
    w = torch.nn.Parameter(torch.zeros(3, 4))
    w.grad = torch.tensor([[3.0, 4.0, 0, 0], [0.3, 0.4, 0, 0], [float("nan"), 1, 1, 1]])
    norms = clip_and_mask_([w], max_norm=1.0, dead=torch.tensor([False, False, False]))
    assert norms[:2].tolist() == pytest.approx([5.0, 0.5])
    assert w.grad[0].tolist() == pytest.approx([0.6, 0.8, 0, 0], abs=1e-5)  # clipped to norm 1
    assert w.grad[1].tolist() == pytest.approx([0.3, 0.4, 0, 0])  # under the limit: untouched
    assert w.grad[2].tolist() == [0, 0, 0, 0]  # non-finite: masked


def test_mixture_stream_follows_sampling_values() -> None:
    docs = ["a" * 300, "b" * 300, "c" * 300]
    tokens, offsets = encode_documents(docs)
    stream = MixtureStream(tokens, offsets, np.array([2.0, 1.0, 0.0]), seed=1, chunk=64)
    assert stream.length == 2 * 301 + 301
    seen = np.concatenate([stream.take(500) for _ in range(18)])  # 10 epochs
    counts = {ch: int((seen == ord(ch)).sum()) for ch in "abc"}
    assert counts["c"] == 0
    assert counts["a"] / counts["b"] == pytest.approx(2.0, rel=0.05)
    again = MixtureStream(tokens, offsets, np.array([2.0, 1.0, 0.0]), seed=1, chunk=64)
    assert np.array_equal(again.take(1000), seen[:1000])
    assert MixtureStream(tokens, offsets, np.zeros(3), seed=1).empty
    # fractional values: about that share of chunks, drawn per chunk
    frac = MixtureStream(tokens, offsets, np.array([0.5, 0.5, 0.5]), seed=3, chunk=16)
    assert frac.length == pytest.approx(0.5 * len(tokens), rel=0.25)


def test_training_learns_and_a_diverging_proxy_is_isolated(shared_data: Path) -> None:
    text = (shared_data / "eval" / "tinyshakespeare" / "input.txt").read_text()[:120_000]
    docs = [text[i : i + 2000] for i in range(0, 100_000, 2000)]
    tokens, offsets = encode_documents(docs)
    values = np.ones(len(docs))
    streams = [MixtureStream(tokens, offsets, values, seed=s, chunk=64) for s in range(3)]
    streams.append(MixtureStream(tokens, offsets, np.zeros(len(docs)), seed=9))  # selects nothing
    target = {"held_out_shakespeare": encode(text[100_000:120_000])}
    out = train_proxies(
        model_config=TINY,
        train_config=TrainConfig(lr=3e-3, batch_size=8, eval_tokens=4096, threads=1),
        streams=streams,
        seeds=[0, 0, 1, 2],
        token_budget=48_000,
        targets=target,
        faults={1: "nan"},
    )
    statuses = [p.status for p in out.proxies]
    assert statuses == ["completed", "diverged", "completed", "empty"]
    assert out.proxies[1].diverged_at_step is not None and out.proxies[1].losses == {}
    for p in (out.proxies[0], out.proxies[2]):
        # far below the uniform-byte loss ln(257) ≈ 5.55: they learned, despite their diverged batch-mate
        assert p.losses["held_out_shakespeare"] < 3.6
        assert p.final_train_loss is not None and p.final_train_loss < 3.6
    assert out.tokens_per_second > 0
    with pytest.raises(RuntimeError, match="died"):
        train_proxies(
            model_config=TINY,
            train_config=TrainConfig(),
            streams=streams[:1],
            seeds=[0],
            token_budget=100,
            targets=target,
            faults={0: "die"},
        )
