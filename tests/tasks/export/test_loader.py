"""The export's PyTorch reader: ranks × DataLoader workers split an epoch without overlap, and a training job
stopped and resumed from its saved state sees exactly the batches of an uninterrupted run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from export_helper import LocalRelease

from tasks.export import ExportConfig, ExportResult, export_release
from tasks.export.loader import ExportDataset, ResumableLoader, fetch_export
from tasks.publish.reader import ChecksumMismatch
from tasks.sweep.model import BatchedProxyLM, ProxyModelConfig

SEQ_LEN = 64
# The proxy's output layer is kept small so that a training step takes milliseconds on 2 CPU cores: token ids
# are folded into PROXY_VOCAB for the model (the data stream under test is the export's, unchanged).
PROXY_VOCAB = 512


@pytest.fixture(scope="module")
def exported(local_release: LocalRelease, tokenizer_file: str) -> ExportResult:
    return export_release(ExportConfig(release=local_release.url, tokenizer=tokenizer_file, seq_len=SEQ_LEN))


def _rows(batches: list[torch.Tensor]) -> list[bytes]:
    return [row.numpy().tobytes() for b in batches for row in b]


def test_two_ranks_two_workers_cover_the_epoch_once(exported: ExportResult) -> None:
    every = ExportDataset(exported.url, batch_size=1)
    all_samples = Counter(every.sample(i).tobytes() for i in range(every.samples_per_epoch))
    assert every.samples_per_epoch == exported.manifest.totals.sequences > 100
    seen: dict[int, list[bytes]] = {}
    for rank in range(2):
        ds = ExportDataset(exported.url, batch_size=5, rank=rank, world_size=2, shuffle=True, seed=3)
        loader = ResumableLoader(ds, num_workers=2)
        batches = [b for _, b in zip(range(ds.batches_per_epoch()), loader, strict=False)]
        assert loader.epoch == 0 and loader.batches_seen == ds.batches_per_epoch()
        assert all(b.dtype == torch.int64 and b.shape[1] == SEQ_LEN for b in batches)
        seen[rank] = _rows(batches)
        # the rank's stream does not depend on the number of workers
        alone = ResumableLoader(ExportDataset(exported.url, 5, rank, 2, shuffle=True, seed=3), num_workers=0)
        assert _rows([b for _, b in zip(range(ds.batches_per_epoch()), alone, strict=False)]) == seen[rank]
    assert Counter(seen[0]) + Counter(seen[1]) == all_samples  # disjoint, and together the whole epoch
    assert abs(len(seen[0]) - len(seen[1])) <= 1


def _train(
    loader: ResumableLoader, model: BatchedProxyLM, opt: torch.optim.Optimizer, steps: int
) -> list[Any]:
    stream = []
    for _, batch in zip(range(steps), loader, strict=False):
        stream.append(batch.clone())
        ids = batch[None] % PROXY_VOCAB
        loss = model.token_losses(ids[:, :, :-1], ids[:, :, 1:]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return stream


def _setup(path: str, workers: int) -> tuple[ResumableLoader, BatchedProxyLM, torch.optim.Optimizer]:
    # rank 3 of 16: ~13 batches of 4 per epoch, so a short run crosses into the next (reshuffled) epoch
    ds = ExportDataset(path, batch_size=4, rank=3, world_size=16, shuffle=True, seed=11)
    model = BatchedProxyLM(
        ProxyModelConfig.preset("tiny", vocab_size=PROXY_VOCAB, seq_len=SEQ_LEN), seeds=[5]
    )
    return ResumableLoader(ds, num_workers=workers), model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def test_stop_and_resume_training_sees_the_same_stream(exported: ExportResult, tmp_path: Path) -> None:
    torch.manual_seed(0)
    loader, model, opt = _setup(exported.url, workers=0)
    per_epoch = loader.dataset.batches_per_epoch()
    total = per_epoch + 4
    straight = _train(loader, model, opt, total)
    trained = model
    assert loader.epoch == 1 and loader.batches_seen == 4

    loader, model, opt = _setup(exported.url, workers=2)
    first = _train(loader, model, opt, per_epoch - 5)  # stop mid-epoch
    checkpoint = tmp_path / "ckpt.pt"
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "data": loader.state_dict()}, checkpoint
    )
    del loader, model, opt

    loader, model, opt = _setup(exported.url, workers=2)  # a new process would do the same
    saved = torch.load(checkpoint)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    loader.load_state_dict(saved["data"])
    rest = _train(loader, model, opt, total - len(first))
    resumed = first + rest
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), trained.parameters(), strict=True))
    assert len(resumed) == len(straight)
    assert all(
        torch.equal(a, b) for a, b in zip(resumed, straight, strict=True)
    )  # nothing repeated or skipped
    assert len(set(_rows(straight[:per_epoch]))) == len(
        _rows(straight[:per_epoch])
    )  # an epoch has no repeats
    assert _rows(straight[per_epoch:]) != _rows(straight[: total - per_epoch])  # the next epoch is reshuffled

    other = ResumableLoader(
        ExportDataset(exported.url, batch_size=4, rank=0, world_size=16, shuffle=True, seed=11)
    )
    with pytest.raises(ValueError, match="rank"):
        other.load_state_dict(saved["data"])


def test_fetch_export_checks_every_file(exported: ExportResult, tmp_path: Path) -> None:
    assert fetch_export(exported.url, str(tmp_path)) == exported.url  # a local export is used in place
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(exported.url, copy)
    shard = exported.manifest.shards[0]
    data = bytearray((copy / f"{shard.prefix}.bin").read_bytes())
    data[10] ^= 1
    (copy / f"{shard.prefix}.bin").write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch):
        fetch_export(str(copy), str(tmp_path))
