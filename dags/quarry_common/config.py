"""Defaults shared by the DAG files; read from the environment at task run time, never at import."""

import os

DEFAULT_STORE = "quarry-data"


def default_store() -> str:
    return os.environ.get("QUARRY_STORE", os.path.abspath(DEFAULT_STORE))
