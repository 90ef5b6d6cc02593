"""Prompts for the game: where they come from (lists, strategies, JSONL traces), and the buckets.

``sources`` turns what a test passes into tagged prompts; ``buckets`` is the capability
taxonomy, the one list of bucket names every other part of pytest-bbi reads.
"""

from pytest_bbi.prompts.buckets import (
    DEFAULT_BUCKETS,
    check_bucket,
    register_capability,
    registered_capabilities,
)
from pytest_bbi.prompts.sources import Prompt, draw, from_jsonl, normalize, tag

__all__ = [
    "DEFAULT_BUCKETS",
    "Prompt",
    "check_bucket",
    "draw",
    "from_jsonl",
    "normalize",
    "register_capability",
    "registered_capabilities",
    "tag",
]
