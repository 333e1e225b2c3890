"""The literature's data-selection methods as plain, typed, pure functions (issue 15).

Each takes numpy arrays or lists of texts and returns per-document *values*: the expected number of copies of
each document in the selection (0/1 for selection without replacement), the mix framework's sampling value.
Every module names its paper and quotes the formula it implements.

* :mod:`tasks.methods.budget` — token budgets: Gumbel top-k sampling without replacement, hard top-k,
  ``budget_of``.
* :mod:`tasks.methods.dsir` — DSIR (Xie et al. 2023): hashed n-gram importance resampling toward a target set.
* :mod:`tasks.methods.qurating` — QuRating (Wettig et al. 2024): sampling with a temperature over quality.
* :mod:`tasks.methods.dclm` — DCLM (Li et al. 2024): fastText high-quality-vs-web classifier, keep ratio.
* :mod:`tasks.methods.rebalance` — FineWeb2 (Penedo et al. 2025): rehydration by duplicate-cluster size.
* :mod:`tasks.methods.preselect`, :mod:`tasks.methods.climb`, :mod:`tasks.methods.anneal` — PreSelect,
  CLIMB and end-of-training domain upsampling.

The bake-off that runs them side by side at matched token budgets is :mod:`tasks.bakeoff`.
"""
