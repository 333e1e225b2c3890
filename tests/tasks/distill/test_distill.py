"""Distillation into fastText, on ratings whose values come from human register labels (Turku CORE), so the
held-out agreement figures measure something real without needing the LLM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures_vllm import register_rated_docs, write_label_ratings

from tasks.distill import DistillConfig, load_models, resolve_version, run_distill
from tasks.distill.stage import quantile_bins, spearman
from tasks.distill.text import fasttext_line
from tasks.storage import Store, write_json_atomic


@pytest.fixture(scope="module")
def rated_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> str:
    root = tmp_path_factory.mktemp("distill-store")
    write_label_ratings(root, register_rated_docs(shared_data, 80), name="human")
    return str(root)


def test_distill_trains_versioned_models_with_a_model_card(rated_store: str) -> None:
    result = run_distill(DistillConfig(store=rated_store, ratings="human", dim=32, min_train_rows=20))
    assert not result.reused and set(result.models) == {"educational_value", "domain"}
    base = Path(rated_store) / "models" / result.version
    card = json.loads((base / "model_card.json").read_text())
    ratings = pq.read_table(Path(rated_store) / "ratings" / "human" / "ratings.parquet").to_pandas()
    n_train, n_held = int((ratings["split"] == "train").sum()), int((ratings["split"] == "heldout").sum())
    for entry in card["models"].values():
        assert (base / entry["file"]).stat().st_size < 60_000_000  # bucket=200000 keeps the .bin small
        assert entry["train_size"] == n_train and entry["heldout_size"] == n_held  # held-out kept apart
    edu = card["models"]["educational_value"]["heldout"]
    # the register signal is learnable: the distilled model agrees with the held-out labels
    assert edu["spearman"] is not None and edu["spearman"] > 0.2
    assert {"accuracy", "f1", "threshold"} <= set(edu["above_median"]) and "above_fixed" in edu
    dom = card["models"]["domain"]["heldout"]
    majority = ratings[ratings["split"] == "heldout"]["domain"].value_counts(normalize=True).iloc[0]
    assert dom["accuracy"] > majority - 0.05 and 0 <= dom["macro_f1"] <= 1
    md = (base / "MODEL_CARD.md").read_text()
    assert "Spearman" in md and "educational_value" in md
    assert (Path(rated_store) / "_markers" / "distill" / result.version / "model.done").is_file()
    assert resolve_version(Store(rated_store), None) == result.version

    # predictions: expected value over the bins, inside the range of the training ratings
    models = load_models(Store(rated_store), result.version)
    lines = [fasttext_line(t) for t in ratings["text"].head(20)]
    scores, _ = models["educational_value"].predict(lines)
    assert np.all(scores >= ratings["educational_value"].min() - 1e-6)
    assert np.all(scores <= ratings["educational_value"].max() + 1e-6)
    probs, labels = models["domain"].predict(lines)
    assert set(labels) <= {"NA", "IN", "IP", "other"} and np.all((probs > 0) & (probs <= 1))

    again = run_distill(DistillConfig(store=rated_store, ratings="human", dim=32, min_train_rows=20))
    assert again.reused and again.version == result.version  # same ratings + settings: nothing retrained


def test_incomplete_or_missing_ratings_are_refused(rated_store: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run `quarry rate"):
        run_distill(DistillConfig(store=str(tmp_path), ratings="nothing"))
    meta_path = Path(rated_store) / "ratings" / "human" / "meta.json"
    meta = json.loads(meta_path.read_text())
    write_json_atomic(str(meta_path), {**meta, "complete": False})
    try:
        with pytest.raises(ValueError, match="incomplete"):
            run_distill(DistillConfig(store=rated_store, ratings="human"))
        with pytest.raises(ValueError, match="were not rated"):
            run_distill(
                DistillConfig(
                    store=rated_store, ratings="human", criteria=("reasoning",), allow_incomplete=True
                )
            )
    finally:
        write_json_atomic(str(meta_path), meta)


def test_too_few_rows_are_skipped_with_a_reason(rated_store: str) -> None:
    with pytest.raises(ValueError, match="nothing to distill"):
        run_distill(DistillConfig(store=rated_store, ratings="human", min_train_rows=10_000, version="tiny"))


def test_quantile_bins_and_spearman() -> None:
    values = np.array([0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 0.9])
    _edges, idx, centres = quantile_bins(values, 4)
    assert len(centres) == idx.max() + 1 and sorted(centres) == centres
    assert all(np.isclose(values[idx == i].mean(), c) for i, c in enumerate(centres))
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3]), np.array([1, 1, 1])) is None


def test_pages_flagged_as_injection_suspects_are_never_trained_on(tmp_path: Path, shared_data: Path) -> None:
    write_label_ratings(tmp_path, register_rated_docs(shared_data, 40), name="flagged")
    url = tmp_path / "ratings" / "flagged" / "ratings.parquet"
    table = pq.read_table(url).to_pandas()
    # every 4th page "tried to steer the rater": a clear poisoning pattern (top score on a non-teaching page)
    flagged = table.index % 4 == 1
    table.loc[flagged, "injection_suspected"] = True
    table.loc[flagged, "educational_value"] = 5.0
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), url)
    result = run_distill(
        DistillConfig(store=str(tmp_path), ratings="flagged", criteria=("educational_value",), epoch=5)
    )
    card = json.loads((Path(result.models_url) / "model_card.json").read_text())
    n_flagged = int(flagged.sum())
    assert card["excluded_injection_suspected"] == n_flagged > 0
    clean = table[~flagged]
    entry = card["models"]["educational_value"]
    assert entry["train_size"] == int((clean["split"] == "train").sum())
    assert entry["heldout_size"] == int((clean["split"] == "heldout").sum())
    centres = entry["bin_centres"].values()
    assert max(centres) <= clean["educational_value"].max() + 1e-9  # no flagged 5.0 reached a bin
    assert f"Excluded: {n_flagged} rated pages" in (Path(result.models_url) / "MODEL_CARD.md").read_text()
