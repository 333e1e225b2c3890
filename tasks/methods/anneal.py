"""Domain upsampling at the end of training: an annealing mixture that upweights chosen high-quality domains for
the last part of the token budget, released beside the main mixture.

Paper: Llama Team, AI @ Meta, 2024, "The Llama 3 Herd of Models" (arXiv 2407.21783), section 3.1.3 ("Annealing
Data": "we find that annealing on small amounts of high-quality code and mathematical data can boost the
performance of pre-trained models on key benchmarks ... we perform annealing with a data mix that upsamples
high-quality data in select domains") and section 3.4.3 ("Annealing": "During pre-training on the final 40M
tokens, we linearly annealed the learning rate to 0 ... During this annealing phase, we also adjusted the data
mix to upsample data sources of very high quality"). OLMo 2 (OLMo et al. 2024, "2 OLMo 2 Furious") calls the
same phase mid-training.

Here the anneal phase's sampling value of a document is its main-mixture value times ``upweight`` when its
domain is one of ``hq_domains`` (unchanged otherwise), all rescaled so that the phase draws as many tokens as the
main mixture (``Σ v'·t = Σ v·t``, ``t`` the documents' tokens): the high-quality domains' token share ``p``
becomes ``upweight·p / (1 + (upweight − 1)·p)``. The phase covers the last ``anneal_fraction`` of the training
tokens (:class:`AnnealSpec`); the trainer draws those from the annealing mixture, which a release carries as
``shards/annealing-*.parquet`` with its own domain proportions under the manifest's ``annealing`` key
(:func:`write_annealing_mixture` writes it into the store; ``PublishConfig(annealing=...)`` publishes it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tasks.mix.sampling import repetitions
from tasks.storage import (
    Store,
    exists,
    list_files,
    read_json,
    read_parquet,
    validate_name,
    write_json_atomic,
    write_parquet_atomic,
)

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AnnealSpec:
    anneal_fraction: float  # the last share of the training tokens drawn from the annealing mixture
    hq_domains: tuple[str, ...]
    upweight: float

    def __post_init__(self) -> None:
        if not 0.0 < self.anneal_fraction < 1.0:
            raise ValueError(f"anneal_fraction must lie within (0, 1), got {self.anneal_fraction}")
        if not self.hq_domains:
            raise ValueError("annealing needs at least one high-quality domain to upweight")
        if not self.upweight > 0 or not np.isfinite(self.upweight):
            raise ValueError(f"upweight must be a positive number, got {self.upweight}")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hq_domains": list(self.hq_domains)}


def annealing_values(
    domains: npt.NDArray[np.object_],
    values: FloatArray,
    hq_domains: Sequence[str],
    upweight: float,
    n_tokens: npt.ArrayLike | None = None,
) -> FloatArray:
    """The anneal phase's sampling values: ``values`` times ``upweight`` in ``hq_domains``, rescaled to the main
    mixture's token mass (``n_tokens``; without it every document counts as one token)."""
    v = np.asarray(values, dtype=np.float64)
    doms = np.asarray(domains, dtype=object)
    if doms.shape != v.shape:
        raise ValueError(f"domains {doms.shape} and values {v.shape} differ in shape")
    if not upweight > 0:
        raise ValueError(f"upweight must be positive, got {upweight}")
    t = np.ones_like(v) if n_tokens is None else np.asarray(n_tokens, dtype=np.float64)
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    hq = np.isin(doms, list(hq_domains))
    if not (hq & (v > 0)).any():
        raise ValueError(f"none of the high-quality domains {sorted(hq_domains)} is in the main mixture")
    out = np.where(hq, v * upweight, v)
    mass, new_mass = float((v * t).sum()), float((out * t).sum())
    scaled: FloatArray = out * (mass / new_mass) if new_mass > 0 else out
    return scaled


def domain_proportions(
    domains: npt.NDArray[np.object_], values: npt.ArrayLike, n_tokens: npt.ArrayLike
) -> dict[str, float]:
    """Token share of every domain under ``values``."""
    w = np.asarray(values, dtype=np.float64) * np.asarray(n_tokens, dtype=np.float64)
    total = float(w.sum())
    doms = np.asarray(domains, dtype=object)
    return {str(d): float(w[doms == d].sum()) / total if total else 0.0 for d in sorted(set(doms.tolist()))}


def write_annealing_mixture(
    store_root: str, main: str, name: str, spec: AnnealSpec, seed: int = 0
) -> dict[str, Any]:
    """Write the annealing mixture of the store's mixture ``main`` as the mixture ``name`` (the mix stage's format,
    :mod:`tasks.mix`): the same documents, their repetitions redrawn from :func:`annealing_values` of the main
    repetitions (``a.b`` resolved per document id under ``seed``). ``summary.json`` is written last and carries
    ``annealing`` (``of``, ``fraction``, ``hq_domains``, ``upweight``). Idempotent: an existing complete mixture
    of the same spec is returned as is; one made otherwise is refused (mixture names are immutable)."""
    store = Store(store_root)
    src = store.mixtures(validate_name(main, "mixture name"))
    dst = store.mixtures(validate_name(name, "annealing mixture name"))
    record = {"of": main, "fraction": spec.anneal_fraction, **spec.to_json(), "seed": seed}
    if exists(f"{dst}/summary.json"):
        done = read_json(f"{dst}/summary.json")
        if done.get("annealing") != record:
            raise ValueError(f"mixture {name!r} exists and was not made as this annealing of {main!r}")
        return dict(done)
    if not exists(f"{src}/summary.json"):
        raise FileNotFoundError(f"no complete mixture {main!r} in {store_root} (summary.json missing)")
    main_summary = read_json(f"{src}/summary.json")
    files = [f for f in list_files(f"{src}/documents", (".parquet",)) if "/_" not in f and "/." not in f]
    tables = [read_parquet(f) for f in files]
    need = ("id", "snapshot", "shard", "domain", "n_tokens", "repetitions")
    for f, t in zip(files, tables, strict=True):
        missing = [c for c in need if c not in t.column_names]
        if missing:
            raise ValueError(f"{f}: annealing needs the mixture rows' {missing} (the mix stage writes them)")
    rows = pa.concat_tables([t.select(list(need)) for t in tables]) if tables else None
    if rows is None or len(rows) == 0:
        raise ValueError(f"mixture {main!r} has no rows to anneal")
    ids = [str(i) for i in rows["id"].to_pylist()]
    domains = np.array(rows["domain"].to_pylist(), dtype=object)
    tokens = np.asarray(rows["n_tokens"].to_numpy(zero_copy_only=False), dtype=np.float64)
    reps = np.asarray(rows["repetitions"].to_numpy(zero_copy_only=False), dtype=np.float64)
    new = repetitions(ids, annealing_values(domains, reps, spec.hq_domains, spec.upweight, tokens), seed)
    out = rows.set_column(
        rows.schema.get_field_index("repetitions"), "repetitions", pa.array(new, pa.int32())
    )
    keys = list(zip(out["snapshot"].to_pylist(), out["shard"].to_pylist(), strict=True))
    for snapshot, shard in sorted(set(keys)):
        mask = pa.array([k == (snapshot, shard) for k in keys])
        part = out.filter(mask)
        part = part.filter(pc.greater(part["repetitions"], 0))
        write_parquet_atomic(
            f"{dst}/documents/{validate_name(snapshot, 'snapshot')}/{validate_name(shard, 'shard')}.parquet",
            part,
        )
    before = domain_proportions(domains, reps, tokens)
    after = domain_proportions(domains, new, tokens)
    summary = {
        "name": name,
        "format_version": 1,
        "spec": {"kind": "annealing", "of": main, **spec.to_json()},
        "seed": seed,
        "sweep_id": main_summary.get("sweep_id"),
        "snapshots": sorted({k[0] for k in keys}),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mixture": {
            "documents": int((new > 0).sum()),
            "copies": int(new.sum()),
            "tokens": int((new * tokens).sum()),
        },
        "domains": {d: {"proportion": after[d], "main_proportion": before[d]} for d in after},
        "annealing": record,
    }
    write_json_atomic(f"{dst}/summary.json", summary)
    log.info("annealing mixture %s of %s: proportions %s (main %s)", name, main, after, before)
    return summary
