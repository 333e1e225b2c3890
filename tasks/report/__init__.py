"""Mixture reports: a self-contained HTML page (inline SVG) per published version, stored beside its manifest.

:class:`ReportInputs` is the typed interface (plain values; any panel may be missing), :func:`collect_inputs`
fills it from a store, :func:`render_html` draws it, :func:`run_report` does both for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.report.collect import collect_inputs
from tasks.report.html import render_html
from tasks.report.inputs import ReportInputs, ScoreDistribution, SweepFit, spearman
from tasks.storage import Store, join, validate_name, write_bytes_atomic

__all__ = [
    "ReportConfig",
    "ReportInputs",
    "ReportResult",
    "ScoreDistribution",
    "SweepFit",
    "collect_inputs",
    "render_html",
    "run_report",
    "spearman",
]


@dataclass(frozen=True)
class ReportConfig:
    """``published`` (``<target>/<name>``) attaches the report to a published version: it is written beside
    that version's manifest when the version has none yet. ``out`` writes it to an explicit path instead.
    Otherwise it lands in ``<store>/reports/<name>/<version or 'unpublished'>.html``."""

    store: str
    name: str
    published: str | None = None
    version: str = "latest"
    out: str | None = None
    sweep_id: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "mixture name")
        if self.sweep_id is not None:
            validate_name(self.sweep_id, "sweep id")


@dataclass(frozen=True)
class ReportResult:
    url: str
    inputs: ReportInputs
    beside_manifest: bool


def run_report(config: ReportConfig) -> ReportResult:
    from tasks.publish.manifest import REPORT
    from tasks.publish.reader import open_mixture

    store = Store(config.store)
    published = open_mixture(config.published, config.version) if config.published else None
    manifest = published.manifest if published else None
    if published is not None and published.name != config.name:
        raise ValueError(f"{config.published} is mixture {published.name!r}, not {config.name!r}")
    inputs = collect_inputs(store, config.name, manifest=manifest, sweep_id=config.sweep_id)
    html = render_html(inputs).encode()
    if config.out:
        write_bytes_atomic(config.out, html)
        return ReportResult(config.out, inputs, beside_manifest=False)
    if published is not None and manifest is not None and manifest.report is None:
        key = f"{published.prefix}/{REPORT}"
        published.store.put_if_absent(key, html)
        return ReportResult(published.store.url_for(key), inputs, beside_manifest=True)
    label = manifest.label if manifest else "unpublished"
    url = join(store.reports(), config.name, f"{label}.html")
    write_bytes_atomic(url, html)
    return ReportResult(url, inputs, beside_manifest=False)
