"""Apply every fastText model of a version to every document, on Dask → ``attributes/scores``."""

from tasks.score.stage import ScoreConfig, ScoreResult, output_schema, run_score, score_shard

__all__ = ["ScoreConfig", "ScoreResult", "output_schema", "run_score", "score_shard"]
