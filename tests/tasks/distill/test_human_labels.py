"""Agreement of the domain rater with the Turku CORE human register labels (tasks/distill/human_labels.py)."""

from __future__ import annotations

import gzip
import json
import lzma
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest
from fixtures_vllm import doc_id, register_rated_docs

from tasks.distill import DistillConfig, run_distill
from tasks.distill.human_labels import (
    cohens_kappa,
    cramers_v,
    domain_model_agreement,
    load_register_pages,
    parse_registers,
    register_agreement,
)
from tasks.rate.criteria import CRITERIA, text_hash
from tasks.storage import Store, join, write_json_atomic, write_parquet_atomic


def test_register_labels_parse_abbreviations_hybrids_and_full_names() -> None:
    assert parse_registers("NA IP") == ("NA", "IP")
    assert parse_registers("IN EN") == ("IN",)  # sub-register dropped
    assert parse_registers("Info-Persuasion") == ("IP",)
    assert parse_registers("D-Informational") == ("IN",)
    assert parse_registers("lorem") == ()


def test_agreement_on_constructed_labels() -> None:
    registers = [("IP",), ("NA", "IP"), ("IN",), ("NA",), ("OP",), ("HI",), ("IP",), ("ID",)]
    perfect = ["Retail E-commerce", "Retail E-commerce", "Education", "Culture", "Other", "Technology"]
    perfect += ["Retail E-commerce", "Other"]
    a = register_agreement(registers, perfect)
    assert a["accuracy"] == 1.0 and a["kappa"] == pytest.approx(1.0)
    assert a["confusion"] == {
        "commercial": {"commercial": 3, "other": 0},
        "other": {"commercial": 0, "other": 5},
    }
    assert a["contingency"]["NA"] == {"Retail E-commerce": 1, "Culture": 1}  # first register is the row

    constant = register_agreement(registers, ["Other"] * 8)
    assert constant["accuracy"] == pytest.approx(5 / 8) == constant["majority_baseline"]
    assert constant["kappa"] == pytest.approx(0.0)  # no better than chance
    assert constant["per_class"]["commercial"]["recall"] == 0.0

    inverted = [
        "Other",
        "Other",
        "Retail E-commerce",
        "Retail E-commerce",
        "Retail E-commerce",
        "Other",
        "Other",
    ]
    flipped = register_agreement(registers, [*inverted, None])
    assert flipped["n_answered"] == 7 and flipped["kappa"] is not None and flipped["kappa"] < 0
    with pytest.raises(ValueError):
        register_agreement(registers, ["Other"])


def test_kappa_and_cramers_v_extremes() -> None:
    assert cohens_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement is certain: undefined
    assert cohens_kappa(["a", "b", "a", "b"], ["a", "b", "b", "a"]) == pytest.approx(0.0)
    assert cramers_v({"x": {"d1": 10}, "y": {"d2": 10}}) == pytest.approx(1.0)
    assert cramers_v({"x": {"d1": 5, "d2": 5}, "y": {"d1": 5, "d2": 5}}) == pytest.approx(0.0)
    assert cramers_v({"x": {"d1": 3}}) is None


def _write_xz(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(path, "wt", encoding="utf-8") as fh:
        for label, text in rows:
            fh.write(f"{label}\t{text}\n")


def test_sample_is_balanced_across_files_reproducible_and_never_reads_dev(tmp_path: Path) -> None:
    body = "x" * 300
    _write_xz(tmp_path / "FrCORE" / "test.tsv.xz", [("IP", f"fr {i} {body}") for i in range(10)])
    _write_xz(tmp_path / "FinCORE" / "test.tsv.xz", [("Narrative", f"fi {i} {body}") for i in range(10)])
    _write_xz(tmp_path / "FrCORE" / "dev.tsv.xz", [("OP", f"dev {i} {body}") for i in range(10)])
    _write_xz(tmp_path / "SvCORE" / "test.tsv.xz", [("NA", "short"), ("??", f"unlabelled {body}")])
    pages = load_register_pages(tmp_path, sample_size=8)
    assert pages == load_register_pages(tmp_path, sample_size=8)
    assert (
        sorted(p.language for p in pages) == ["fi"] * 4 + ["fr"] * 4
    )  # the short and unlabelled lines skipped
    assert {p.register for p in pages} == {"IP", "NA"} and not any(p.text.startswith("dev") for p in pages)
    assert pages != load_register_pages(tmp_path, sample_size=8, seed=1)
    with pytest.raises(FileNotFoundError):
        load_register_pages(tmp_path / "missing")
    assert "skipped" in domain_model_agreement(object(), tmp_path / "missing")


def test_a_large_label_file_is_sampled_in_bounded_memory(tmp_path: Path) -> None:
    """Only the ``sample_size`` best-ranked pages of a file are held while it is read, not the whole file."""
    path = tmp_path / "FrCORE" / "test.tsv.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as fh:
        for i in range(20_000):
            fh.write(f"IP\tpage {i} " + "mot " * 100 + "\n")  # ~8 MB of text in all
    tracemalloc.start()
    try:
        pages = load_register_pages(tmp_path, sample_size=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pages) == 10
    assert peak < 2_000_000, f"peak {peak:,} bytes: the whole file was held"


def test_the_real_turku_files_load(shared_data: Path) -> None:
    pages = load_register_pages(shared_data / "labels" / "turku-register", sample_size=60)
    assert len(pages) == 60 and {p.language for p in pages} == {"fr", "sv", "fi"}
    assert {"NA", "IN", "IP"} <= {p.register for p in pages}


def test_distill_reports_domain_agreement_with_human_registers(tmp_path: Path, shared_data: Path) -> None:
    """A domain 'rater' that called informational-persuasion pages Retail E-commerce: the distilled domain model
    must agree with held-out human labels well above chance, and the card and MODEL_CARD.md must say so."""
    docs = register_rated_docs(shared_data, 80)
    rows = []
    for i, d in enumerate(docs):
        text = d.text[:3000]
        rows.append(
            {
                "id": doc_id(d.url, d.text),
                "split": "heldout" if i % 5 == 0 else "train",
                "text": text,
                "doc_hash": text_hash(text),
                "injection_suspected": False,
                "domain": "Retail E-commerce" if d.label == "IP" else "Culture",
                "domain_score": 1.0,
                "domain__status": "ok",
            }
        )
    base = join(Store(str(tmp_path)).ratings(), "turku")
    write_parquet_atomic(join(base, "ratings.parquet"), pa.Table.from_pylist(rows))
    crit = CRITERIA["domain"]
    write_json_atomic(
        join(base, "meta.json"),
        {
            "criteria": {"domain": {"key": crit.key, "kind": "choice", "version": crit.version}},
            "complete": True,
        },
    )
    labels = shared_data / "labels" / "turku-register"
    result = run_distill(
        DistillConfig(store=str(tmp_path), ratings="turku", human_labels=str(labels), human_labels_sample=150)
    )
    card = json.loads((tmp_path / "models" / result.version / "model_card.json").read_text())
    human = card["human_labels"]
    assert human["n_answered"] == 150 and set(human["languages"]) == {"fr", "sv", "fi"}
    assert human["kappa"] > 0.2 and human["accuracy"] > human["majority_baseline"]
    md = (tmp_path / "models" / result.version / "MODEL_CARD.md").read_text()
    assert "## Agreement with human labels" in md and "Cohen's κ" in md
