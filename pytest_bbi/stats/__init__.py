"""The statistics of the game: exact and sequential tests, confidence bounds, power and planning.

Every name is re-exported here, so ``from pytest_bbi import stats; stats.holm(...)`` works
whichever module owns it:

- :mod:`~pytest_bbi.stats.binomial`: exact binomial tests, Clopper–Pearson and Chernoff bounds.
- :mod:`~pytest_bbi.stats.family`: Holm's step-down and the intersection–union test.
- :mod:`~pytest_bbi.stats.sequential`: exact group-sequential designs with alpha spending.
- :mod:`~pytest_bbi.stats.stagewise`: their power, conditional power and point estimate.
- :mod:`~pytest_bbi.stats.betting`: betting confidence sequences for importance-weighted pairs.
- :mod:`~pytest_bbi.stats.power`: the detectable advantage and the planner's arithmetic.
- :mod:`~pytest_bbi.stats.whitebox`: total-variation terms for the white-box certificate.
- :mod:`~pytest_bbi.stats.selection`: fixed-sequence testing of fallback thresholds.
"""

from __future__ import annotations

from pytest_bbi.stats.betting import betting_lower_bound, betting_p_value, betting_upper_bound
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
from pytest_bbi.stats.power import (
    MAX_PLANNED_QUERIES,
    MAX_SEQUENTIAL_QUERIES,
    Mode,
    critical_count,
    detectable_advantage,
    fixed_n_power,
    pairs_to_certify,
    queries_needed,
)
from pytest_bbi.stats.selection import (
    ThresholdSelection,
    ThresholdTest,
    fixed_sequence_threshold,
    per_prompt_rows,
)
from pytest_bbi.stats.sequential import (
    NESTED_LEVEL_LIMIT,
    GroupSequentialDesign,
    Spending,
    alpha_spending,
    group_sequential_design,
    sequential_lower_bound,
    sequential_p_value,
    sequential_upper_bound,
)
from pytest_bbi.stats.stagewise import (
    OperatingCharacteristics,
    conditional_power,
    median_unbiased_accuracy,
    operating_characteristics,
)
from pytest_bbi.stats.whitebox import (
    pairwise_tv_terms,
    queries_bound_from_tv,
    tv_terms,
)

__all__ = [
    "MAX_PAIRS_TO_DECIDE",
    "MAX_PLANNED_QUERIES",
    "MAX_SEQUENTIAL_QUERIES",
    "NESTED_LEVEL_LIMIT",
    "Alternative",
    "FamilyDecision",
    "GroupSequentialDesign",
    "Mode",
    "OperatingCharacteristics",
    "Spending",
    "ThresholdSelection",
    "ThresholdTest",
    "accuracy_threshold",
    "alpha_spending",
    "betting_lower_bound",
    "betting_p_value",
    "betting_upper_bound",
    "binomial_p_value",
    "clopper_pearson",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "conditional_power",
    "critical_count",
    "detectable_advantage",
    "fixed_n_power",
    "fixed_sequence_threshold",
    "group_sequential_design",
    "held_out_pairs_to_decide",
    "holm",
    "holm_adjusted",
    "intersection_union",
    "mean_lower_bound",
    "mean_upper_bound",
    "median_unbiased_accuracy",
    "operating_characteristics",
    "pairs_to_certify",
    "pairwise_tv_terms",
    "per_prompt_rows",
    "queries_bound_from_tv",
    "queries_needed",
    "sequential_lower_bound",
    "sequential_p_value",
    "sequential_upper_bound",
    "to_advantage",
    "tv_terms",
]
