"""Quarry: the platform library. Plain, typed functions over storage paths; no Airflow imports."""

__version__ = "0.1.0"
