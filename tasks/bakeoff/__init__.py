"""The selection-method bake-off (issue 15): the literature's data-selection methods and the sweep's baselines,
each at a matched token budget on a sweep's corpus sample, the same proxies and seeds for each; losses on the
target sets, held-out high-quality text and held-out web documents, diversity and cost.

Modules: ``settings`` (what runs), ``methods`` (the arms' registry, baselines, budget helpers), ``adapters`` (the
``tasks.methods`` arms), ``measures`` (diversity, loss statistics), ``runner`` (:func:`run_bakeoff`, the
outputs), ``plots`` (SVG charts and the table), ``cli`` (``quarry bakeoff``). The release report's panel is
:mod:`tasks.report.bakeoff`.
"""

from tasks.bakeoff.runner import run_bakeoff
from tasks.bakeoff.settings import BakeoffSettings, settings_from_params

__all__ = ["BakeoffSettings", "run_bakeoff", "settings_from_params"]
