"""The cache stores each completion as it arrives: a fault or interrupt loses nothing answered."""

import threading
import time

import pytest
from scripted import PROMPTS, teacher_fn

from pytest_bbi.errors import ModelOutputError
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import from_callable
from pytest_bbi.models.base import IncrementalModel
from pytest_bbi.models.callable import REPORT_SECONDS

PROMPTS40 = PROMPTS[:40]
SEEDS40 = [derive_seed(0, "teacher", prompt) for prompt in PROMPTS40]


def expected(prompts, seeds):
    return [teacher_fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]


@pytest.mark.parametrize("error", [RuntimeError("server went away"), KeyboardInterrupt()])
def test_a_persistent_fault_on_the_last_of_40_prompts_keeps_the_other_39(tmp_path, error):
    # One model (one identity): it fails for good on the last prompt until the fault is cleared.
    faulty, asked = threading.Event(), []

    def generate(prompt, seed):
        asked.append(prompt)
        if faulty.is_set() and prompt == PROMPTS40[-1]:
            raise error
        return teacher_fn(prompt, seed)

    model = from_callable(generate, name="teacher")
    faulty.set()
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(type(error)):
            CachedModel(model, cache).generate(PROMPTS40, SEEDS40)
        stored = cache.get_many(model.identity, PROMPTS40, SEEDS40)
    assert stored[:39] == expected(PROMPTS40[:39], SEEDS40[:39])
    assert stored[39] is None

    faulty.clear()
    asked.clear()
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(model, cache)
        assert cached.generate(PROMPTS40, SEEDS40) == expected(PROMPTS40, SEEDS40)
    assert asked == [PROMPTS40[-1]]  # the rerun asks only for the missing one
    assert (cached.hits, cached.misses) == (39, 1)


def test_a_slow_function_has_each_completion_stored_before_the_next_call(tmp_path):
    stored_before_call = []

    with GenerationCache(tmp_path) as cache:

        def slow(prompt, seed):
            stored_before_call.append(len(cache))
            time.sleep(REPORT_SECONDS)
            return teacher_fn(prompt, seed)

        model = from_callable(slow, name="slow-teacher")
        CachedModel(model, cache).generate(PROMPTS[:5], SEEDS40[:5])
    assert stored_before_call == [0, 1, 2, 3, 4]


def test_a_batched_function_has_each_call_stored_before_the_next(tmp_path):
    stored_before_call = []
    with GenerationCache(tmp_path) as cache:

        def batched(prompts, seeds):
            stored_before_call.append(len(cache))
            return expected(prompts, seeds)

        model = from_callable(batched, name="teacher", batched=True)
        CachedModel(model, cache, chunk_size=16).generate(PROMPTS40, SEEDS40)
    assert stored_before_call == [0, 16, 32]


class ThreadedModel:
    """An incremental model answering from several threads, out of order, then failing."""

    name = "threaded"
    identity = "threaded:1"

    def __init__(self, fail_at=None):
        self.fail_at = fail_at

    def generate(self, prompts, seeds):
        return self.generate_incrementally(prompts, seeds, lambda indices, texts: None)

    def generate_incrementally(self, prompts, seeds, on_answered):
        answers = [None] * len(prompts)
        failures = []

        def work(indices):
            for index in indices:
                if index == self.fail_at:
                    failures.append(RuntimeError(f"prompt {index} failed"))
                    return
                answers[index] = teacher_fn(prompts[index], seeds[index])
                on_answered([index], [answers[index]])

        threads = [
            threading.Thread(target=work, args=(range(start, len(prompts), 4),))
            for start in range(4)
        ]
        for thread in reversed(threads):
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return answers


def test_an_incremental_model_answering_from_threads_is_stored_as_it_answers(tmp_path):
    assert isinstance(ThreadedModel(), IncrementalModel)
    handed = {}
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(ThreadedModel(fail_at=9), cache)
        with pytest.raises(RuntimeError, match="prompt 9 failed"):
            cached.generate(PROMPTS[:20], SEEDS40[:20])
        stored = cache.get_many("threaded:1", PROMPTS[:20], SEEDS40[:20])
        # Thread 1 of 4 stopped at prompt 9; the other threads answered all of theirs.
        lost = {9, 13, 17}
        assert [index for index, text in enumerate(stored) if text is None] == sorted(lost)
        assert cached.misses == 17

        cached = CachedModel(ThreadedModel(), cache)
        prompts = PROMPTS[:20] + PROMPTS[:2]
        seeds = SEEDS40[:20] + SEEDS40[:2]
        result = cached.generate_incrementally(
            prompts, seeds, lambda indices, texts: handed.update(zip(indices, texts, strict=True))
        )
    assert result == expected(prompts, seeds)
    assert handed == dict(enumerate(result))  # cached and fresh ones, every position once
    assert (cached.hits, cached.misses) == (19, 3)


class Misreporting:
    name = "misreporting"
    identity = "misreporting:1"

    def __init__(self, mode):
        self.mode = mode

    def generate(self, prompts, seeds):
        raise AssertionError("the cache uses generate_incrementally")

    def generate_incrementally(self, prompts, seeds, on_answered):
        answers = ["answer"] * len(prompts)
        if self.mode == "twice":
            on_answered([0], ["answer"])
            on_answered([0], ["answer"])
        elif self.mode == "twice in one call":
            on_answered([1, 1], ["answer", "answer"])
        elif self.mode == "out of range":
            on_answered([len(prompts)], ["answer"])
        elif self.mode == "not text":
            on_answered([0], [None])
        elif self.mode == "changed":
            on_answered([0], ["first"])
        return answers


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("twice", "prompt 0 twice"),
        ("twice in one call", "prompt 1 twice"),
        ("out of range", "prompt index 2 of a call with 2 prompts"),
        ("not text", "returned NoneType"),
        ("changed", "handed over 'first' for prompt 0 but returned 'answer'"),
    ],
)
def test_a_model_that_breaks_the_hand_over_contract_is_refused(tmp_path, mode, message):
    with GenerationCache(tmp_path) as cache, pytest.raises(ModelOutputError, match=message):
        CachedModel(Misreporting(mode), cache).generate(["a", "b"], [1, 2])
