"""Run one function over many shards on Dask: a LocalCluster by default, an existing scheduler by address.

Every stage that works shard by shard goes through :func:`run_shards`, so resumability, progress and failure
handling are the same everywhere. The function must be idempotent per shard (stages check their completion
markers themselves); a shard that raises is reported with its name and the others still finish.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from tasks.progress import progress_bar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ClusterConfig:
    """Where shards run. ``address`` (or ``$QUARRY_DASK_SCHEDULER``) names an existing Dask scheduler;
    without one a LocalCluster of ``n_workers`` single-threaded processes is started for the call.
    ``n_workers=0`` runs in the calling process (used inside already-distributed Airflow tasks)."""

    address: str | None = None
    n_workers: int | None = None
    memory_limit: str = "auto"

    @classmethod
    def from_env(cls, n_workers: int | None = None) -> ClusterConfig:
        return cls(address=os.environ.get("QUARRY_DASK_SCHEDULER") or None, n_workers=n_workers)


class ShardFailures(RuntimeError):
    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = "\n".join(f"  {k}: {v}" for k, v in failures.items())
        super().__init__(f"{len(failures)} shard(s) failed:\n{lines}")


@contextmanager
def _workers_do_not_rerun_main() -> Iterator[None]:
    """Start worker processes without re-running the parent's ``__main__``.

    Dask starts LocalCluster workers with multiprocessing's *spawn*, which re-imports the parent's main
    script in every worker. Inside an Airflow task that script is the ``airflow`` command: the worker imports
    Airflow with the task's environment, where Airflow 3 deliberately blanks the metadata-database URL
    (``airflow-db-not-allowed:///``), and dies with "Could not parse SQLAlchemy URL" / "Nanny failed to start
    worker process". Quarry never submits functions defined in ``__main__`` (shard functions live in
    ``tasks.*`` and are pickled by reference), so the workers do not need it: while the cluster lives, main
    is presented to multiprocessing as a module named ``__main__``, which spawn skips by design.
    """
    import importlib.machinery

    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = getattr(main, "__spec__", None)
    main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = saved


# Dask's statistical profiler samples every worker thread's frames (``sys._current_frames()``) from the worker's
# event loop. A frame it holds when the function returns keeps that function's locals alive, and they are then
# freed on the event-loop thread. Resiliparse's HTML trees and nodes cannot be freed on another thread than
# the one that made them: they are leaked, with "RuntimeError: ... HTMLTreePy is unsendable, but is being
# dropped on another thread" in the log. Quarry's workers do not profile; on a cluster of your own, set
# ``distributed.worker.profile.enabled: false`` for the workers that run ingest.
WORKER_CONFIG: dict[str, Any] = {"distributed.worker.profile.enabled": False}


@contextmanager
def dask_client(config: ClusterConfig) -> Any:
    import dask
    from distributed import Client, LocalCluster

    if config.address:
        with Client(config.address) as client:
            yield client
        return
    n = config.n_workers or min(os.cpu_count() or 1, 4)
    with (
        dask.config.set(WORKER_CONFIG),  # the nanny hands its config to the worker process it starts
        _workers_do_not_rerun_main(),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=config.memory_limit,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_shards(
    func: Callable[[T], R],
    items: Sequence[T],
    *,
    names: Sequence[str] | None = None,
    cluster: ClusterConfig | None = None,
    description: str = "shards",
) -> list[R]:
    """Apply ``func`` to every item (one Dask task each) and return results in input order.

    Raises :class:`ShardFailures` after all other shards finished if any shard raised.
    """
    cluster = cluster or ClusterConfig.from_env()
    names = list(names) if names is not None else [str(i) for i in range(len(items))]
    if not items:
        return []
    results: dict[int, R] = {}
    failures: dict[str, str] = {}
    if cluster.n_workers == 0 and not cluster.address:
        with progress_bar(len(items), description) as advance:
            for i, item in enumerate(items):
                try:
                    results[i] = func(item)
                except Exception as exc:
                    log.exception("shard %s failed", names[i])
                    failures[names[i]] = f"{type(exc).__name__}: {exc}"
                advance()
    else:
        from distributed import as_completed

        with dask_client(cluster) as client, progress_bar(len(items), description) as advance:
            futures = {
                client.submit(func, item, pure=False, key=f"{description}-{names[i]}-{os.getpid()}-{i}"): i
                for i, item in enumerate(items)
            }
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:
                    log.error("shard %s failed: %s", names[i], exc)
                    failures[names[i]] = f"{type(exc).__name__}: {exc}"
                advance()
    if failures:
        raise ShardFailures(failures)
    return [results[i] for i in range(len(items))]
