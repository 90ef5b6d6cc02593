"""Learned adversaries whose accuracy moves between fits, and the relation fingerprints they make.

Shared by tests/unit/test_relation_refits.py and bench/relation_refits.py: two shapes of
between-fit spread a relation fingerprint comparison must not mistake for a change.
"""

from collections import Counter

from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.fingerprints import Fingerprint, relation_fingerprint
from pytest_bbi.models import from_callable

TEACHER = from_callable(teacher_fn, name="teacher")


def tic_student(rate):
    """The scripted teacher with the tic appended to ``rate`` of its outputs."""
    return from_callable(lambda prompt, seed: tic_fn(prompt, seed, rate=rate), name="tic-student")


def _call(first, second):
    """The probability that the first output is the teacher's, from how student-like each is."""
    return 0.5 + 0.5 * ((second > first) - (second < first))


class FewExamples:
    """A custom adversary that learns from its first ``examples`` training pairs only (its
    work cap): the words the student used and the teacher did not. Whether those few pairs
    show the student's tic decides whether this fit finds it, so its accuracy is two-valued
    (found or missed) and varies from fit to fit far more than binomial noise.
    """

    name = "few-examples"

    def __init__(self, examples=2):
        self.examples = examples

    def decide(self, train, trials, deadline):
        words = set()
        for pair in train[: self.examples]:
            words |= set(pair.student.split()) - set(pair.teacher.split())

        def student_words(text):
            return sum(word in words for word in text.split())

        return [_call(student_words(t.first), student_words(t.second)) for t in trials]


class WordWeights:
    """A custom adversary that weighs each word by how much more often the student used it
    than the teacher in its first ``examples`` training pairs: its accuracy moves from fit to
    fit by degrees (how many tics and which noise words the pairs held), a continuous spread.
    """

    name = "word-weights"

    def __init__(self, examples=20):
        self.examples = examples

    def decide(self, train, trials, deadline):
        weights = Counter()
        for pair in train[: self.examples]:
            weights.update(pair.student.split())
            weights.subtract(pair.teacher.split())

        def student_score(text):
            return sum(weights[word] for word in text.split())

        return [_call(student_score(t.first), student_score(t.second)) for t in trials]


def relation(seed, adversary, student, sequential=False, queries=200):
    """The relation fingerprint of the teacher and ``student`` from one fixed-n game."""
    budget = bbi.Budget(queries=queries, adversaries=[adversary], sequential=sequential)
    try:
        verdict = bbi.assert_indistinguishable(
            TEACHER, student, PROMPTS, budget=budget, epsilon=0.1, seed=seed
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    return relation_fingerprint(verdict)


def as_version_2(fingerprint):
    """The relation fingerprint as version 2 wrote it: without the mean accuracy over fits."""
    statistics = {
        bucket: {
            name: {key: value for key, value in record.items() if not key.startswith("fits_")}
            for name, record in fields.items()
        }
        for bucket, fields in fingerprint.statistics.items()
    }
    return Fingerprint("relation", statistics, fingerprint.metadata)
