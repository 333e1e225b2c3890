"""The mixture report: typed inputs, self-contained HTML, panels that degrade to "not available"."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from mixture_helper import build_mixture

from tasks.bakeoff.measures import loss_stats
from tasks.cli import main
from tasks.distill.signal import criterion_signal
from tasks.illusion.measure import HQ, TARGET, WEB, Arm, curves_report
from tasks.publish import PublishConfig, open_mixture, publish_mixture
from tasks.report import (
    ReportConfig,
    ReportInputs,
    ScoreDistribution,
    SweepFit,
    collect_inputs,
    render_html,
    run_report,
    spearman,
)
from tasks.storage import write_json_atomic
from tasks.sweep.gate import decide

QUADMIX = {
    "kind": "quadmix",
    "criteria": ["educational_value", "reasoning"],
    "domains": {
        "Education": {"alpha": [0.75, 0.25], "lam": 12.5, "omega": 0.625, "eta": 1.5, "eps": 0.0123},
        "Finance": {"alpha": [0.1, 0.9], "lam": 3.0, "omega": 0.3, "eta": 0.5, "eps": 0.0456},
    },
}
SIGNAL = criterion_signal(np.linspace(0, 5, 50), (0.0, 5.0), np.linspace(0, 5, 50))
NO_SIGNAL = criterion_signal(np.linspace(1.64, 1.70, 50), (0.0, 5.0), np.linspace(0, 5, 50))
ARMS = {"chosen": [3.00, 3.01, 3.02], "uniform": [3.20, 3.21, 3.19], "topk": [3.10, 3.12, 3.11]}


def _bakeoff(method: str = "dsir") -> dict[str, object]:
    """A ``bakeoff.json`` as tasks.bakeoff writes it (its real loss statistics), one arm unavailable."""

    def arm(name: str, base: float, entropy: float) -> dict[str, object]:
        offsets = {"target": 0.0, "wikitext2": 0.1, "hq_heldout": 0.2, "web_heldout": 0.3}
        losses = {m: [base + d, base + 0.01 + d, base + 0.02 + d] for m, d in offsets.items()}
        return {
            "method": name,
            "status": "ok",
            "metrics": loss_stats(losses),
            "selection": {
                "selected_tokens": 1000.0,
                "budget_ratio": 1.0,
                "unique_documents": 40,
                "repetition": 1.0,
                "domain_entropy": entropy,
                "ngram_kl": 0.5,
            },
            "cost": {"selection_cpu_seconds": 0.1, "proxy_train_seconds": 2.0},
        }

    return {
        "summary": f"Lowest mean target loss: {method}.",
        "targets": ["wikitext2"],
        "seeds": [1, 2, 3],
        "budget_tokens": 1000,
        "proxy_token_budget": 4096,
        "pool": {"tokens": 2000.0, "documents": 80},
        "arms": [
            arm("uniform", 3.2, 1.9),
            arm(method, 3.1, 1.5),
            {"method": "rebalance", "status": "unavailable", "reason": "no dedup cluster_size", "cost": {}},
        ],
    }


def _illusion(web_hq: tuple[float, ...], label: str = "keep") -> dict[str, object]:
    """An ``illusion.json`` as tasks.illusion writes it: the real curves and conclusions (measure.curves_report)
    from constructed per-seed losses; target loss falls with the keep ratio, HQ loss as given."""

    def arm(name: str, x: float, target: float, hq: float, **facts: float) -> Arm:
        noise = (-0.004, 0.0, 0.004)
        losses = {
            TARGET: [target + e for e in noise],
            HQ: [hq + e for e in noise],
            WEB: [3.3 + e for e in noise],
        }
        return Arm(name, x, losses, {"documents": int(100 * x) or 1, **facts})

    keeps = (1.0, 0.5, 0.25)
    web = [arm(f"{label} {k:.0%}", k, 3.0 - 0.1 * (1 - k), h) for k, h in zip(keeps, web_hq, strict=True)]
    quality = [arm(f"{s:.0%} permuted", s, 2.8 + 0.2 * s, 2.4 + 0.3 * s) for s in (0.75, 0.0)]
    filt = [
        arm(
            f"75% permuted, keep {k:.0%}",
            k,
            2.9,
            2.5,
            intact_share_kept=0.2 + 0.6 * (1 - k),
            intact_share_best=min(1, 0.25 / k),
        )
        for k in keeps
    ]
    return {
        **curves_report(web, quality, filt),
        "targets": ["wikitext2", "hellaswag", "mmlu"],
        "seeds": [1, 2, 3],
        "token_budget": 8192,
        "classifier": {"auc_heldout_hq_vs_web": 0.93, "auc_intact_vs_permuted": 0.81},
        "reference": {"documents": {"classifier": 300, "synthetic": 120, "heldout": 180}},
    }


ILLUSION = _illusion((2.50, 2.501, 2.503))  # targets improve, HQ text does not: the illusion


class _Collector(HTMLParser):
    """Every tag and attribute, to check the page references nothing outside itself."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.panels: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((k, v or "") for k, v in attrs)


def _assert_self_contained(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    assert html.startswith("<!DOCTYPE html>")
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [a for a in parser.attrs if a[0] in ("src", "href", "xlink:href")]
    assert "http:" not in html and "https:" not in html and "url(" not in html and "@import" not in html
    return parser


def _full_inputs() -> ReportInputs:
    return ReportInputs(
        mixture="web-en",
        version="v3",
        totals={"documents": 1200, "tokens": 3_400_000},
        lineage={"snapshots": ["CC-MAIN-2024-22"], "sweep_id": "sweep-1"},
        domains_before={"Education": 0.2, "Finance": 0.5, "Others": 0.3},
        domains_after={"Education": 0.45, "Finance": 0.35, "Others": 0.2},
        scores=(ScoreDistribution.from_values("educational_value", [0, 1, 1, 2, 3], [2, 3, 3, 4], bins=5),),
        sweep=SweepFit(predicted=(3.1, 3.3, 3.0, 3.6), actual=(3.2, 3.35, 3.05, 3.5)),
        illusion=ILLUSION,
        bakeoff=_bakeoff(),
        validation=decide(0.8, ARMS).to_json(),
        sampling=QUADMIX,
        rater_signal={"reasoning": SIGNAL, "educational_value": NO_SIGNAL},
    )


def test_full_report_renders_every_panel() -> None:
    html = render_html(_full_inputs())
    _assert_self_contained(html)
    assert "Not available" not in html
    # domains, one score histogram, sweep scatter, three illusion curves, three bake-off losses, diversity
    assert html.count("<svg") == 10
    for panel in (
        "verdict",
        "parameters",
        "domains",
        "scores",
        "rater-signal",
        "sweep",
        "quality-illusion",
        "bakeoff",
    ):
        assert f'data-panel="{panel}"' in html
    assert "<th>rebalance</th>" in html and "unavailable: no dedup cluster_size" in html
    rows = dict(re.findall(r"<tr><th>(reasoning|educational_value)</th>(.*?)</tr>", html))
    assert "<td class='num'>1.643 – 1.697</td><td class='num'>1.1%</td>" in rows["educational_value"]
    assert 'class="warn">no: predictions span' in rows["educational_value"]
    assert rows["reasoning"].endswith("<td class='num'>1.000</td><td>yes</td>")
    assert "Spearman ρ on 4 held-out proxy runs: <b>1.000</b>" in html
    # the experiment's conclusion is the one computed from its curves
    assert 'class="warn" data-illusion-verdict="illusion">The data-quality illusion holds here' in html
    assert "lowers the target loss by 0.0750" in html and "loss change vs keep 100%" in html
    assert "held-out HQ text" in html and "20% of 25%" in html  # the recovery of intact synthetic text
    consistent = render_html(ReportInputs(mixture="m", illusion=_illusion((2.50, 2.46, 2.44))))
    assert 'data-illusion-verdict="consistent">No illusion here' in consistent
    assert "45.00%" in html and "20.00%" in html


def test_the_verdict_opens_the_report() -> None:
    failed = decide(0.3, ARMS).to_json()
    html = render_html(
        ReportInputs(mixture="web-en", version="v2", totals={"documents": 1}, validation=failed)
    )
    _assert_self_contained(html)
    body = html[html.index("<body>") :]
    first_paragraph = re.search(r'data-panel="verdict"[^>]*><p>(.*?)</p>', body)
    assert first_paragraph and body.index('data-panel="verdict"') < body.index("<h2>Totals")
    text = first_paragraph.group(1)
    assert text.startswith("<b>Validation: failed.</b>") and "latest did not move" in text
    assert "Spearman 0.300 &lt; 0.500" in text and "held-out Spearman is 0.300 (threshold 0.500)" in text
    # each arm's mean and 95 % interval over its seeds, chosen first
    assert "chosen 3.0100 (95% interval 2.9852–3.0348, sd 0.0100, 3 seeds)" in text
    assert text.index("chosen 3.01") < text.index("topk 3.11") < text.index("uniform 3.20")
    assert 'data-verdict="failed"' in html and 'class="warn" data-panel="verdict"' in html
    forced = render_html(ReportInputs(mixture="web-en", validation=decide(0.3, ARMS, force=True).to_json()))
    assert "<b>Validation: forced.</b>" in forced and "promoted by force_latest" in forced
    passed = render_html(ReportInputs(mixture="web-en", validation=decide(0.8, ARMS).to_json()))
    assert "<b>Validation: passed.</b>" in passed and 'class="ok" data-panel="verdict"' in passed


def test_sampling_parameters_are_a_table_per_domain() -> None:
    html = render_html(
        ReportInputs(mixture="web-en", lineage={"sweep_id": "s", "sampling_parameters": QUADMIX})
    )
    panel = html[html.index('data-panel="parameters"') :]
    panel = panel[: panel.index("</table>")]
    heads = re.findall(r"<th>([^<]*)</th>", panel)
    assert heads[:7] == ["domain", "α educational_value", "α reasoning", "ω", "λ", "η", "ε"]
    rows = {
        m.group(1): re.findall(r"<td class='num'>([^<]*)</td>", m.group(2))
        for m in re.finditer(r"<tr><th>(Education|Finance)</th>(.*?)</tr>", panel)
    }
    assert rows["Education"] == ["0.750", "0.250", "0.625", "12.50", "1.50", "0.0123"]
    assert rows["Finance"] == ["0.100", "0.900", "0.300", "3.00", "0.50", "0.0456"]
    assert '"alpha"' not in html and "&quot;alpha&quot;" not in html  # no raw JSON blob anywhere
    regmix = render_html(
        ReportInputs(mixture="m", sampling={"kind": "regmix", "weights": {"a": 0.25, "b": 0.75}})
    )
    assert "<tr><th>a</th><td class='num'>0.2500</td></tr>" in regmix


def test_missing_panels_render_as_not_available() -> None:
    html = render_html(ReportInputs(mixture="web-en"))
    _assert_self_contained(html)
    for panel in (
        "verdict",
        "parameters",
        "domains",
        "scores",
        "rater-signal",
        "sweep",
        "quality-illusion",
        "bakeoff",
    ):
        assert re.search(rf'<div class="na" data-panel="{panel}">Not available: ', html), panel
    assert "<svg" not in html


def test_untrusted_labels_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    html = render_html(
        ReportInputs(
            mixture="web-en",
            domains_after={evil: 1.0},
            lineage={"note": evil},
            illusion=_illusion((2.5, 2.5, 2.5), label=evil),
            bakeoff=_bakeoff(evil),
        )
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    _assert_self_contained(html)


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError):
        ScoreDistribution("x", edges=(0.0, 1.0), before=(0.5, 0.5), after=(1.0,))
    with pytest.raises(ValueError):
        SweepFit(predicted=(1.0, 2.0), actual=(1.0,))
    with pytest.raises(ValueError):
        ReportInputs(mixture="m", domains_after={"a": float("nan")})


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)  # average ranks
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_score_distribution_weights_repetitions() -> None:
    dist = ScoreDistribution.from_values(
        "q", before=[0.0, 1.0], after=[0.0, 1.0], after_weights=[1, 3], bins=2
    )
    assert dist.before == (0.5, 0.5) and dist.after == (0.25, 0.75)


def test_collect_from_store(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    inputs = collect_inputs(built.store, "web-en")
    assert inputs.domains_before and inputs.domains_after
    assert sum(inputs.domains_before.values()) == pytest.approx(1.0)
    assert {s.criterion for s in inputs.scores} == {
        "educational_value",
        "professionalism",
        "readability",
        "reasoning",
        "cleanliness",
    }
    edu = next(s for s in inputs.scores if s.criterion == "educational_value")
    # the mixture keeps the higher educational_value documents: its mean bin is above the pool's
    centres = [(a + b) / 2 for a, b in zip(edu.edges, edu.edges[1:], strict=False)]
    mean = lambda hist: sum(c * h for c, h in zip(centres, hist, strict=True))  # noqa: E731
    assert mean(edu.after) > mean(edu.before)
    assert inputs.sweep is None and inputs.illusion is None
    html = render_html(inputs)
    assert 'data-panel="sweep">Not available' in html and 'data-panel="scores"' in html


def test_collect_reads_sweep_and_illusion(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data, sweep_id="sweep-1")
    write_json_atomic(f"{built.store.sweeps('sweep-1')}/illusion.json", ILLUSION)
    write_json_atomic(f"{built.store.sweeps('sweep-1')}/bakeoff.json", _bakeoff("topk"))
    write_json_atomic(  # the shape of the sweep stage's fit.json
        f"{built.store.sweeps('sweep-1')}/fit.json",
        {
            "n_runs": 4,
            "spearman_heldout": 0.8,
            "objective": "wikitext",
            "chosen_predicted_loss": 3.05,
            "oof": [
                {"run_id": f"r{i}", "predicted": p, "actual": a}
                for i, (p, a) in enumerate([(3.0, 3.1), (3.2, 3.3), (3.1, 3.0), (3.5, 3.6)])
            ],
        },
    )
    write_json_atomic(  # the distillation model card with its signal figures (tasks/distill/signal.py)
        f"{built.store.models('textstats-1')}/model_card.json",
        {"version": "textstats-1", "models": {"educational_value": {"kind": "score", "signal": NO_SIGNAL}}},
    )
    inputs = collect_inputs(built.store, "web-en")
    assert inputs.rater_signal == {"educational_value": NO_SIGNAL}
    assert inputs.sweep is not None and inputs.sweep.spearman == pytest.approx(0.8)
    assert inputs.sweep.predicted == (3.0, 3.2, 3.1, 3.5) and inputs.sweep.actual == (3.1, 3.3, 3.0, 3.6)
    assert inputs.illusion is not None and inputs.illusion["conclusion"] == ILLUSION["conclusion"]
    assert inputs.bakeoff is not None and inputs.bakeoff["summary"] == "Lowest mean target loss: topk."
    html = render_html(inputs)
    assert "Not available" not in html
    assert "chosen_predicted_loss" in html and "Spearman ρ on 4 out-of-fold proxy runs: <b>0.800</b>" in html
    assert 'data-illusion-verdict="illusion"' in html and html.count("<svg") >= 4
    # not gated at publication: the report computes the verdict from the sweep (no validation proxies: failed)
    assert inputs.validation is not None and inputs.validation["verdict"] == "failed"
    assert "no completed validation proxy on the chosen mixture" in html


def test_report_is_published_beside_the_manifest(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    target = str(tmp_path / "published")
    publish_mixture(PublishConfig(store=built.store.root, name="web-en", target=target, report=False))
    mix = open_mixture(f"{target}/web-en")
    assert mix.manifest.report is None
    result = run_report(ReportConfig(store=built.store.root, name="web-en", published=f"{target}/web-en"))
    assert result.beside_manifest and result.url == f"{target}/web-en/v1/report.html"
    html = Path(result.url).read_text()
    assert "web-en v1" in html and 'data-panel="domains"' in html
    # without a published version it goes to the store's reports/
    assert main(["--store", built.store.root, "report", "web-en"]) == 0
    assert (tmp_path / "store" / "reports" / "web-en" / "unpublished.html").is_file()
    out = tmp_path / "elsewhere.html"
    assert main(["--store", built.store.root, "report", "web-en", "--out", str(out)]) == 0
    _assert_self_contained(out.read_text())
