"""Distil LLM ratings into fastText classifiers, one per criterion and one for the domain."""

from tasks.distill.predict import LoadedModel, load_card, load_models, resolve_version
from tasks.distill.stage import DistillConfig, DistillResult, run_distill
from tasks.distill.text import fasttext_line

__all__ = [
    "DistillConfig",
    "DistillResult",
    "LoadedModel",
    "fasttext_line",
    "load_card",
    "load_models",
    "resolve_version",
    "run_distill",
]
