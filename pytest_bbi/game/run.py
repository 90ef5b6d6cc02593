"""The round loop: one game played bucket by bucket, round by round, into a verdict."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pytest_bbi.adversaries import LabeledPair, Trial, resolve
from pytest_bbi.adversaries.local import joins_default_class
from pytest_bbi.budget import Budget
from pytest_bbi.game.acquisition import (
    PromptHistory,
    Query,
    Round,
    next_queries,
    plan_queries,
    plan_traffic,
    schedule,
)
from pytest_bbi.game.calibration import Calibrate, calibration_report, measure
from pytest_bbi.game.certificate import Terms, certificate, combined, score_pairs
from pytest_bbi.game.decision import AlphaSplit, Cell, Outcome, decide_game, progress
from pytest_bbi.game.play import (
    Game,
    Score,
    bind_adversaries,
    generate_role,
    make_game,
    score_adversary,
)
from pytest_bbi.game.refits import with_fit_spread, with_measurements
from pytest_bbi.game.setup import UNTAGGED, Setup
from pytest_bbi.models.base import Model, Scorer, TokenScorer
from pytest_bbi.played import BucketPlayed, Played, PlayedPair
from pytest_bbi.verdict import PASSING, Calibration, Certificate, Mode, Verdict


@dataclass
class BucketPlay:
    """One bucket's game in progress: its rounds, what they asked, and the scores so far.

    ``weights`` holds each held-out pair's importance weight d(x)/π(x), in order (empty for
    stratified acquisition); ``answer_weights`` the same for every (prompt, teacher answer,
    student answer) row kept for the calibration report, all queries included, so that rows
    collected under disagreement-guided acquisition can be weighted back to the prompt list.
    """

    prompts: list[str]
    plan: Sequence[Query]
    rounds: list[Round]
    history: PromptHistory = field(default_factory=PromptHistory)
    train: list[LabeledPair] = field(default_factory=list)
    scores: dict[str, Score] = field(default_factory=dict)
    queries: int = 0
    settled: bool = False
    weights: list[float] = field(default_factory=list)
    terms: list[Terms] = field(default_factory=list)
    term_weights: list[float] = field(default_factory=list)
    tv_seconds: float = 0.0
    answers: list[tuple[Query, str, str]] = field(default_factory=list)
    answer_weights: list[float] = field(default_factory=list)
    probes: dict[str, tuple[Trial, float]] = field(default_factory=dict)
    held_out: list[LabeledPair] = field(default_factory=list)

    @property
    def looks(self) -> tuple[int, ...]:
        """The planned cumulative held-out pairs at each look."""
        looks: list[int] = []
        for round_ in self.rounds:
            looks.append((looks[-1] if looks else 0) + round_.held_out)
        return tuple(looks)

    @property
    def planned_queries(self) -> int:
        """The queries of the bucket's whole budget."""
        return sum(round_.queries for round_ in self.rounds)


class GameRun:
    """One identification game between a teacher and a student, from setup to verdict.

    Each bucket plays its share of the budget in rounds (one round in a fixed-n game). In
    certify mode every training pair comes in the first round, so each adversary is fitted once
    (frozen) and only its held-out pairs arrive in later rounds; in detect mode training pairs
    come with every round and learned adversaries refit on all of them. A sequential game stops
    a bucket once more pairs cannot change its outcome, and the whole game once it is decided
    (:func:`~pytest_bbi.game.decision.progress`). :meth:`verdict` then decides the game
    (:func:`~pytest_bbi.game.decision.decide_game`) and assembles the verdict.

    Args:
        setup: the checked prompts, buckets and seed.
        teacher: the reference model.
        student: the model under test.
        budget: the budget.
        mode: ``"detect"`` or ``"certify"``.
        epsilon: the assertion's ε (ini overrides per bucket apply).
        alpha: the assertion's α (the strictest ini override of the buckets applies).
        calibration: the calibration report's settings, or None for no report; the student
            must then implement :class:`~pytest_bbi.models.TokenScorer`.
    """

    def __init__(
        self,
        setup: Setup,
        teacher: Model,
        student: Model,
        budget: Budget,
        mode: Mode,
        epsilon: float,
        alpha: float,
        calibration: Calibrate | None = None,
    ) -> None:
        self.setup = setup
        self.teacher = teacher
        self.student = student
        self.budget = budget
        self.mode = mode
        self.epsilon = float(epsilon)
        ini = setup.context  # the ini's per-bucket overrides
        self.epsilons = {b: ini.bucket_epsilon.get(b, self.epsilon) for b in setup.groups}
        self.alpha = min(
            [float(alpha), *(ini.bucket_alpha[b] for b in setup.groups if b in ini.bucket_alpha)]
        )
        self.scorers: tuple[Scorer, Scorer] | None = (
            (teacher, student)
            if isinstance(teacher, Scorer) and isinstance(student, Scorer)
            else None
        )
        # The default class always names its white-box adversaries: when a model cannot score,
        # bind() sets them aside with the reason, which every report then shows. The reference
        # adversary joins it only where it can play and the likelihood adversary cannot.
        self.adversaries, self.skipped = bind_adversaries(
            resolve(
                budget.adversaries,
                white_box=True,
                reference=joins_default_class(teacher, student),
            ),
            teacher,
            student,
            setup.run_seed,
        )
        self.split = AlphaSplit.of(self.alpha, white_box=self.white_box, mode=mode)
        self.calibration = calibration
        self.frozen = mode == "certify" or not budget.sequential
        self.weighted = budget.acquisition == "disagreement"
        self.plays = {bucket: self._bucket_play(bucket) for bucket in setup.groups}
        # Each adversary's time budget in each bucket.
        self.seconds = None if budget.seconds is None else budget.seconds / len(setup.groups)
        self.generation_seconds = 0.0
        self.rounds_played = 0

    def _bucket_play(self, bucket: str) -> BucketPlay:
        prompts = self.setup.groups[bucket]
        rounds = schedule(
            self.setup.split[bucket],
            self.budget.train_fraction,
            sequential=self.budget.sequential,
            frozen=self.frozen,
        )
        plan: Sequence[Query]
        if self.budget.population == "traffic":
            plan = plan_traffic(prompts, rounds, self.setup.run_seed, bucket)
        else:
            plan = plan_queries(prompts, self.setup.split[bucket], self.setup.run_seed, bucket)
        return BucketPlay(prompts=prompts, plan=plan, rounds=rounds)

    @property
    def white_box(self) -> bool:
        """Whether both models can score completions (certificates, white-box adversaries)."""
        return self.scorers is not None

    def play(self) -> None:
        """Play rounds until every bucket has spent its queries or is settled."""
        while True:
            active = {
                bucket: play
                for bucket, play in self.plays.items()
                if not play.settled and self.rounds_played < len(play.rounds)
            }
            if not active:
                return
            self._play_round(active)
            self.rounds_played += 1
            if self.budget.sequential and self._settle():
                return

    def _settle(self) -> bool:
        """Mark the settled buckets of a sequential game; True when the game is over."""
        certificates = self._certificates() if self.split.certificate_counts else {}
        state = progress(
            self.cells(),
            alpha=self.split,
            mode=self.mode,
            certified={b: c.advantage_upper <= self.epsilons[b] for b, c in certificates.items()},
        )
        for bucket in state.settled:
            self.plays[bucket].settled = True
        return state.stop

    def _play_round(self, plays: Mapping[str, BucketPlay]) -> None:
        """Generate one round's pairs for every bucket in ``plays`` and score each adversary.

        The adversaries fit on every training pair the bucket has so far and are scored on the
        round's new held-out pairs only; each adversary's time budget is shared by all its rounds
        in the bucket, and one that runs out keeps the counts of its finished rounds and plays no
        more. In a white-box game both completions of every query are also scored under both
        models, for the certificate; with a calibration report, every (prompt, teacher answer,
        student answer) is kept.
        """
        run_seed, round_index = self.setup.run_seed, self.rounds_played
        asked = {
            bucket: next_queries(
                self.budget.acquisition,
                play.prompts,
                play.plan,
                play.rounds[round_index].queries,
                play.history,
                run_seed,
                bucket,
                round_index,
            )
            for bucket, play in plays.items()
        }
        every_query = [query for draw in asked.values() for query in draw.queries]
        started = time.perf_counter()
        teacher_outputs = iter(generate_role(self.teacher, "teacher", every_query, run_seed))
        student_outputs = iter(generate_role(self.student, "student", every_query, run_seed))
        self.generation_seconds += time.perf_counter() - started
        for bucket, draw in asked.items():
            play = plays[bucket]
            queries = draw.queries
            bucket_teacher = [next(teacher_outputs) for _ in queries]
            bucket_student = [next(student_outputs) for _ in queries]
            weights = draw.weights if self.weighted else []
            if self.calibration is not None:
                play.answers += list(zip(queries, bucket_teacher, bucket_student, strict=True))
                play.answer_weights += draw.weights
            if self.scorers is not None:
                scoring = time.perf_counter()
                names = (self.teacher.name, self.student.name)
                play.terms += score_pairs(
                    *self.scorers, names, queries, bucket_teacher, bucket_student
                )
                play.term_weights += weights
                play.tv_seconds += time.perf_counter() - scoring
            train = play.rounds[round_index].train
            game = make_game(
                queries, bucket_teacher, bucket_student, train, run_seed, bucket, round_index
            )
            play.history.record_queries(queries)
            play.queries += len(queries)
            play.weights += weights[train:]
            play.train += game.train
            play.held_out += game.held_out
            self._score(bucket, play, replace(game, train=list(play.train)), round_index)

    def _score(self, bucket: str, play: BucketPlay, game: Game, round_index: int) -> None:
        """Score every adversary still playing on one round's held-out pairs of one bucket.

        A frozen adversary (certify mode) is checked, from its second round on, against the
        answer it gave to the first held-out pair of its first round.
        """
        run_seed = self.setup.run_seed
        for adversary in self.adversaries:
            earlier = play.scores.get(adversary.name)
            if earlier is not None and earlier.timed_out:
                continue
            spent = 0.0 if earlier is None else earlier.seconds
            remaining = None if self.seconds is None else max(0.0, self.seconds - spent)
            probe = play.probes.get(adversary.name) if self.frozen else None
            score = score_adversary(
                adversary, game, remaining, run_seed, bucket, round_index, probe
            )
            if len(play.rounds) == 1:  # a fit's spread is measured in one-round games only
                score = with_fit_spread(
                    score, adversary, game, remaining, run_seed, bucket, round_index
                )
            if not score.timed_out:
                play.history.record_evidence(
                    [pair.prompt for pair in game.held_out], score.evidence
                )
                if earlier is None and score.evidence:
                    first = score.evidence[0]
                    answer = 0.5 + first if game.first_is_teacher[0] else 0.5 - first
                    play.probes[adversary.name] = (game.trials()[0], answer)
            play.scores[adversary.name] = score if earlier is None else earlier.then(score)

    def cells(self) -> list[Cell]:
        """Every (bucket, adversary) cell with its score so far, bucket by bucket."""
        return [
            Cell(
                bucket,
                adversary.name,
                score := play.scores[adversary.name],
                self.epsilons[bucket],
                play.looks,
                tuple(play.weights[: len(score.calls)]),
            )
            for bucket, play in self.plays.items()
            for adversary in self.adversaries
        ]

    def _certificates(self, share: int = 1) -> dict[str, Certificate]:
        """Each bucket's white-box certificate at the certificates' α divided by ``share``."""
        if not self.white_box:
            return {}
        return {
            bucket: certificate(
                play.terms,
                play.term_weights,
                queries=play.queries,
                alpha=self.split.certificates / share,
                anytime=self.budget.sequential,
                horizon=play.planned_queries,
                seconds=play.tv_seconds,
            )
            for bucket, play in self.plays.items()
        }

    def _calibrations(self) -> tuple[dict[str, Calibration], Calibration | None]:
        """The calibration report per bucket, and over all of them.

        The student's confidences and the agreements are measured in one pass over every
        bucket's answers; each bucket report's time is its share of that pass. Each report
        tests its thresholds one unit per distinct prompt.
        """
        if self.calibration is None:
            return {}, None
        assert isinstance(self.student, TokenScorer)  # checked by calibration.rule_for
        rule = self.calibration
        rows = [row for play in self.plays.values() for row in play.answers]
        measured = measure(
            rule, self.student, self.student.name, rows, self.teacher, self.setup.run_seed
        )
        per_bucket: dict[str, Calibration] = {}
        start = 0
        for bucket, play in self.plays.items():
            end = start + len(play.answers)
            share = measured.seconds * len(play.answers) / len(rows)
            report = calibration_report(
                measured.confidence[start:end],
                measured.agreed[start:end],
                rule,
                share,
                units=measured.prompts[start:end],
                teacher_pairs=measured.teacher_pairs,
            )
            if report is not None:
                per_bucket[bucket] = report
            start = end
        overall = calibration_report(
            measured.confidence,
            measured.agreed,
            rule,
            measured.seconds,
            units=measured.prompts,
            teacher_pairs=measured.teacher_pairs,
        )
        return per_bucket, overall

    def decide(self) -> Outcome:
        """Decide the finished game (see :func:`~pytest_bbi.game.decision.decide_game`)."""
        return decide_game(
            self.cells(),
            alpha=self.split,
            mode=self.mode,
            train_fraction=self.budget.train_fraction,
            queries={bucket: play.queries for bucket, play in self.plays.items()},
            prompts={bucket: len(play.prompts) for bucket, play in self.plays.items()},
            certificates=self._certificates(),
        )

    def verdict(self, outcome: Outcome) -> Verdict:
        """The verdict of the finished game, with its calibration reports when asked for."""
        results = [result for _, result in outcome.cells]
        calibrations, overall_calibration = self._calibrations()
        groups = self.setup.groups
        certificates = [bucket.certificate for bucket in outcome.buckets.values()]
        power = outcome.power
        detectable = list(power.detectable.values())
        return Verdict(
            passed=outcome.decision in PASSING,
            decision=outcome.decision,
            mode=self.mode,
            epsilon=self.epsilon,
            alpha=self.alpha,
            advantage=max(r.advantage for r in results),
            lower=max(r.lower for r in results),
            upper=max(r.upper for r in results),
            queries=sum(play.queries for play in self.plays.values()),
            seconds=sum(r.seconds for r in results),
            generation_seconds=self.generation_seconds,
            adversaries=with_measurements(
                outcome.adversaries, {bucket: play.scores for bucket, play in self.plays.items()}
            ),
            buckets={
                bucket: replace(
                    result,
                    calibration=calibrations.get(bucket),
                    adversaries=with_measurements(
                        result.adversaries, {bucket: self.plays[bucket].scores}
                    ),
                )
                for bucket, result in outcome.buckets.items()
            },
            seed=self.setup.run_seed,
            capability=next(iter(groups))
            if len(groups) == 1 and UNTAGGED not in groups
            else self.setup.capability,
            queries_to_decide=outcome.queries_to_decide,
            budget_queries=self.budget.queries,
            sequential=self.budget.sequential,
            acquisition=self.budget.acquisition,
            rounds=self.rounds_played,
            certificate=combined(
                [bound for bound in certificates if bound is not None],
                list(self._certificates(share=len(self.plays)).values()),
                self.budget.queries,
            )
            if self.white_box
            else None,
            skipped=self.skipped,
            calibration=overall_calibration,
            estimate=max(r.estimated for r in results),
            detectable=None if None in detectable else max(d for d in detectable if d is not None),
            detect_target=max(power.target.values()),
            underpowered=power.underpowered and outcome.decision == "undetected",
            queries_for_power=power.queries if outcome.decision == "undetected" else None,
            population=self.budget.population,
            prompts=sum(len(play.prompts) for play in self.plays.values()),
            frozen=self.frozen,
            teacher=self.teacher.name,
            student=self.student.name,
            played=self._played(),
        )

    def _played(self) -> Played:
        """Every bucket's pairs and the adversaries' calls on them, kept for exports."""

        def kept(pairs: Sequence[LabeledPair]) -> tuple[PlayedPair, ...]:
            return tuple(PlayedPair(pair.prompt, pair.teacher, pair.student) for pair in pairs)

        return Played(
            buckets={
                bucket: BucketPlayed(
                    train=kept(play.train),
                    held_out=kept(play.held_out),
                    evidence={name: score.evidence for name, score in play.scores.items()},
                    calls={name: score.calls for name, score in play.scores.items()},
                )
                for bucket, play in self.plays.items()
            },
            adversaries={adversary.name: adversary for adversary in self.adversaries},
        )
