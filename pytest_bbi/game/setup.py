"""What a game is played on, for the assertion and ``fingerprint()`` alike: checks and the plan.

Both read the prompts, group them by capability bucket, stratify the budget's queries over the
buckets and plan each bucket's queries the same way, so a fingerprint summarizes the very
completions the teacher gives in the identification game.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_bbi import context
from pytest_bbi.budget import Budget
from pytest_bbi.errors import BudgetError, NotAModelError, PromptError
from pytest_bbi.game.acquisition import Query, plan_queries, schedule
from pytest_bbi.models.base import Model
from pytest_bbi.options import parse_seed
from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS, check_bucket, registered_capabilities
from pytest_bbi.prompts.sources import Prompt, normalize

UNTAGGED = "all"
"""The bucket name of prompts that carry no capability bucket."""

_MODES = ("detect", "certify")


def check_budget(budget: object) -> Budget:
    """Return ``budget`` if it is a :class:`~pytest_bbi.Budget`.

    Raises:
        BudgetError: when it is not.
    """
    if not isinstance(budget, Budget):
        raise BudgetError(
            f"budget={budget!r}: pass a pytest_bbi.Budget, e.g. budget=Budget(queries=400)."
        )
    return budget


def check_decision(epsilon: object, alpha: object, mode: object) -> None:
    """Check the decision's ε, α and mode.

    Raises:
        BudgetError: for an ε outside [0, 1), an α outside (0, 1), or an unknown mode.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 <= epsilon < 1:
        raise BudgetError(
            f"epsilon={epsilon!r}: ε is the largest advantage you tolerate and must lie in "
            "[0, 1), e.g. epsilon=0.1."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise BudgetError(
            f"alpha={alpha!r}: α is the error rate the decision may have and must lie in (0, 1), "
            "e.g. alpha=0.05."
        )
    if mode not in _MODES:
        raise BudgetError(
            f"mode={mode!r}: use mode='detect' (fail only on evidence of a difference, for "
            "regression CI) or mode='certify' (pass only on evidence of no difference, for "
            "release gates)."
        )


def check_model(model: object, role: str) -> Model:
    """Return ``model``, behind the session's caches, if it is a :class:`~pytest_bbi.models.Model`.

    Under the plugin every model goes through the session's generation cache however it was
    made (a fixture of the plugin or of the user, ``load()`` in the test); outside pytest, and
    under ``--bbi-no-cache``, it is returned as it is.

    Args:
        model: the candidate.
        role: the argument's name, for the message (``"teacher"``, ``"student"``, ``"model"``).

    Raises:
        NotAModelError: when it is not a model; the message says how to make one.
    """
    if not isinstance(model, Model):
        raise NotAModelError(
            f"{role}={model!r} is not a model: pass the `teacher` or `student` fixture, a model "
            "from pytest_bbi.models.load('hf:...'), or wrap a function with "
            "pytest_bbi.models.from_callable(fn, name=...)."
        )
    return context.current().cache(model)


@dataclass(frozen=True)
class Setup:
    """The checked, planned material of one game (or fingerprint).

    Attributes:
        context: the running test's context.
        run_seed: the run seed.
        capability: the bucket of untagged prompts, when known.
        groups: bucket → its prompts, buckets sorted by name.
        split: bucket → its share of the budget's queries.
    """

    context: context.TestContext
    run_seed: int
    capability: str | None
    groups: dict[str, list[str]]
    split: dict[str, int]

    def plan(self, bucket: str) -> Sequence[Query]:
        """The bucket's queries for its whole share of the budget, in their seeded order."""
        return plan_queries(self.groups[bucket], self.split[bucket], self.run_seed, bucket)


def resolve_context(
    capability: str | None, seed: int | None
) -> tuple[tuple[str, ...], str | None, int]:
    """The known buckets, the capability and the run seed, from the arguments or the test.

    Raises:
        BbiError: for an unknown capability, or a seed that is not an int in [0, 2**63).
    """
    test_context = context.current()
    known = (*test_context.buckets, *registered_capabilities())
    capability = capability if capability is not None else test_context.capability
    if capability is not None:
        check_bucket(capability, known)
    run_seed = test_context.seed if seed is None else parse_seed("seed", seed, text=False)
    return known, capability, run_seed


def set_up(prompts: object, budget: Budget, *, capability: str | None, seed: int | None) -> Setup:
    """Read the test's context, check the capability and seed, and group and split the prompts.

    Args:
        prompts: the prompt distribution, as the assertion takes it.
        budget: the budget; its queries are stratified equally over the buckets.
        capability: the bucket of untagged prompts; defaults to the test's marker.
        seed: the run seed; defaults to the session's.

    Returns:
        The setup.

    Raises:
        BbiError: for an unknown capability, a seed that is not an int in [0, 2**63) (what
            ``--bbi-seed`` takes), bad prompts, or too few queries for the buckets.
    """
    known, capability, run_seed = resolve_context(capability, seed)
    groups = _group_by_bucket(_prompt_items(prompts, capability, budget, run_seed), known)
    split = _split_queries(budget.queries, list(groups))
    if budget.population == "traffic":
        _check_traffic(groups, split, budget.train_fraction)
    return Setup(
        context=context.current(),
        run_seed=run_seed,
        capability=capability,
        groups=groups,
        split=split,
    )


def _check_traffic(
    groups: dict[str, list[str]], split: dict[str, int], train_fraction: float
) -> None:
    """Every bucket needs one prompt per held-out pair, and one more to train on."""
    for bucket, prompts in groups.items():
        held_out = sum(
            r.held_out for r in schedule(split[bucket], train_fraction, sequential=False)
        )
        if len(prompts) <= held_out:
            raise BudgetError(
                f"Budget(population='traffic') gives every held-out pair its own prompt, but "
                f"bucket {bucket!r} has {len(prompts)} prompts for {held_out} held-out pairs "
                f"(of {split[bucket]} queries); give it at least {held_out + 1} prompts, lower "
                "queries, or use population='prompts' (the verdict then speaks for the list)."
            )


def _prompt_items(
    prompts: object, capability: str | None, budget: Budget, run_seed: int
) -> list[Prompt]:
    if prompts is None:
        if capability is None:
            raise PromptError(
                "prompts=None outside a capability: pass the prompts to test on (a list of "
                "strings, a Hypothesis strategy, bbi.prompts.from_jsonl(...)), or mark the test "
                "@pytest.mark.capability(NAME) to use that bucket's default prompts."
            )
        prompts = _default_prompts(capability)
    return normalize(prompts, count=budget.queries, seed=run_seed, default_bucket=capability)


def _default_prompts(capability: str) -> object:
    registered = registered_capabilities()
    if capability in DEFAULT_BUCKETS:
        from pytest_bbi.strategies import bucket_prompts

        return bucket_prompts(capability)
    if registered.get(capability) is not None:
        return registered[capability]
    raise PromptError(
        f"capability {capability!r} has no default prompts: pass prompts=..., or register "
        f"them with pytest_bbi.register_capability({capability!r}, prompts=...)."
    )


def _group_by_bucket(items: Sequence[Prompt], known: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for item in items:
        bucket = UNTAGGED if item.bucket is None else check_bucket(item.bucket, known)
        groups.setdefault(bucket, []).append(item.text)
    return dict(sorted(groups.items()))


def _split_queries(queries: int, buckets: Sequence[str]) -> dict[str, int]:
    """Stratify q equally over the buckets, the remainder to the first ones."""
    share, extra = divmod(queries, len(buckets))
    split = {bucket: share + (index < extra) for index, bucket in enumerate(buckets)}
    if min(split.values()) < 2:
        raise BudgetError(
            f"Budget(queries={queries}) over {len(buckets)} buckets leaves fewer than 2 queries "
            f"for some bucket; give at least {2 * len(buckets)} queries (a few hundred per bucket "
            "for a useful test)."
        )
    return split
