"""The statistics of the game: exact and sequential tests, confidence bounds, power and planning.

Every name is re-exported here, so ``from pytest_bbi import stats; stats.holm(...)`` works
whichever module owns it:

- :mod:`~pytest_bbi.stats.binomial`: exact binomial tests, Clopper–Pearson and Chernoff bounds.
- :mod:`~pytest_bbi.stats.family`: Holm's step-down and the intersection–union test.
- :mod:`~pytest_bbi.stats.mixture`: the normal-mixture confidence sequence (the first engine's).
- :mod:`~pytest_bbi.stats.whitebox`: total-variation terms for the white-box certificate.
"""

from __future__ import annotations

from pytest_bbi.stats.binomial import (
    MAX_PAIRS_TO_DECIDE,
    Alternative,
    accuracy_threshold,
    binomial_p_value,
    clopper_pearson,
    clopper_pearson_lower,
    clopper_pearson_upper,
    held_out_pairs_to_decide,
    mean_lower_bound,
    mean_upper_bound,
    to_advantage,
)
from pytest_bbi.stats.family import FamilyDecision, holm, holm_adjusted, intersection_union
from pytest_bbi.stats.mixture import (
    anytime_p_value,
    confidence_sequence,
    confidence_sequence_radius,
    pairs_to_decide_sequentially,
)
from pytest_bbi.stats.whitebox import (
    advantage_bound_from_tv,
    pairwise_tv_terms,
    queries_bound_from_tv,
    tv_terms,
)

__all__ = [
    "MAX_PAIRS_TO_DECIDE",
    "Alternative",
    "FamilyDecision",
    "accuracy_threshold",
    "advantage_bound_from_tv",
    "anytime_p_value",
    "binomial_p_value",
    "clopper_pearson",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "confidence_sequence",
    "confidence_sequence_radius",
    "held_out_pairs_to_decide",
    "holm",
    "holm_adjusted",
    "intersection_union",
    "mean_lower_bound",
    "mean_upper_bound",
    "pairs_to_decide_sequentially",
    "pairwise_tv_terms",
    "queries_bound_from_tv",
    "to_advantage",
    "tv_terms",
]
