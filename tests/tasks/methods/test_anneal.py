"""End-of-training domain upsampling (Llama 3's annealing data mix): the anneal phase's sampling values."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.methods.anneal import AnnealSpec, annealing_values, domain_proportions

DOMAINS = np.array(["web", "web", "code", "math", "web", "code"], dtype=object)
VALUES = np.array([1.0, 0.5, 1.0, 2.0, 0.0, 1.0])
TOKENS = np.array([100.0, 300.0, 50.0, 80.0, 40.0, 150.0])


def test_upweighted_domains_gain_the_share_the_formula_gives_and_the_mass_is_kept() -> None:
    out = annealing_values(DOMAINS, VALUES, ["code", "math"], 3.0, TOKENS)
    assert (out * TOKENS).sum() == pytest.approx((VALUES * TOKENS).sum())  # same number of tokens
    before = domain_proportions(DOMAINS, VALUES, TOKENS)
    after = domain_proportions(DOMAINS, out, TOKENS)
    p = before["code"] + before["math"]
    assert after["code"] + after["math"] == pytest.approx(3 * p / (1 + 2 * p))
    assert after["code"] / after["math"] == pytest.approx(
        before["code"] / before["math"]
    )  # within hq: as before
    assert after["web"] < before["web"]
    web = DOMAINS == "web"
    np.testing.assert_allclose(out[web] / out[web].sum(), VALUES[web] / VALUES[web].sum())  # within web too
    assert out[4] == 0.0  # a document the main mixture does not sample stays out


def test_upweight_one_is_the_main_mixture_and_bad_input_is_refused() -> None:
    np.testing.assert_allclose(annealing_values(DOMAINS, VALUES, ["code"], 1.0, TOKENS), VALUES)
    with pytest.raises(ValueError, match="none of the high-quality domains"):
        annealing_values(DOMAINS, VALUES, ["law"], 3.0, TOKENS)
    with pytest.raises(ValueError, match="shape"):
        annealing_values(DOMAINS[:2], VALUES, ["code"], 3.0)
    with pytest.raises(ValueError, match="anneal_fraction"):
        AnnealSpec(anneal_fraction=1.0, hq_domains=("code",), upweight=2.0)
    with pytest.raises(ValueError, match="high-quality domain"):
        AnnealSpec(anneal_fraction=0.1, hq_domains=(), upweight=2.0)
