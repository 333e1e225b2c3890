"""Errors that tell an orchestrator what to do: retrying cannot fix a configuration error, and a run with
nothing configured or nothing ready yet has nothing to do (the DAGs skip it with the reason)."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A setting is wrong or missing: a clear one-line reason; retrying cannot help."""


class NotConfigured(ConfigurationError):
    """Nothing is configured for this run (e.g. a scheduled ingest with no crawl root): nothing to do."""


class NotReady(FileNotFoundError):
    """What this run needs has not been produced yet (e.g. no distilled model before the first rating)."""
