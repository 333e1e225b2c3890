"""The rate stage against a real vLLM-on-CPU server (SmolLM2-135M-Instruct) — protocol and plumbing.

A 135M model has little taste, so these tests check what the platform guarantees: logprob-derived scores in
range, cache hits on rerun, the request budget, malformed answers never becoming scores, a clear error when the
server is down, and resuming after the server is killed mid-run. The injection defence has its own test
(test_injection_vllm.py).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures_vllm import (  # noqa: F401  (vllm_server is a fixture)
    SourceDoc,
    VllmServer,
    free_port,
    mixed_corpus,
    vllm_server_fixture,
    web_docs,
    write_documents,
)

from tasks.rate import DOMAINS, RateConfig, RaterClient, RaterConfig, RaterUnavailable, run_rate
from tasks.rate.cache import RatingCache
from tasks.rate.client import Job
from tasks.rate.criteria import CRITERIA, EDUCATIONAL_VALUE, Criterion
from tasks.storage import Store

pytestmark = pytest.mark.integration

FAST = {"max_doc_tokens": 128, "batch_size": 4, "concurrency": 2, "max_retries": 2}


def _edge_docs(shared_data: Path) -> list[SourceDoc]:
    wiki = (shared_data / "eval" / "wikitext-2" / "wiki.valid.txt").read_text(encoding="utf-8")
    return [
        SourceDoc("https://edge.example/empty", "", "en"),
        SourceDoc("https://edge.example/binary", "\x00\x01\x02\x03PK\x03\x04" * 200, "en"),
        SourceDoc("https://edge.example/huge", wiki[:200_000], "en"),
    ]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> str:
    root = tmp_path_factory.mktemp("rate-store")
    docs = mixed_corpus(shared_data, en_web=4, per_register=2, wiki=2) + _edge_docs(shared_data)
    write_documents(root, docs, n_shards=2)
    return str(root)


def test_server_down_is_a_clear_error_before_any_work(small_store: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(RaterUnavailable, match="not reachable"):
        run_rate(RateConfig(store=small_store, server_url=url, name="down", sample_size=5))
    assert not (Path(small_store) / "ratings" / "down").exists()


def test_rate_scores_from_logprobs_cache_and_edge_cases(small_store: str, vllm_server: VllmServer) -> None:
    config = RateConfig(
        store=small_store,
        server_url=vllm_server.url,
        sample_size=20,
        criteria=("educational_value", "readability", "domain"),
        **FAST,
    )  # type: ignore[arg-type]
    first = run_rate(config)
    assert first.complete and first.n_sampled == 15 and first.malformed == 0
    table = pq.read_table(first.ratings_url).to_pandas().set_index("url")
    assert table.loc["https://edge.example/empty", "doc_status"] == "empty"
    assert table.loc["https://edge.example/binary", "educational_value__status"] == "non_text"
    huge = table.loc["https://edge.example/huge"]
    assert huge["truncated"] and huge["sent_chars"] < huge["orig_chars"] and huge["doc_status"] == "ok"
    ok = table[table["doc_status"] == "ok"]
    assert len(ok) == 13 and set(ok["split"]) <= {"train", "heldout"}
    assert set(ok["language"]) == {"en", "fr", "sv", "fi"}  # stratified: every language sampled
    assert ok["educational_value"].between(0, 5).all() and ok["readability"].between(0, 1).all()
    assert ok["educational_value"].round(6).nunique() > 1  # real per-document logprobs, not a constant
    assert set(ok["domain"]) <= set(DOMAINS) and ok["domain_score"].between(0, 1).all()
    probs = json.loads(ok["domain_probs"].iloc[0])
    assert sum(probs.values()) == pytest.approx(1.0)
    assert (Path(small_store) / "_markers" / "rate" / "default" / "ratings.done").is_file()

    # pages with suspicious spans were also rated with them masked (score criteria only, not the domain)
    rechecked = int((ok["suspicious_spans"] > 0).sum())
    assert (
        first.rechecked == rechecked
        and ok.loc[ok["suspicious_spans"] > 0, "readability__masked"].notna().all()
    )
    assert ok.loc[ok["suspicious_spans"] == 0, "readability__masked"].isna().all()
    again = run_rate(config)  # everything comes from the cache: nothing is paid twice
    assert again.requests == 0 and again.cache_hits == 3 * 13 + 2 * rechecked and again.complete
    table2 = pq.read_table(again.ratings_url).to_pandas().set_index("url")
    assert table2["educational_value"].equals(table["educational_value"])


def test_request_budget_is_respected_and_rerun_resumes(small_store: str, vllm_server: VllmServer) -> None:
    base = {
        "store": small_store,
        "server_url": vllm_server.url,
        "sample_size": 20,
        "name": "budget",
        "criteria": ("reasoning",),
        **FAST,
        "batch_size": 2,
        "consistency_check": False,  # one rating per document keeps the request arithmetic simple
    }
    limited = run_rate(RateConfig(**base, max_requests=2))  # type: ignore[arg-type]
    assert limited.requests == 2 and limited.budget_exhausted and not limited.complete
    assert limited.rated["reasoning"] == 4
    assert not (Path(small_store) / "_markers" / "rate" / "budget").exists()
    full = run_rate(RateConfig(**base))  # type: ignore[arg-type]
    assert full.complete and full.cache_hits == 4 and full.rated["reasoning"] == 13
    assert full.requests == 5  # only the 9 documents still missing, 2 per request


def test_malformed_answers_are_counted_retried_and_never_scored(vllm_server: VllmServer) -> None:
    impossible = Criterion(
        name="impossible",
        version="v1",
        kind="choice",
        system="Answer.",
        question="Answer with a word.",
        labels=("Zqxv", "Jkwp"),
        names=("a", "b"),
    )
    client = RaterClient(
        RaterConfig(url=vllm_server.url, batch_size=3, malformed_retries=1), "smollm2-135m-instruct"
    )
    outcomes = []
    jobs = [Job(str(i), impossible, f"Document number {i} about gardening.") for i in range(3)]
    stats = client.rate(jobs, outcomes.append)
    assert [o.status for o in outcomes] == ["malformed"] * 3
    assert all(o.reading is None for o in outcomes)
    assert stats.malformed == 6 and stats.requests == 2 and stats.ok == 0  # one retry each, batched


def test_chat_endpoint_gives_the_same_kind_of_reading(vllm_server: VllmServer) -> None:
    client = RaterClient(RaterConfig(url=vllm_server.url, api="chat"), "smollm2-135m-instruct")
    outcomes = []
    client.rate(
        [Job("x", EDUCATIONAL_VALUE, "Water boils at 100 degrees Celsius at sea level.")], outcomes.append
    )
    assert outcomes[0].status == "ok" and outcomes[0].reading is not None
    assert 0.0 <= outcomes[0].reading.value <= 5.0


def test_resume_after_the_server_is_killed_mid_run(
    tmp_path: Path, shared_data: Path, vllm_server: VllmServer
) -> None:
    # 12 documents x 2 criteria = 12 requests of 2: the kill lands after 2 flushed cache parts (4 requests), so
    # work is left on both criteria; what is proven (no loss, no duplicate, paid only for the rest) does not
    # depend on the corpus size, and short pages keep each request quick (the restart dominates the test).
    write_documents(tmp_path, mixed_corpus(shared_data, en_web=6, per_register=1, wiki=3), n_shards=2)
    config = RateConfig(
        store=str(tmp_path),
        server_url=vllm_server.url,
        sample_size=40,
        name="resume",
        criteria=("cleanliness", "professionalism"),
        max_doc_tokens=48,
        batch_size=2,
        concurrency=1,
        max_retries=2,
        timeout_s=30,
        consistency_check=False,  # one cache entry per rated document: kept == rated
    )
    total = 2 * 12
    errors: list[BaseException] = []

    def work() -> None:
        try:
            run_rate(config)
        except BaseException as exc:
            errors.append(exc)

    cache_dir = tmp_path / "ratings" / "_cache"
    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(cache_dir.glob("*/*/part-*.parquet"))) < 2:
        time.sleep(0.2)
    try:
        vllm_server.kill()  # SIGKILL mid-run
        thread.join(timeout=300)
    finally:
        vllm_server.ensure_running()  # never leave later tests without a server
    assert len(errors) == 1 and isinstance(errors[0], RaterUnavailable), errors
    assert "rerun to resume" in str(errors[0])
    kept = sum(
        len(RatingCache(Store(str(tmp_path)), CRITERIA[c].key, "smollm2-135m-instruct").load())
        for c in ("cleanliness", "professionalism")
    )
    assert 0 < kept < total
    meta = json.loads((tmp_path / "ratings" / "resume" / "meta.json").read_text())
    assert meta["complete"] is False and sum(meta["rated"].values()) == kept
    assert not (tmp_path / "_markers" / "rate" / "resume").exists()

    vllm_server.ensure_running()
    resumed = run_rate(config)
    assert resumed.complete and resumed.cache_hits == kept
    assert sum(resumed.rated.values()) == total
    assert resumed.requests <= (total - kept + 1) // 2 + 2  # paid only for what was missing
