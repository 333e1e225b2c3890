"""Mix stage: apply a sampling function (QuaDMix, RegMix, top-k, gumbel, uniform) to the scored corpus → a mixture.

Entry point: :func:`run_mix` with :class:`MixConfig` (``quarry mix`` on the command line).

Output format (read by the publish stage)
-----------------------------------------
Everything lives under ``store.mixtures(<name>)`` (``<root>/mixtures/<name>/``)::

    config.json                              the settings and their hash (a mixture name is immutable)
    documents/<snapshot>/<shard>.parquet     one file per input documents shard
    summary.json                             written last: its presence means the mixture is complete
    _work/                                   intermediate statistics (may be deleted after completion)

``documents/<snapshot>/<shard>.parquet`` (zstd, one row per *selected* document, in the shard's row order):

==============  =======  ===================================================================================
column          type     meaning
==============  =======  ===================================================================================
``id``          string   document id (``documents/<snapshot>/<shard>.parquet`` holds its text)
``snapshot``    string   the document's snapshot
``shard``       string   the document's shard
``domain``      string   the domain it was mixed under (``scores.domain``, or ``cluster-<n>``)
``n_tokens``    int64    its platform token count (``documents.n_tokens``)
``repetitions`` int32    how many times the document appears in the mixture (>= 1)
==============  =======  ===================================================================================

Documents that are not listed have 0 repetitions (not selected, duplicates, unscored). The mixture's size in
tokens is ``Σ repetitions × n_tokens``. Every usable input shard gets an output file, possibly with zero rows;
a skipped shard (listed with its reason in ``summary.json`` → ``corpus.shards_skipped``) gets none.

``summary.json`` keys:

* ``name``, ``format_version`` (1), ``spec`` (the sampling function and its parameters, see
  :mod:`tasks.mix.sampling`), ``seed`` (repetition draws are a pure function of seed and id), ``sweep_id``
  (the sweep whose chosen parameters were used, or null), ``snapshots``, ``created_at``, ``documents_path``;
* ``corpus``: ``shards``, ``shards_skipped`` (shard → reason, e.g. no scores attributes), ``documents`` and
  ``tokens`` usable, ``dropped`` (counts by reason: duplicates, invalid_scores, missing_scores, empty, ...);
* ``mixture``: ``documents`` (distinct selected), ``copies`` (Σ repetitions), ``tokens`` (Σ repetitions ×
  n_tokens);
* ``domains``: per domain ``corpus_tokens``, ``corpus_documents``, ``corpus_proportion``, ``mixture_tokens``,
  ``mixture_documents``, ``copies``, ``proportion`` (realised share of the mixture's tokens), ``epochs``
  (mixture tokens / corpus tokens), ``topk_tokens``; a domain without documents shows zeros;
* ``unparameterised_domains``: corpus domains the spec has no parameters for (they contribute nothing);
* ``baselines``: realised domain proportions of uniform sampling (``uniform``) and of top-k by score (``topk``:
  criterion, keep_fraction, tokens, proportions), for comparison;
* ``proxy_comparison`` (when made from a sweep): the sweep's validation comparison of the chosen mixture and
  the baselines: objective and target-set losses of proxies trained on each, held-out loss, and their
  differences to uniform sampling (see :func:`tasks.sweep.validate.comparison`).
"""

from tasks.mix.sampling import QUALITY_CRITERIA
from tasks.mix.specs import (
    DomainParams,
    GumbelSpec,
    QuaDMixSpec,
    RegMixSpec,
    SamplingSpec,
    TopKSpec,
    UniformSpec,
    spec_from_json,
)
from tasks.mix.stage import MixConfig, MixResult, run_mix

__all__ = [
    "QUALITY_CRITERIA",
    "DomainParams",
    "GumbelSpec",
    "MixConfig",
    "MixResult",
    "QuaDMixSpec",
    "RegMixSpec",
    "SamplingSpec",
    "TopKSpec",
    "UniformSpec",
    "run_mix",
    "spec_from_json",
]
