"""Defaults shared by the DAG files; read from the environment at task run time, never at import.

Task processes started by the scheduler run in a working directory of Airflow's choosing, so nothing here is
relative to the current directory: the defaults are absolute, next to the checkout the DAGs come from.
"""

import os

_CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_store() -> str:
    """$QUARRY_STORE, else ``quarry-data/`` in the checkout (the store `make demo` uses)."""
    return os.environ.get("QUARRY_STORE") or os.path.join(_CHECKOUT, "quarry-data")


def default_shared_data() -> str:
    """$QUARRY_SHARED_DATA, else ``../shared/data`` beside the checkout."""
    return os.environ.get("QUARRY_SHARED_DATA") or os.path.join(os.path.dirname(_CHECKOUT), "shared", "data")
