"""Storage: fsspec URLs (local directory by default, ``s3://`` the same), atomic writes, completion markers."""

from tasks.storage.fs import (
    exists,
    join,
    list_dirs,
    list_files,
    open_input,
    read_bytes,
    read_json,
    read_parquet,
    remove,
    remove_stale_temps,
    resolve,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from tasks.storage.layout import Store, validate_name
from tasks.storage.markers import CompletionMarkers

__all__ = [
    "CompletionMarkers",
    "Store",
    "exists",
    "join",
    "list_dirs",
    "list_files",
    "open_input",
    "read_bytes",
    "read_json",
    "read_parquet",
    "remove",
    "remove_stale_temps",
    "resolve",
    "validate_name",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_parquet_atomic",
]
