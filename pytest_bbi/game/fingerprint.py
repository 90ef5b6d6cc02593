"""``fingerprint()``: draws a model's outputs on the game's queries, summarized per bucket."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_bbi._version import __version__
from pytest_bbi.budget import Budget
from pytest_bbi.fingerprints.document import Fingerprint
from pytest_bbi.fingerprints.statistics import output_statistics
from pytest_bbi.game.play import generate_role
from pytest_bbi.game.setup import check_budget, check_model, set_up
from pytest_bbi.models.base import Model

ENCODER = "all-MiniLM-L6-v2"
"""The sentence encoder behind the ``prompt_similarity`` field."""


def _prompt_similarities(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    """Cosine similarity of each completion's MiniLM embedding to its prompt's (cached)."""
    from pytest_bbi.adversaries.cached_embeddings import embeddings

    texts = sorted(set(prompts) | set(completions))
    rows = {text: row for text, row in zip(texts, embeddings(texts), strict=True)}
    return [
        float(np.dot(rows[prompt], rows[completion]))
        for prompt, completion in zip(prompts, completions, strict=True)
    ]


def _versions(embeddings: bool) -> dict[str, str]:
    versions = {"pytest_bbi": __version__, "python": platform.python_version()}
    if embeddings:
        from pytest_bbi.adversaries.encoder import encoder_identity

        versions["encoder"] = encoder_identity()
    return versions


def fingerprint(
    model: Model,
    prompts: object = None,
    *,
    budget: Budget,
    seed: int | None = None,
    capability: str | None = None,
    embeddings: bool = True,
) -> Fingerprint:
    """Fingerprint one model: summary statistics of its outputs, per capability bucket.

    The prompts are read, and the ``budget.queries`` queries planned and stratified over the
    buckets, exactly as :func:`~pytest_bbi.assert_indistinguishable` does, and the model answers
    with the teacher role's seeds: with the same prompts and seed, the fingerprint summarizes
    the very completions the teacher would give in the identification game. Each bucket gets the
    fields of :func:`output_statistics`. Compare fingerprints with
    :func:`~pytest_bbi.fingerprints.compare`, or ``assert fp == bbi_snapshot``.

    Args:
        model: the model to fingerprint.
        prompts: the prompt distribution, as for :func:`~pytest_bbi.assert_indistinguishable`;
            ``None`` inside a capability uses that bucket's default prompts.
        budget: ``budget.queries`` is the number of completions drawn (its adversaries and
            seconds are not used).
        seed: the run seed; defaults to the session's ``--bbi-seed``.
        capability: the bucket of untagged prompts; defaults to the test's ``capability``
            marker.
        embeddings: whether to add ``prompt_similarity`` (MiniLM cosine similarity of each
            completion to its prompt; loads the offline encoder).

    Returns:
        A ``"model"`` fingerprint; its metadata records the model's name and identity, the seed,
        the queries and the package versions. It is also recorded in the session's JSON report.

    Raises:
        BbiError: for bad arguments, prompts or model outputs; the message says the fix.
    """
    budget = check_budget(budget)
    model = check_model(model, "model")
    setup = set_up(prompts, budget, capability=capability, seed=seed)
    run_seed = setup.run_seed
    plans = {bucket: setup.plan(bucket) for bucket in setup.groups}
    every_query = [query for plan in plans.values() for query in plan]
    completions = generate_role(model, "teacher", every_query, run_seed)
    asked = [query.prompt for query in every_query]
    similarities = _prompt_similarities(asked, completions) if embeddings else None

    statistics: dict[str, dict[str, dict[str, Any]]] = {}
    start = 0
    for bucket, plan in plans.items():
        stop = start + len(plan)
        statistics[bucket] = output_statistics(
            completions[start:stop],
            asked[start:stop],
            None if similarities is None else similarities[start:stop],
        )
        start = stop
    document = Fingerprint(
        kind="model",
        statistics=statistics,
        metadata={
            "model": model.name,
            "identity": model.identity,
            "seed": run_seed,
            "queries": budget.queries,
            "capability": setup.capability,
            "embeddings": ENCODER if embeddings else None,
            "versions": _versions(embeddings),
        },
    )
    setup.context.record_fingerprint(document)
    return document
