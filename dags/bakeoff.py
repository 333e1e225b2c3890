"""bakeoff: the selection-method bake-off on a sweep's corpus sample (manual, from the UI with Params).

resolve (the sweep: ``sweep_id``, or the latest finished one) → bakeoff (every method in ``methods`` selects
``budget_fraction`` of the sample pool's tokens; the same proxies and the same ``seeds`` for every arm, trained
in one batch in the ``gpu`` pool; losses on the target sets, held-out high-quality text and held-out web
documents, diversity, cost). Writes ``<store>/sweeps/<id>/bakeoff.json`` (+ ``bakeoff.md``, ``bakeoff.html``,
SVG plots), which the release report of a mixture made from that sweep shows. Idempotent: a rerun with the
same settings returns the stored result. Calls :func:`tasks.bakeoff.run_bakeoff`, as ``quarry bakeoff`` does.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from quarry_common.config import default_shared_data, default_store
from quarry_common.errors import task_outcome

METHODS = ["uniform", "topk", "chosen", "dsir", "qurating", "dclm", "rebalance", "preselect", "climb"]


@dag(
    dag_id="bakeoff",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "sweep", "bakeoff", "gpu"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=2)},
    params={
        "sweep_id": Param("", type="string", description="the sweep whose sample is used; empty: the latest"),
        "store": Param("", type="string", description="store root; empty: $QUARRY_STORE"),
        "methods": Param(
            ["uniform", "topk", "chosen", "dsir", "qurating", "dclm", "rebalance"],
            type="array",
            items={"type": "string", "enum": METHODS},
            minItems=1,
            description="arms (preselect and climb train extra proxies to select)",
        ),
        "seeds": Param(
            3, type="integer", minimum=3, description="proxies per arm, the same seeds in every arm"
        ),
        "budget_fraction": Param(
            0.5,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            description="share of the sample pool's tokens every arm selects (the matched budget)",
        ),
        "token_budget": Param(0, type="integer", minimum=0, description="tokens per proxy; 0: the sweep's"),
        "targets": Param(
            [],
            type="array",
            items={"type": "string"},
            description="target sets NAME=[FORMAT:]PATH for DSIR/PreSelect and the losses; empty: the sweep's",
        ),
        "eval_dir": Param(
            "",
            type="string",
            description="high-quality reference sources; empty: $QUARRY_EVAL_DIR or <shared data>/eval",
        ),
        "device": Param("", type="string", description="auto, cuda, cpu; empty: the sweep's"),
    },
    doc_md=__doc__,
)
def bakeoff() -> None:
    @task
    def resolve(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The sweep id (``latest`` resolved) and store."""
        from tasks.sweep.stage import resolve_sweep_id

        p = dict(params or {})
        store = p.get("store") or default_store()
        with task_outcome():
            sweep_id = resolve_sweep_id(store, p.get("sweep_id") or "latest")
        return {"store": store, "sweep_id": sweep_id}

    @task(pool="gpu")
    def run(sweep: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every arm's selection, the proxies, the measures; ``bakeoff.json`` beside the sweep."""
        from tasks.bakeoff import BakeoffSettings, run_bakeoff

        p = dict(params or {})
        eval_dir = (
            p.get("eval_dir")
            or os.environ.get("QUARRY_EVAL_DIR")
            or os.path.join(default_shared_data(), "eval")
        )
        with task_outcome():
            settings = BakeoffSettings(
                methods=tuple(p.get("methods") or ()),
                seeds=int(p.get("seeds") or 3),
                budget_fraction=float(p.get("budget_fraction") or 0.5),
                token_budget=int(p.get("token_budget") or 0),
                targets=tuple(p.get("targets") or ()),
                eval_dir=eval_dir,
            )
            report = run_bakeoff(sweep["store"], sweep["sweep_id"], settings, device=p.get("device") or None)
        return {
            "sweep_id": sweep["sweep_id"],
            "summary": report["summary"],
            "arms": {a["method"]: a["status"] for a in report["arms"]},
        }

    run(resolve())


bakeoff_dag = bakeoff()
