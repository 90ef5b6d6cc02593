"""The kernel adversary: the MMD witness function of a string kernel, compared pairwise."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial

KernelName = Literal["hamming", "spectrum", "sum"]
"""The kernels on completions: Hamming on code points, k-spectrum, or their sum."""

_KERNELS: tuple[str, ...] = get_args(KernelName)
_CHUNK = 256
_PAD = 0
_POSITION_STRIDE = 0x110001
_MIN_SCALE = 1e-12


def _code_points(texts: Sequence[str], max_length: int) -> NDArray[np.int64]:
    """The first ``max_length`` code points of each text, shifted by one and padded with 0.

    Surrogate code points (which a ``str`` may hold) count as the code points they are.
    """
    codes = np.full((len(texts), max_length), _PAD, dtype=np.int64)
    for i, text in enumerate(texts):
        head = text[:max_length].encode("utf-32-le", "surrogatepass")
        codes[i, : len(head) // 4] = np.frombuffer(head, dtype="<u4").astype(np.int64) + 1
    return codes


def _position_keys(codes: NDArray[np.int64]) -> NDArray[np.int64]:
    """One integer per (position, code point): the coordinates of the Hamming feature map."""
    positions = np.arange(codes.shape[1], dtype=np.int64) * _POSITION_STRIDE
    return codes + positions


class _HammingWitness:
    """The witness of the Hamming kernel, linear in one-hot (position, code point) features.

    k(a, b) is the fraction of the first ``max_length`` positions where a and b (padded with a
    sentinel) hold the same code point, so mean_t k(y, t) is the mean over positions of the
    share of texts t holding y's code point there.
    """

    def __init__(self, teacher: Sequence[str], student: Sequence[str], max_length: int) -> None:
        self._max_length = max_length
        keys = np.concatenate(
            [
                _position_keys(_code_points(teacher, max_length)).ravel(),
                _position_keys(_code_points(student, max_length)).ravel(),
            ]
        )
        weights = np.concatenate(
            [
                np.full(len(teacher) * max_length, 1.0 / len(teacher)),
                np.full(len(student) * max_length, -1.0 / len(student)),
            ]
        )
        self._keys, inverse = np.unique(keys, return_inverse=True)
        self._weights = np.bincount(inverse, weights=weights) / max_length

    def __call__(self, texts: Sequence[str]) -> NDArray[np.float64]:
        keys = _position_keys(_code_points(texts, self._max_length))
        index = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        found = self._keys[index] == keys
        contributions: NDArray[np.float64] = np.where(found, self._weights[index], 0.0).sum(axis=1)
        return contributions


class _SpectrumWitness:
    """The witness of the normalized k-spectrum kernel, exact over character k-gram counts.

    k(a, b) is the cosine of the k-gram count vectors of a and b (0 when either has no k-gram),
    so the witness is the cosine-weighted dot product with the difference of mean unit vectors.
    """

    def __init__(self, teacher: Sequence[str], student: Sequence[str], k: int) -> None:
        self._k = k
        self._mean: defaultdict[str, float] = defaultdict(float)
        for texts, sign in ((teacher, 1.0), (student, -1.0)):
            weight = sign / len(texts)
            for text in texts:
                counts, norm = self._counts(text)
                for gram, count in counts.items():
                    self._mean[gram] += weight * count / norm

    def _counts(self, text: str) -> tuple[Counter[str], float]:
        counts = Counter(text[i : i + self._k] for i in range(len(text) - self._k + 1))
        norm = math.sqrt(sum(c * c for c in counts.values()))
        return counts, norm

    def __call__(self, texts: Sequence[str]) -> NDArray[np.float64]:
        values = np.zeros(len(texts))
        for i, text in enumerate(texts):
            counts, norm = self._counts(text)
            if norm:
                dot = sum(count * self._mean.get(gram, 0.0) for gram, count in counts.items())
                values[i] = dot / norm
        return values


class KernelAdversary:
    """Tells the models apart with the MMD witness function of a kernel on completions.

    Following model equality testing (Gao et al., ICLR 2025), the witness
    w(y) = mean_teacher k(y, t) − mean_student k(y, s) is fitted on the training completions;
    a trial (first, second) scores w(first) − w(second), squashed by a logistic function scaled
    by the root mean square of the training score differences (taken in both orders, so their
    mean is zero). The probability is exactly 0.5 at score 0 (e.g. identical completions) and
    exactly antisymmetric: swapping the completions gives 1 − p.

    Its work cap: the first ``max_length`` code points of each completion (Hamming) and its
    character k-grams (spectrum), one pass each; no solver, no clock, so its answer is a pure
    function of its inputs.

    Args:
        kernel: ``"hamming"`` (share of agreeing code points over the first ``max_length``
            positions, padded with a sentinel), ``"spectrum"`` (cosine of character k-gram
            counts) or ``"sum"`` of the two.
        max_length: positions compared by the Hamming kernel.
        k: k-gram length of the spectrum kernel.

    Attributes:
        name: ``"kernel"``.

    Raises:
        ValueError: on an unknown kernel, ``max_length < 1`` or ``k < 1``.
    """

    name = "kernel"

    def __init__(self, *, kernel: KernelName = "sum", max_length: int = 64, k: int = 3) -> None:
        if kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(_KERNELS)}; got {kernel!r}")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1; got {max_length}")
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}")
        self.kernel = kernel
        self.max_length = max_length
        self.k = k

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> list[float]:
        """Fit the witness on ``train`` and return P(first is the teacher's) for every trial.

        Args:
            train: training pairs with roles revealed.
            trials: held-out pairs in hidden order.
            deadline: the safety limit, checked between chunks of kernel computation.

        Returns:
            One probability in [0, 1] per trial, in order; 0.5 for all without training pairs.

        Raises:
            AdversaryTimeout: when the safety limit passes.
        """
        deadline.check()
        if not trials:
            return []
        if not train:
            return [0.5] * len(trials)
        teacher = [p.teacher for p in train]
        student = [p.student for p in train]
        witnesses: list[_HammingWitness | _SpectrumWitness] = []
        if self.kernel in ("hamming", "sum"):
            witnesses.append(_HammingWitness(teacher, student, self.max_length))
            deadline.check()
        if self.kernel in ("spectrum", "sum"):
            witnesses.append(_SpectrumWitness(teacher, student, self.k))
            deadline.check()

        firsts = [t.first for t in trials]
        seconds = [t.second for t in trials]
        texts = list(dict.fromkeys(teacher + student + firsts + seconds))
        values = np.zeros(len(texts))
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            for witness in witnesses:
                values[start : start + len(chunk)] += witness(chunk)
            deadline.check()
        row = {text: i for i, text in enumerate(texts)}

        def scores(a: Sequence[str], b: Sequence[str]) -> NDArray[np.float64]:
            ia = np.fromiter((row[t] for t in a), dtype=np.intp, count=len(a))
            ib = np.fromiter((row[t] for t in b), dtype=np.intp, count=len(b))
            difference: NDArray[np.float64] = values[ia] - values[ib]
            return difference

        scale = math.sqrt(float(np.mean(scores(teacher, student) ** 2)))
        logits = scores(firsts, seconds)
        logits /= scale if scale > _MIN_SCALE else 1.0
        upper = 1.0 / (1.0 + np.exp(-np.abs(logits)))
        probabilities = np.where(logits > 0, upper, np.where(logits < 0, 1.0 - upper, 0.5))
        return [float(p) for p in probabilities]
