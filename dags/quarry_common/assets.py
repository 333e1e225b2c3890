"""The Assets that chain Quarry's DAGs (data-aware scheduling). Names only; no I/O at import."""

from airflow.sdk import Asset

DOCUMENTS = Asset(name="quarry_documents", uri="quarry://documents")
SCORES = Asset(name="quarry_scores", uri="quarry://scores")
SWEEP = Asset(name="quarry_sweep", uri="quarry://sweep")
MIXTURE = Asset(name="quarry_mixture", uri="quarry://mixture")
PUBLISHED_MIXTURE = Asset(name="quarry_published_mixture", uri="quarry://published-mixture")
