"""How a Quarry error ends an Airflow task: a configuration error fails at once with its one-line reason (no
retries burnt on something a retry cannot fix); a run with nothing configured, or whose inputs are not produced
yet, is skipped with the reason; anything else is raised as is and retried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def task_outcome() -> Iterator[None]:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from tasks.errors import NotConfigured, NotReady
    from tasks.rate.client import RaterUnavailable

    try:
        yield
    except (NotConfigured, NotReady) as exc:
        raise AirflowSkipException(f"nothing to do: {exc}") from exc
    except (ValueError, FileNotFoundError, PermissionError, RaterUnavailable) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
