"""Hypothesis strategies that generate prompts offline, per capability bucket, and perturb them.

Every public name here is a function returning a ``SearchStrategy[str]``, except ``BUCKETS``.
Use them with ``@given`` (``@given(prompt=math_prompts())``) or pass them to
``assert_indistinguishable`` as the prompts of a bucket. Perturbations compose over any prompt
strategy: ``typos(casing(code_prompts()))``. Bad arguments raise
``hypothesis.errors.InvalidArgument`` when the strategy is built.
"""

from pytest_bbi.strategies._buckets import (
    BUCKETS,
    bucket_prompts,
    code_prompts,
    domain_prompts,
    factual_prompts,
    instruction_prompts,
    math_prompts,
    multilingual_prompts,
    reasoning_prompts,
    robustness_prompts,
    safety_prompts,
    style_prompts,
)
from pytest_bbi.strategies._characters import (
    casing,
    confusables,
    punctuation,
    typos,
    whitespace,
    zero_width,
)
from pytest_bbi.strategies._edge_cases import edge_cases
from pytest_bbi.strategies._perturbations import (
    injection_suffixes,
    long_inputs,
    name_swaps,
    negations,
    number_swaps,
    perturbed,
)

__all__ = [
    "BUCKETS",
    "bucket_prompts",
    "casing",
    "code_prompts",
    "confusables",
    "domain_prompts",
    "edge_cases",
    "factual_prompts",
    "injection_suffixes",
    "instruction_prompts",
    "long_inputs",
    "math_prompts",
    "multilingual_prompts",
    "name_swaps",
    "negations",
    "number_swaps",
    "perturbed",
    "punctuation",
    "reasoning_prompts",
    "robustness_prompts",
    "safety_prompts",
    "style_prompts",
    "typos",
    "whitespace",
    "zero_width",
]
