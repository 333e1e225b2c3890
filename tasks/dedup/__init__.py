"""Out-of-core, distributed exact + MinHash dedup with an incremental cross-snapshot index.

``partition`` writes each shard's exact hashes, LSH band keys and ids into hash buckets (the persistent index
under ``dedup-index/<snapshot>/``); ``graph`` turns each key bucket into candidate edges and runs min-label
propagation over node buckets; ``job`` runs the steps on Dask (or in process) and writes the ``dedup``
attribute set. Every task reads one bucket, so per-worker memory follows the bucket size, not the corpus.
"""

from tasks.dedup.job import DistributedDedupConfig, dedup_snapshot, remove_from_index

__all__ = ["DistributedDedupConfig", "dedup_snapshot", "remove_from_index"]
