"""tasks.runner: the LocalCluster Quarry starts for a stage."""

from __future__ import annotations

import dask
import distributed  # noqa: F401  (loads the distributed.* config defaults)

from tasks.runner import ClusterConfig, dask_client


def _profiling() -> bool:
    import dask as worker_dask

    return bool(worker_dask.config.get("distributed.worker.profile.enabled"))


def test_local_cluster_workers_do_not_profile() -> None:
    """Dask's profiler holds worker frames from its event-loop thread; resiliparse objects in them would be
    freed on that thread ("... is unsendable, but is being dropped on another thread"). Quarry's workers run
    without it, and the setting does not leak into the caller's config."""
    assert dask.config.get("distributed.worker.profile.enabled") is True  # Dask's default: the hazard exists
    with dask_client(ClusterConfig(n_workers=2)) as client:
        assert set(client.run(_profiling).values()) == {False}
    assert dask.config.get("distributed.worker.profile.enabled") is True
