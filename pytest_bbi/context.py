"""The running test's context (seed, capability, verdict sink, caches), as the plugin sets it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS

if TYPE_CHECKING:
    from pytest_bbi.fingerprints.document import Fingerprint
    from pytest_bbi.generation.features import FeatureCache
    from pytest_bbi.models.base import Model
    from pytest_bbi.verdict import Verdict

DEFAULT_SEED = 0


@dataclass(frozen=True)
class TestContext:
    """What the plugin knows about the test being run.

    Attributes:
        seed: the session's run seed.
        capability: the bucket named by the test's ``capability`` marker, if any.
        buckets: the capability taxonomy in force.
        bucket_epsilon: per-bucket ε overrides (ini ``bbi_bucket_epsilon``).
        bucket_alpha: per-bucket α overrides (ini ``bbi_bucket_alpha``).
        record: called with every verdict the test produces.
        record_fingerprint: called with every fingerprint the test computes.
        judge: loads the session's ``judge`` model (``--bbi-judge``) when one is configured,
            for judge adversaries named without a model.
        reference: loads the session's ``reference`` model (``--bbi-reference``) when one is
            configured, for the adversaries that score completions with a local model
            (``reference``, ``rank``) when the teacher cannot.
        cache: puts a model behind the session's generation, score and token log-probability
            caches (the plugin's, opened on first use; the model unchanged under
            ``--bbi-no-cache`` and outside pytest). A model already behind a cache is
            returned unchanged.
        features: the session's feature cache (embeddings of texts), opened on first use; it
            returns None under ``--bbi-no-cache`` and outside pytest, where every feature is
            computed afresh.
        warn_skipped: whether an assertion warns at once about the adversaries that did not
            play (outside pytest); the plugin warns once per session instead, from the
            controller's summary, however many tests and workers met them.
    """

    seed: int = DEFAULT_SEED
    capability: str | None = None
    buckets: tuple[str, ...] = DEFAULT_BUCKETS
    bucket_epsilon: Mapping[str, float] = field(default_factory=dict)
    bucket_alpha: Mapping[str, float] = field(default_factory=dict)
    record: Callable[[Verdict], None] = field(default=lambda verdict: None)
    record_fingerprint: Callable[[Fingerprint], None] = field(default=lambda document: None)
    judge: Callable[[], Model] | None = None
    reference: Callable[[], Model] | None = None
    cache: Callable[[Model], Model] = field(default=lambda model: model)
    features: Callable[[], FeatureCache | None] = field(default=lambda: None)
    warn_skipped: bool = True


_CURRENT: ContextVar[TestContext] = ContextVar("pytest_bbi_test_context", default=TestContext())  # noqa: B039 (frozen)


def current() -> TestContext:
    """The running test's context, or a default one (seed 0) outside pytest."""
    return _CURRENT.get()


def activate(context: TestContext) -> Callable[[], None]:
    """Make ``context`` current; return a function that restores the previous one."""
    token = _CURRENT.set(context)
    return lambda: _CURRENT.reset(token)
