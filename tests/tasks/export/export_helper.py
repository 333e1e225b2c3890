"""Shared by the export tests: a small release published to a directory (built by conftest.py's fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mixture_helper import BuiltMixture

ROWS_PER_SHARD = 8


@dataclass(frozen=True)
class LocalRelease:
    built: BuiltMixture
    target: Path  # the publication target; the release is target / "web-en"

    @property
    def url(self) -> str:
        return str(self.target / "web-en")
