"""A rater client for any OpenAI-compatible server (what ``vllm serve`` exposes), CPU or GPU, by URL alone.

- Batched: ``/v1/completions`` takes a list of prompts per request (the chat template is rendered client side,
  ChatML by default); ``api="chat"`` sends one conversation per request to ``/v1/chat/completions`` instead and
  lets the server apply the model's own template.
- Concurrent: ``concurrency`` requests in flight (vLLM batches them again on the server).
- Retries with exponential backoff and jitter on timeouts, connection errors, 429 and 5xx; a batch rejected for
  exceeding the context is split, and a single document that is still too long is cut further (recorded).
- Malformed answers (missing fields, no valid label among the top logprobs) are counted and retried, never
  turned into a score.
- A per-run request budget (every HTTP request counts, retries included); when it runs out the remaining jobs
  come back with status ``budget``.
- A dead server (retries exhausted on transport errors/5xx) raises :class:`RaterUnavailable` after every result
  already received has been handed to the caller's callback, so nothing obtained is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tasks.rate.criteria import Criterion, Message, Reading, truncate_middle

log = logging.getLogger(__name__)

Status = Literal["ok", "malformed", "failed", "budget"]


class RaterUnavailable(ConnectionError):
    """The rater server cannot be reached (at start) or stopped answering (mid-run)."""


class RaterStalled(RaterUnavailable):
    """The server answered at start, then stopped answering mid-run: transient; a rerun resumes from the cache."""


class RaterError(RuntimeError):
    """The server rejected the requests in a way retrying cannot fix (unknown model, bad parameters)."""


@dataclass(frozen=True)
class RaterConfig:
    url: str
    model: str | None = None
    api: Literal["completions", "chat"] = "completions"
    batch_size: int = 8
    concurrency: int = 4
    timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    max_retries: int = 4
    malformed_retries: int = 1
    backoff_s: float = 0.5
    backoff_max_s: float = 20.0
    max_requests: int | None = None
    top_logprobs: int = 20
    min_label_mass: float = 1e-4
    max_context_shrinks: int = 3
    api_key_env: str = "QUARRY_RATER_API_KEY"

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"rater url must start with http:// or https://, got {self.url!r}")
        for name in ("batch_size", "concurrency", "top_logprobs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_requests is not None and self.max_requests < 0:
            raise ValueError("max_requests must be >= 0")
        if self.max_retries < 0 or self.malformed_retries < 0:
            raise ValueError("retries must be >= 0")

    @property
    def base(self) -> str:
        """The API base ending in /v1, whether or not the URL given had it."""
        url = self.url.rstrip("/")
        return url if url.endswith("/v1") else f"{url}/v1"

    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}


@dataclass(frozen=True)
class ServerInfo:
    url: str
    model: str
    max_model_len: int | None


def check_server(config: RaterConfig) -> ServerInfo:
    """Ask ``/v1/models``; raise :class:`RaterUnavailable` with a clear message if nothing usable answers."""
    try:
        resp = httpx.get(
            f"{config.base}/models",
            headers=config.headers(),
            timeout=httpx.Timeout(config.connect_timeout_s * 2, connect=config.connect_timeout_s),
        )
    except httpx.HTTPError as exc:
        raise RaterUnavailable(
            f"rater server {config.base} is not reachable ({type(exc).__name__}: {exc}). Start one with "
            "`bash infra/vllm/serve.sh PORT` (after infra/vllm/setup.sh), or point --rater-url or $QUARRY_RATER_URL "
            "at a vLLM deployment (`make demo` starts one for you)."
        ) from exc
    if resp.status_code != 200:
        raise RaterUnavailable(
            f"rater server {config.base}/models answered HTTP {resp.status_code}: {resp.text[:200]}"
        )
    try:
        models = resp.json()["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RaterUnavailable(
            f"{config.base}/models did not return an OpenAI model list: {resp.text[:200]}"
        ) from exc
    if not models:
        raise RaterUnavailable(f"rater server {config.base} serves no model")
    by_id = {m.get("id"): m for m in models if isinstance(m, dict)}
    if config.model is not None and config.model not in by_id:
        raise RaterError(
            f"model {config.model!r} is not served by {config.base}; it serves {sorted(str(k) for k in by_id)}"
        )
    chosen = by_id[config.model] if config.model is not None else models[0]
    max_len = chosen.get("max_model_len")
    return ServerInfo(
        url=config.base, model=str(chosen["id"]), max_model_len=int(max_len) if max_len else None
    )


def render_chatml(messages: Sequence[Message]) -> str:
    """ChatML (SmolLM2, Qwen and others), ending with an open assistant turn: the next token is the answer."""
    out = [f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages]
    return "".join(out) + "<|im_start|>assistant\n"


@dataclass
class Job:
    """One (criterion, document) rating to obtain. ``key`` identifies it to the caller (the document hash)."""

    key: str
    criterion: Criterion
    text: str
    malformed: int = 0
    shrinks: int = 0

    def messages(self) -> list[Message]:
        return self.criterion.messages(self.text)


@dataclass(frozen=True)
class Outcome:
    key: str
    criterion: str
    status: Status
    reading: Reading | None
    sent_chars: int
    shrinks: int
    error: str | None = None


@dataclass
class RunStats:
    requests: int = 0
    retries: int = 0
    transient_errors: int = 0
    malformed: int = 0
    context_shrinks: int = 0
    ok: int = 0
    failed: int = 0
    budget_skipped: int = 0
    budget_exhausted: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:20]}


def _is_context_error(status: int, body: str) -> bool:
    text = body.lower()
    return status == 400 and ("context length" in text or "maximum context" in text or "too long" in text)


class RaterClient:
    def __init__(self, config: RaterConfig, model: str) -> None:
        self.config = config
        self.model = model
        self.stats = RunStats()
        self._dead: str | None = None
        self._fatal: str | None = None

    # ---------------------------------------------------------------------------------------------------------
    def rate(self, jobs: Sequence[Job], on_result: Callable[[Outcome], None]) -> RunStats:
        """Rate every job; ``on_result`` gets each outcome as soon as it is known (use it to checkpoint)."""
        if not jobs:
            return self.stats
        start = time.monotonic()
        try:
            asyncio.run(self._run(list(jobs), on_result))
        finally:
            self.stats.seconds += time.monotonic() - start
        if self._fatal:
            raise RaterError(self._fatal)
        if self._dead:
            raise RaterStalled(self._dead)
        return self.stats

    def _budget_left(self) -> bool:
        limit = self.config.max_requests
        return limit is None or self.stats.requests < limit

    async def _run(self, jobs: list[Job], on_result: Callable[[Outcome], None]) -> None:
        cfg = self.config
        size = cfg.batch_size if cfg.api == "completions" else 1
        pending: deque[list[Job]] = deque(jobs[i : i + size] for i in range(0, len(jobs), size))
        timeout = httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s)
        limits = httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=cfg.headers()) as http:

            async def worker() -> None:
                while pending and not self._dead and not self._fatal:
                    batch = pending.popleft()
                    await self._process(http, batch, pending, on_result)

            await asyncio.gather(*(worker() for _ in range(cfg.concurrency)))
        # Whatever was not attempted (dead server, fatal error, budget) is reported, never silently dropped.
        while pending:
            for job in pending.popleft():
                self._emit(
                    on_result,
                    job,
                    "failed" if (self._dead or self._fatal) else "budget",
                    None,
                    self._dead or self._fatal,
                )

    def _emit(
        self,
        on_result: Callable[[Outcome], None],
        job: Job,
        status: Status,
        reading: Reading | None,
        error: str | None = None,
    ) -> None:
        if status == "ok":
            self.stats.ok += 1
        elif status == "budget":
            self.stats.budget_skipped += 1
        else:
            self.stats.failed += 1
        on_result(Outcome(job.key, job.criterion.name, status, reading, len(job.text), job.shrinks, error))

    def _payload(self, batch: list[Job]) -> tuple[str, dict[str, Any]]:
        cfg = self.config
        if cfg.api == "chat":
            msgs = [{"role": r, "content": c} for r, c in batch[0].messages()]
            return "/chat/completions", {
                "model": self.model,
                "messages": msgs,
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": cfg.top_logprobs,
            }
        return "/completions", {
            "model": self.model,
            "prompt": [render_chatml(j.messages()) for j in batch],
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": cfg.top_logprobs,
        }

    @staticmethod
    def _top_logprobs(choice: Any, api: str) -> dict[str, float] | None:
        try:
            if api == "chat":
                first = choice["logprobs"]["content"][0]["top_logprobs"]
                return {str(t["token"]): float(t["logprob"]) for t in first}
            top = choice["logprobs"]["top_logprobs"][0]
            return {str(k): float(v) for k, v in top.items()}
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return None

    async def _process(
        self,
        http: httpx.AsyncClient,
        batch: list[Job],
        pending: deque[list[Job]],
        on_result: Callable[[Outcome], None],
    ) -> None:
        cfg = self.config
        transient = 0
        while batch:
            if self._dead or self._fatal:
                pending.appendleft(batch)
                return
            if not self._budget_left():
                self.stats.budget_exhausted = True
                for job in batch:
                    self._emit(on_result, job, "budget", None)
                return
            path, payload = self._payload(batch)
            self.stats.requests += 1
            error: str | None = None
            try:
                resp = await http.post(cfg.base + path, json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code >= 500 or resp.status_code == 429:
                    error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                elif _is_context_error(resp.status_code, resp.text):
                    batch = self._shrink(batch, pending, on_result)
                    continue
                elif resp.status_code != 200:
                    self._fatal = (
                        f"rater server rejected the request: HTTP {resp.status_code}: {resp.text[:300]}"
                    )
                    pending.appendleft(batch)
                    return
            if error is not None:
                self.stats.transient_errors += 1
                transient += 1
                if transient > cfg.max_retries:
                    self._dead = (
                        f"rater server {cfg.base} stopped answering after {cfg.max_retries} retries ({error}); "
                        "ratings already obtained are kept in the cache, rerun to resume"
                    )
                    pending.appendleft(batch)
                    return
                self.stats.retries += 1
                delay = min(cfg.backoff_max_s, cfg.backoff_s * 2 ** (transient - 1)) * (0.5 + random.random())
                log.warning("rater request failed (%s); retry %d in %.1fs", error, transient, delay)
                await asyncio.sleep(delay)
                continue
            batch = self._handle_response(resp, batch, on_result)

    def _shrink(
        self, batch: list[Job], pending: deque[list[Job]], on_result: Callable[[Outcome], None]
    ) -> list[Job]:
        """Context exceeded: split a batch into singles; cut a single document's text further (head + tail)."""
        if len(batch) > 1:
            for job in reversed(batch):
                pending.appendleft([job])
            return []
        job = batch[0]
        if job.shrinks >= self.config.max_context_shrinks or len(job.text) < 16:
            self._emit(on_result, job, "failed", None, "document does not fit the model context")
            return []
        job.shrinks += 1
        self.stats.context_shrinks += 1
        job.text, _ = truncate_middle(job.text, int(len(job.text) * 0.6))
        return [job]

    def _handle_response(
        self, resp: httpx.Response, batch: list[Job], on_result: Callable[[Outcome], None]
    ) -> list[Job]:
        cfg = self.config
        try:
            body = resp.json()
            choices = body["choices"]
            if not isinstance(choices, list):
                raise TypeError("choices is not a list")
        except (ValueError, KeyError, TypeError):
            choices = []
        by_index: dict[int, Any] = {}
        for pos, choice in enumerate(choices):
            idx = choice.get("index", pos) if isinstance(choice, dict) else pos
            if isinstance(idx, int):
                by_index[idx] = choice
        retry: list[Job] = []
        for i, job in enumerate(batch):
            choice = by_index.get(i)
            top = self._top_logprobs(choice, cfg.api) if choice is not None else None
            reading = job.criterion.read(top, cfg.min_label_mass) if top else None
            if reading is not None:
                self._emit(on_result, job, "ok", reading)
                continue
            self.stats.malformed += 1
            job.malformed += 1
            if job.malformed > cfg.malformed_retries:
                self._emit(on_result, job, "malformed", None, "no valid label among the top logprobs")
            else:
                retry.append(job)
        return retry
