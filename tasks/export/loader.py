"""Read an export in a PyTorch training job: fixed-length token sequences, split over ranks and DataLoader
workers without overlap, with a position that can be saved and restored.

```python
from tasks.export.loader import ExportDataset, ResumableLoader

ds = ExportDataset("/data/exports/web-en/v7/<id>", batch_size=8, rank=rank, world_size=world)
loader = ResumableLoader(ds, num_workers=2)
for step, batch in zip(range(steps), loader):     # batch: int64 tensor [8, seq_len]
    ...
    checkpoint["data"] = loader.state_dict()         # after the step that consumed `batch`
# on restart:  loader.load_state_dict(checkpoint["data"])  → continues with the next batch
```

The order: an epoch is every full sequence of the export once (the export is already shuffled; ``shuffle``
adds a per-epoch permutation seeded by ``(seed, epoch)``). Sample ``p`` of the epoch goes to rank
``p mod world_size``; a rank's samples are grouped into batches of ``batch_size`` and, counting from the batch
the iteration (re)starts at, its ``j``-th batch is built by DataLoader worker ``j mod num_workers``, which is
the order in which ``DataLoader`` returns them. A rank's
stream of batches is therefore the same for any number of workers, and the state is just
``(epoch, batches consumed)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from tasks.export.indexed import IndexedShard
from tasks.export.manifest import EXPORT_MANIFEST, ExportManifest
from tasks.publish.objectstore import sha256_file, sha256_hex
from tasks.publish.reader import ChecksumMismatch
from tasks.storage import join, read_bytes, write_bytes_atomic
from tasks.storage.fs import is_local as _is_local


def fetch_export(url: str, cache_dir: str, verify: bool = True) -> str:
    """A local copy of the export at ``url`` (``s3://…`` or a local folder), every file checked against
    ``export.json``. A local export is used in place (and checked when ``verify``)."""
    manifest_bytes = read_bytes(join(url, EXPORT_MANIFEST))
    manifest = ExportManifest.from_bytes(manifest_bytes)
    local = url if _is_local(url) else os.path.join(cache_dir, manifest.release.name, manifest.export_id)
    for shard in manifest.shards:
        for suffix, size, sha in (
            (".bin", shard.bin_size, shard.bin_sha256),
            (".idx", shard.idx_size, shard.idx_sha256),
        ):
            path = os.path.join(local, f"{shard.prefix}{suffix}")
            if not _is_local(url) and not (os.path.exists(path) and os.path.getsize(path) == size):
                write_bytes_atomic(path, read_bytes(join(url, f"{shard.prefix}{suffix}")))
            if verify and (os.path.getsize(path) != size or sha256_file(path) != sha):
                raise ChecksumMismatch(f"{path} does not match {EXPORT_MANIFEST} (size or sha256)")
    if not _is_local(url):
        write_bytes_atomic(os.path.join(local, EXPORT_MANIFEST), manifest_bytes)
    return local


class ExportDataset(IterableDataset[torch.Tensor]):
    """Batches ``[batch_size, seq_len]`` (int64) of one rank's share of an export (a local folder; see
    :func:`fetch_export` for S3). Only full ``seq_len`` sequences are served; each shard's shorter tail is
    not (its tokens are counted in ``export.json`` as ``tail_tokens``)."""

    def __init__(
        self,
        path: str,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        with open(os.path.join(path, EXPORT_MANIFEST), "rb") as fh:
            self.manifest = ExportManifest.from_bytes(fh.read())
        self.path = path
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.start_batch = 0  # batches of this rank's epoch already consumed (set by the loader)
        self.seq_len = self.manifest.seq_len
        self._shards: list[IndexedShard] | None = None
        counts = [s.sequences for s in self.manifest.shards]
        self._shard_of = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self._first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_shards"] = None  # memory maps are reopened in each DataLoader worker
        return state

    @property
    def samples_per_epoch(self) -> int:
        return int(self._shard_of.shape[0])

    def epoch_order(self, epoch: int) -> npt.NDArray[np.int64]:
        """Global sample indices of an epoch, in order."""
        order = np.arange(self.samples_per_epoch, dtype=np.int64)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(order)
        return order

    def rank_samples(self, epoch: int) -> npt.NDArray[np.int64]:
        """This rank's samples of the epoch, in the order its batches are built."""
        mine = self.epoch_order(epoch)[self.rank :: self.world_size]
        if self.drop_last:  # every rank the same number of full batches (DDP needs equal step counts)
            per_rank = self.samples_per_epoch // self.world_size
            mine = mine[: per_rank - per_rank % self.batch_size]
        return mine

    def batches_per_epoch(self) -> int:
        n = len(self.rank_samples(self.epoch))
        return -(-n // self.batch_size)

    def sample(self, index: int) -> npt.NDArray[np.int64]:
        if self._shards is None:
            self._shards = [
                IndexedShard.open(os.path.join(self.path, s.prefix)) for s in self.manifest.shards
            ]
        shard = int(self._shard_of[index])
        return np.asarray(self._shards[shard].sequence(index - int(self._first[shard])), dtype=np.int64)

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        samples = self.rank_samples(self.epoch)
        n_batches = -(-len(samples) // self.batch_size)
        # DataLoader asks its workers in turn, starting with worker 0: worker w builds batches start + w + k·W
        for j in range(self.start_batch + worker, n_batches, workers):
            chunk = samples[j * self.batch_size : (j + 1) * self.batch_size]
            yield torch.from_numpy(np.stack([self.sample(int(i)) for i in chunk]))


class ResumableLoader:
    """A ``DataLoader`` over an :class:`ExportDataset` that counts the batches it hands out, runs epoch after
    epoch, and saves/restores its position (``state_dict`` / ``load_state_dict``)."""

    def __init__(self, dataset: ExportDataset, num_workers: int = 0, **loader_kwargs: Any) -> None:
        self.dataset = dataset
        self.num_workers = num_workers
        self.loader_kwargs = loader_kwargs
        self.epoch = 0
        self.batches_seen = 0

    def state_dict(self) -> dict[str, Any]:
        ds = self.dataset
        return {
            "export_id": ds.manifest.export_id,
            "bin_sha256": sha256_hex("".join(s.bin_sha256 for s in ds.manifest.shards).encode()),
            "rank": ds.rank,
            "world_size": ds.world_size,
            "batch_size": ds.batch_size,
            "shuffle": ds.shuffle,
            "seed": ds.seed,
            "epoch": self.epoch,
            "batches_seen": self.batches_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self.state_dict()
        for key in ("export_id", "bin_sha256", "rank", "world_size", "batch_size", "shuffle", "seed"):
            if state.get(key) != mine[key]:
                raise ValueError(
                    f"saved loader state is for {key}={state.get(key)!r}, this loader has {mine[key]!r}"
                )
        self.epoch = int(state["epoch"])
        self.batches_seen = int(state["batches_seen"])

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            ds = self.dataset
            ds.epoch, ds.start_batch = self.epoch, self.batches_seen
            if self.batches_seen < ds.batches_per_epoch():
                loader = DataLoader(ds, batch_size=None, num_workers=self.num_workers, **self.loader_kwargs)
                for batch in loader:
                    self.batches_seen += 1
                    yield batch
            if ds.samples_per_epoch == 0 or ds.batches_per_epoch() == 0:
                return
            self.epoch += 1
            self.batches_seen = 0
