"""Named filtering recipes: which documents the ingest keeps, as one readable object per published recipe.

A :class:`Recipe` holds the language rule and the ordered quality filters (per document language, for
multilingual recipes). ``get_recipe(name, **options)`` builds one; :data:`RECIPES` lists them:

* ``fineweb`` (:mod:`.fineweb`): FineWeb's English pipeline, datatrove's ``examples/fineweb.py``.
* ``fineweb2`` (:mod:`.fineweb2`): FineWeb2's per-language thresholds and stop words.

Where Quarry deliberately differs from the reference, the difference is a named option of the recipe's builder,
off by default, so ``get_recipe("fineweb")`` is the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.ingest.filters import DocFilter, FilterPipeline, LanguageFilter


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    language: LanguageFilter
    filters: Callable[[str], Sequence[DocFilter]]  # document language -> filters, in order
    options: dict[str, Any] = field(default_factory=dict)

    def filters_for(self, language: str) -> Sequence[DocFilter]:
        return self.filters(language)

    def pipeline(self) -> FilterPipeline:
        return FilterPipeline(self.filters, name=self.name)

    def describe(self) -> dict[str, Any]:
        """What the ingest summary and stats record about the recipe."""
        return {"name": self.name, "options": dict(sorted(self.options.items()))}


def _fineweb(**options: Any) -> Recipe:
    from tasks.ingest.recipes.fineweb import fineweb

    return fineweb(**options)


def _fineweb2(**options: Any) -> Recipe:
    from tasks.ingest.recipes.fineweb2 import fineweb2

    return fineweb2(**options)


RECIPES: dict[str, Callable[..., Recipe]] = {"fineweb": _fineweb, "fineweb2": _fineweb2}
DEFAULT_RECIPE = "fineweb2"


def get_recipe(name: str, **options: Any) -> Recipe:
    try:
        builder = RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {sorted(RECIPES)}") from None
    try:
        return builder(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for recipe {name}: {exc}") from exc


__all__ = ["DEFAULT_RECIPE", "RECIPES", "Recipe", "get_recipe"]
