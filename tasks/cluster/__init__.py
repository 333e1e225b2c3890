"""CLIMB-style clusters: embed a sample, k-means, assign every document a cluster id (``attributes/clusters``)."""

from tasks.cluster.stage import ClusterResult, ClusterRunConfig, assign_shard, run_cluster, spherical_kmeans

__all__ = ["ClusterResult", "ClusterRunConfig", "assign_shard", "run_cluster", "spherical_kmeans"]
