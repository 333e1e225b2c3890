"""LLM raters on an OpenAI-compatible (vLLM) server: criteria, client, cache, and the rate stage."""

from tasks.rate.client import RaterClient, RaterConfig, RaterError, RaterUnavailable, check_server
from tasks.rate.criteria import CRITERIA, DOMAINS, SCORE_CRITERIA, Criterion, get_criteria
from tasks.rate.stage import ALL_CRITERIA, RateConfig, RateResult, run_rate

__all__ = [
    "ALL_CRITERIA",
    "CRITERIA",
    "DOMAINS",
    "SCORE_CRITERIA",
    "Criterion",
    "RateConfig",
    "RateResult",
    "RaterClient",
    "RaterConfig",
    "RaterError",
    "RaterUnavailable",
    "check_server",
    "get_criteria",
    "run_rate",
]
