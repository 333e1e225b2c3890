"""Reading a distilled model version: its card, its fastText files, and predictions from them.

A score model predicts a distribution over score bins; its score is the expected value Σ p(bin)·centre(bin),
in the units of the LLM rating it was trained on. The domain model predicts a domain and its probability.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.errors import NotReady
from tasks.storage import Store, exists, join, read_bytes, read_json, validate_name

LATEST = "_latest.json"


def latest_pointer(store: Store) -> str:
    return store.path("models", LATEST)


def resolve_version(store: Store, version: str | None) -> str:
    """``version`` itself (validated, must exist), or the most recently distilled one when None/"latest"."""
    if version and version != "latest":
        validate_name(version, "model version")
        if not exists(join(store.models(version), "model_card.json")):
            raise FileNotFoundError(f"model version {version!r} not found under {store.path('models')}")
        return version
    pointer = latest_pointer(store)
    if not exists(pointer):
        raise NotReady(f"no distilled model under {store.path('models')}: run `quarry distill` first")
    return str(read_json(pointer)["version"])


def load_card(store: Store, version: str) -> dict[str, Any]:
    card = read_json(join(store.models(version), "model_card.json"))
    if not isinstance(card, dict) or "models" not in card:
        raise ValueError(f"malformed model card for version {version}")
    return card


@dataclass
class LoadedModel:
    name: str
    kind: str  # "score" | "domain"
    model: Any  # fasttext._FastText
    entry: dict[str, Any]

    def predict(self, lines: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
        """Return (scores, labels): for score models labels are None; for the domain model scores are the
        probability of the predicted domain."""
        if not lines:
            return np.zeros(0, dtype=np.float64), []
        labels, probs = self.model.predict(list(lines), k=-1)
        if self.kind == "score":
            centres: dict[str, float] = self.entry["bin_centres"]
            out = np.empty(len(lines), dtype=np.float64)
            for i, (lbls, ps) in enumerate(zip(labels, probs, strict=True)):
                p = np.asarray(ps, dtype=np.float64)
                c = np.array([centres[lbl] for lbl in lbls], dtype=np.float64)
                total = p.sum()
                out[i] = float((p * c).sum() / total) if total > 0 else float(np.mean(list(centres.values())))
            return out, [None] * len(lines)
        names: dict[str, str] = self.entry["label_names"]
        top = np.array([float(ps[0]) if len(ps) else 0.0 for ps in probs], dtype=np.float64)
        return top, [names.get(lbls[0]) if len(lbls) else None for lbls in labels]


def load_models(store: Store, version: str, local_dir: str | None = None) -> dict[str, LoadedModel]:
    """Load every fastText model of a version. Remote (s3://) files are copied to a local directory first."""
    import fasttext

    card = load_card(store, version)
    base = store.models(version)
    out: dict[str, LoadedModel] = {}
    for name, entry in card["models"].items():
        url = join(base, entry["file"])
        if "://" in url and not url.startswith("file://"):
            directory = local_dir or tempfile.mkdtemp(prefix=f"quarry-models-{version}-")
            path = os.path.join(directory, entry["file"])
            if not os.path.exists(path):
                tmp = path + ".part"
                with open(tmp, "wb") as fh:
                    fh.write(read_bytes(url))
                os.replace(tmp, path)
        else:
            path = url.removeprefix("file://")
        out[name] = LoadedModel(name, entry["kind"], fasttext.load_model(path), entry)
    return out
