"""How a Quarry error ends an Airflow task: a configuration error (a bad path or Param, a rater URL where nothing
answers) fails at once with its one-line reason, no retries burnt on something a retry cannot fix; a run with
nothing configured, or whose inputs are not produced yet, is skipped with the reason; anything else (a rater
that stalls mid-run, a crash) is raised as is and retried, and the retry resumes from what was kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def task_outcome() -> Iterator[None]:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from tasks.errors import NotConfigured, NotReady
    from tasks.rate.client import RaterStalled, RaterUnavailable

    try:
        yield
    except RaterStalled:
        raise
    except (NotConfigured, NotReady) as exc:
        raise AirflowSkipException(f"nothing to do: {exc}") from exc
    except (ValueError, FileNotFoundError, PermissionError, RaterUnavailable) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
