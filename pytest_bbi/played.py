"""What a game played, kept for exports: each bucket's pairs and every adversary's calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlayedPair:
    """Both models' completions for one query, roles known.

    Attributes:
        prompt: the prompt both models answered.
        teacher: the teacher's completion.
        student: the student's completion.
    """

    prompt: str
    teacher: str
    student: str


@dataclass(frozen=True)
class BucketPlayed:
    """One bucket's pairs as the game played them, and each adversary's calls on them.

    Attributes:
        train: the training pairs, in the order the adversaries were fitted on them.
        held_out: the held-out pairs, in the order they were scored.
        evidence: adversary name → for each held-out pair it scored, how surely it named the
            teacher: its probability of the right answer minus ½, in [−½, ½]. An adversary that
            overran its safety limit has fewer entries than ``held_out`` (the rounds it
            finished), or none.
        calls: adversary name → for each held-out pair it scored, whether it named the teacher
            (a call at exactly ½ was settled by a seeded coin).
    """

    train: tuple[PlayedPair, ...] = ()
    held_out: tuple[PlayedPair, ...] = ()
    evidence: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    calls: Mapping[str, tuple[bool, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Played:
    """Every bucket's pairs and calls, and the adversaries that made them.

    A verdict keeps this in memory for :func:`pytest_bbi.export.export_verdict`: it is left
    out of ``Verdict.to_dict()``, of the reports and of what xdist workers send the controller.

    Attributes:
        buckets: bucket → what was played there.
        adversaries: adversary name → the adversary object that played (a learned one is
            refitted from ``train`` to export it as a reward model).
    """

    buckets: Mapping[str, BucketPlayed] = field(default_factory=dict)
    adversaries: Mapping[str, object] = field(default_factory=dict)
