"""The report's human-label panel: the model card's agreement of the domain model with human register labels."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from tasks.distill.human_labels import register_agreement
from tasks.report.collect import _human_labels
from tasks.report.release import human_labels_panel
from tasks.storage import Store, write_json_atomic


def test_human_label_agreement_travels_from_the_model_card_to_the_report(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    block = register_agreement(
        [("IP",), ("NA",), ("IN",), ("IP",)], ["Retail E-commerce", "Culture", "Other", "Law"]
    )
    block["source"] = "labels/turku-register"
    write_json_atomic(
        f"{store.models('m1')}/model_card.json", {"version": "m1", "models": {}, "human_labels": block}
    )
    pool = pa.table({"model_version": ["m1", "m1"]})
    found = _human_labels(store, None, pool)
    assert found is not None and found["kappa"] == block["kappa"]
    html = human_labels_panel(found)
    assert 'data-panel="human-labels"' in html and f"κ {block['kappa']:.3f}" in html
    assert "<th>commercial</th><td class='num'>1</td><td class='num'>1</td>" in html  # one IP page missed

    assert _human_labels(store, None, pa.table({"model_version": ["other"]})) is None
    assert "No agreement with human labels was measured" in human_labels_panel(None)
    assert "not measured: no label files" in human_labels_panel({"skipped": "no label files"})
