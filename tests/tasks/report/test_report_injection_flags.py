"""The report's lineage table says how many rated pages were flagged as prompt injection (and not distilled)."""

from __future__ import annotations

from pathlib import Path

from mixture_helper import build_mixture

from tasks.report import collect_inputs, render_html
from tasks.storage import write_json_atomic

KEY = "ratings flagged as prompt injection (not distilled)"


def test_flagged_ratings_are_counted_in_the_lineage(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    store = built.store
    assert KEY not in collect_inputs(store, "web-en").lineage  # no ratings behind the models: nothing shown
    write_json_atomic(
        f"{store.models('d-1')}/model_card.json",
        {"version": "d-1", "ratings": "default", "models": {}, "excluded_injection_suspected": 3},
    )
    write_json_atomic(store.path("models", "_latest.json"), {"version": "d-1"})
    write_json_atomic(
        f"{store.ratings()}/default/meta.json",
        {"n_sampled": 1200, "injection_suspected": 3, "complete": True},
    )
    inputs = collect_inputs(store, "web-en")
    assert inputs.lineage[KEY] == "3 of 1,200 rated pages (default)"
    assert "3 of 1,200 rated pages (default)" in render_html(inputs)
