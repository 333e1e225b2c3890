"""The release gate end to end on the local store: the nightly publish step (``tasks.pipeline.step_publish``)
publishes a mixture whose sweep fails validation as a numbered version, with the verdict in its manifest and
report, but ``latest`` stays on the previous version until ``force_latest`` moves it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mixture_helper import build_mixture
from test_sweep_gate import CLEAR_WIN, WITHIN_SPREAD, write_sweep_evidence

from tasks.pipeline import PipelineConfig, step_publish
from tasks.publish import open_mixture
from tasks.sweep.gate import ValidationFailed, raise_if_failed


def _latest(target: Path) -> int:
    return int(json.loads((target / "nightly" / "latest").read_text())["version"])


def test_a_failing_mixture_is_published_but_not_latest(tmp_path: Path, shared_data: Path) -> None:
    store = tmp_path / "store"
    build_mixture(store, shared_data, name="mix-good", sweep_id="sweep-good")
    build_mixture(store, shared_data, name="mix-noisy", variant=1, sweep_id="sweep-noisy")
    build_mixture(store, shared_data, name="mix-blind", variant=2, sweep_id="sweep-blind")
    write_sweep_evidence(str(store), "sweep-good", 0.8, CLEAR_WIN)
    write_sweep_evidence(str(store), "sweep-noisy", 0.8, WITHIN_SPREAD)  # no win beyond the seed spread
    write_sweep_evidence(str(store), "sweep-blind", -0.07, CLEAR_WIN)  # the regression ranks nothing
    target = tmp_path / "published"
    config = PipelineConfig(store=str(store), mixture="nightly", publish_to=str(target))

    good = step_publish(config, "mix-good", "sweep-good")
    assert (good["version"], good["latest"], good["validation"]["verdict"]) == (1, 1, "passed")

    noisy = step_publish(config, "mix-noisy", "sweep-noisy")
    assert noisy["version"] == 2 and noisy["validation"]["verdict"] == "failed"
    assert noisy["latest"] == 1 and _latest(target) == 1  # v2 exists for inspection, latest stays on v1
    v2 = open_mixture(f"{target}/nightly", "v2")
    assert v2.manifest.validation is not None
    block = v2.manifest.validation
    assert block["verdict"] == "failed" and block["threshold"] == 0.5 and block["spearman"] == 0.8
    assert block["best_baseline"] == "topk" and "seed-to-seed spread" in block["reason"]
    assert block["arms"]["chosen"]["seeds"] == 3 and len(block["arms"]["chosen"]["interval95"]) == 2
    assert open_mixture(f"{target}/nightly").version == 1  # what a training job reading latest gets
    report = (target / "nightly" / "v2" / "report.html").read_text()
    assert report.index("Validation: failed") < report.index("Totals")  # the verdict opens the report
    with pytest.raises(ValidationFailed) as failed:  # what the DAG maps to a failed task
        raise_if_failed(noisy["validation"], release="nightly", version="v2", latest="v1")
    assert failed.value.version == "v2"

    blind = step_publish(config, "mix-blind", "sweep-blind")
    assert blind["version"] == 3 and blind["latest"] == 1 and _latest(target) == 1
    assert "Spearman -0.070 < 0.500" in blind["validation"]["reason"]

    # a person looked at the report and forces it: the same content is not written again, latest moves
    forced = step_publish(config.model_copy(update={"force_latest": True}), "mix-blind", "sweep-blind")
    assert forced["already_published"] and forced["version"] == 3
    assert forced["validation"]["verdict"] == "forced" and forced["latest"] == 3 and _latest(target) == 3
    # never backwards: a later passing publication of older content does not move latest below v3
    assert step_publish(config, "mix-good", "sweep-good")["latest"] == 3
