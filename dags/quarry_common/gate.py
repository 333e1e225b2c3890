"""The release gate's Params, shared by every DAG that publishes (``tasks/sweep/gate.py`` decides)."""

from __future__ import annotations

from airflow.sdk import Param


def gate_params() -> dict[str, Param]:
    """``min_spearman`` and ``force_latest``: a mixture that fails the gate is published as v<N>, latest stays."""
    return {
        "min_spearman": Param(
            0.5,
            type="number",
            minimum=-1,
            maximum=1,
            description="held-out Spearman the mixture's sweep needs before it may become latest",
        ),
        "force_latest": Param(
            False, type="boolean", description="move latest even when the mixture fails validation"
        ),
    }
