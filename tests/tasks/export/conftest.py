"""Fixtures for the export tests: the SmolLM2 tokenizer file and a small release published to a directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from export_helper import ROWS_PER_SHARD, LocalRelease
from mixture_helper import BuiltMixture, build_mixture

from tasks.export.manifest import DEFAULT_TOKENIZER
from tasks.publish import PublishConfig, publish_mixture


@pytest.fixture(scope="session")
def tokenizer_file() -> str:
    path = os.environ.get("QUARRY_EXPORT_TOKENIZER") or DEFAULT_TOKENIZER
    if not os.path.isfile(path):
        pytest.fail(
            f"the SmolLM2 tokenizer is missing at {path}: run `make setup` (infra/vllm/setup.sh converts it) "
            "or set QUARRY_EXPORT_TOKENIZER to a tokenizer.json"
        )
    return path


@pytest.fixture(scope="session")
def built_mixture(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> BuiltMixture:
    return build_mixture(tmp_path_factory.mktemp("export-store") / "store", shared_data)


@pytest.fixture(scope="session")
def local_release(tmp_path_factory: pytest.TempPathFactory, built_mixture: BuiltMixture) -> LocalRelease:
    target = tmp_path_factory.mktemp("export-published")
    publish_mixture(
        PublishConfig(
            store=built_mixture.store.root,
            name="web-en",
            target=str(target),
            max_rows_per_shard=ROWS_PER_SHARD,
            report=False,
        )
    )
    return LocalRelease(built_mixture, target)
