"""The feature cache: features computed once, kept apart by producer, damage detected, shared."""

import dataclasses
import json
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pytest_bbi import context
from pytest_bbi.adversaries import Deadline, cached_embeddings
from pytest_bbi.errors import BbiWarning
from pytest_bbi.generation.cache import FILENAME, GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.features import FeatureCache, tally
from pytest_bbi.models import LazyModel, from_callable
from pytest_bbi.models.uncounted import loading, loads


def upper(calls):
    """A producer that records every batch it is asked and answers each text in upper case."""

    def compute(texts):
        calls.append(list(texts))
        return [text.upper() for text in texts]

    return compute


def test_features_are_computed_once_in_one_batch_and_read_back_by_a_new_instance(tmp_path):
    calls = []
    with GenerationCache(tmp_path) as store:
        features = FeatureCache(store)
        before = tally().get("test-kind", {"read": 0, "computed": 0})
        assert features.through("test-kind", "p", ["b", "a", "b"], upper(calls)) == ["B", "A", "B"]
        assert features.through("test-kind", "p", ["a", "c", "b"], upper(calls)) == ["A", "C", "B"]
        assert calls == [["b", "a"], ["c"]]
        after = tally()["test-kind"]
        assert after["computed"] - before["computed"] == 3
        assert after["read"] - before["read"] == 2
    with GenerationCache(tmp_path) as store:
        assert FeatureCache(store).through("test-kind", "p", ["c", "a"], upper(calls)) == ["C", "A"]
    assert len(calls) == 2


def test_producers_and_kinds_are_kept_apart(tmp_path):
    calls = []
    with GenerationCache(tmp_path) as store:
        features = FeatureCache(store)
        features.through("embedding", "encoder-1", ["x"], upper(calls))
        features.through("embedding", "encoder-2", ["x"], lambda texts: ["other"] * len(texts))
        features.through("scores", "encoder-1", ["x"], lambda texts: ["-1.5"] * len(texts))
        assert features.through("embedding", "encoder-1", ["x"], upper(calls)) == ["X"]
        assert features.through("embedding", "encoder-2", ["x"], upper(calls)) == ["other"]
        assert features.through("scores", "encoder-1", ["x"], upper(calls)) == ["-1.5"]
        # A completion of a model with the producer's identity is another row again.
        assert store.get_many("encoder-1", ["x"], [0]) == [None]
        assert len(store) == 3
    assert calls == [["x"]]


def test_scores_keep_the_keys_a_cached_model_wrote_before_the_feature_cache(tmp_path):
    """A warm cache from an earlier version answers the likelihood adversary's scores."""
    pair = json.dumps(["the prompt", "the completion"])
    with GenerationCache(tmp_path) as store:
        store.put_many("hf:abc\x00scores", [pair], [0], ["-3.25"])
        model = from_callable(lambda prompt, seed: "x", name="m")
        model.identity = "hf:abc"
        model.score = lambda prompts, completions: pytest.fail("a stored score was recomputed")
        assert CachedModel(model, store).score(["the prompt"], ["the completion"]) == [-3.25]


def test_a_tampered_row_reads_as_missing_and_is_computed_again(tmp_path):
    calls = []
    with GenerationCache(tmp_path) as store:
        FeatureCache(store).through("embedding", "enc", ["a", "b"], upper(calls))
    with sqlite3.connect(tmp_path / FILENAME) as connection:
        changed = connection.execute(
            "UPDATE completions SET completion = 'TAMPERED' WHERE completion = 'A'"
        ).rowcount
    assert changed == 1
    with GenerationCache(tmp_path) as store:
        assert FeatureCache(store).through("embedding", "enc", ["a", "b"], upper(calls)) == [
            "A",
            "B",
        ]
    assert calls == [["a", "b"], ["a"]]


def test_a_garbage_file_is_moved_aside_with_a_warning_and_features_computed_again(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"not a database, just garbage " * 100)
    calls = []
    with pytest.warns(BbiWarning, match="moved to"), GenerationCache(tmp_path) as store:
        assert FeatureCache(store).through("embedding", "enc", ["a"], upper(calls)) == ["A"]
    assert calls == [["a"]]


WRITER = """
import json, sys, time
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.features import FeatureCache

folder, name, log, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
shared = [f"shared {i}" for i in range(200)]
own = [f"{name} {i}" for i in range(200)]

def compute(texts):
    with open(log, "a") as out:
        out.write(json.dumps(texts) + "\\n")
    return [text[::-1] for text in texts]

while time.time() < start:
    time.sleep(0.01)
with GenerationCache(folder) as store:
    features = FeatureCache(store)
    for index in range(0, 200, 20):
        batch = own[index : index + 20] + shared[index : index + 20]
        assert features.through("embedding", "enc", batch, compute) == [t[::-1] for t in batch]
"""


def test_two_processes_writing_at_once_lose_nothing_and_compute_each_feature_once(tmp_path):
    start = time.time() + 2.0
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(WRITER),
                str(tmp_path),
                name,
                str(log),
                str(start),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, log in zip(("first", "second"), logs, strict=True)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    computed = [
        text for log in logs for line in log.read_text().splitlines() for text in json.loads(line)
    ]
    expected = {f"{name} {i}" for name in ("first", "second", "shared") for i in range(200)}
    assert sorted(computed) == sorted(expected)  # each text once, across both processes
    with GenerationCache(tmp_path) as store:
        assert len(store) == 600
        texts = sorted(expected)
        assert FeatureCache(store).through(
            "embedding", "enc", texts, lambda missing: pytest.fail(f"{missing} were lost")
        ) == [text[::-1] for text in texts]


@pytest.fixture
def fake_encoder(monkeypatch):
    """The encoder replaced by a seeded random projection that records its batches and loads."""
    batches = []

    def embed(texts, deadline, *, batch_size=64):
        batches.append(list(texts))
        rows = [np.random.default_rng(len(text)).normal(size=384) for text in texts]
        return np.array([row / np.linalg.norm(row) for row in rows])

    monkeypatch.setattr(cached_embeddings, "embed", embed)
    monkeypatch.setattr(cached_embeddings, "load_encoder", lambda: None)
    monkeypatch.setattr(cached_embeddings, "encoder_identity", lambda: "fake-encoder")
    monkeypatch.setattr(cached_embeddings, "_loaded", False)
    return batches


def with_features(store):
    return context.activate(dataclasses.replace(context.current(), features=lambda: store))


def test_cached_embeddings_are_bit_identical_warm_and_load_no_encoder(tmp_path, fake_encoder):
    texts = ["a longer text", "short", "a longer text", "mid size"]
    with GenerationCache(tmp_path) as store:
        restore = with_features(FeatureCache(store))
        try:
            cold = cached_embeddings.embeddings(texts)
            loaded = len(loads())
            warm = cached_embeddings.embeddings(list(reversed(texts)))
        finally:
            restore()
    assert fake_encoder == [["a longer text", "short", "mid size"]]
    assert cold.shape == (4, 384)
    assert np.array_equal(cold[::-1], warm)
    assert loads()[loaded - 1 :] == ("the MiniLM encoder",)  # one load, for the cold call only

    fake_encoder.clear()
    cached_embeddings._loaded = False
    with GenerationCache(tmp_path) as store:
        restore = with_features(FeatureCache(store))
        try:
            again = cached_embeddings.embeddings(texts)
        finally:
            restore()
    assert fake_encoder == []
    assert cached_embeddings._loaded is False  # nothing missed, so the encoder never loaded
    assert np.array_equal(again, cold)


def test_without_a_cache_every_distinct_text_is_embedded(fake_encoder):
    vectors = cached_embeddings.embeddings(["x", "y", "x"])
    assert fake_encoder == [["x", "y"]]
    assert np.array_equal(vectors[0], vectors[2])
    assert cached_embeddings.embeddings([]).shape == (0, 384)


def test_a_load_inside_an_adversarys_turn_does_not_count_against_its_limit():
    deadline = Deadline(0.2)
    model = LazyModel(
        "slow",
        "slow-id",
        lambda: time.sleep(0.5) or from_callable(lambda prompt, seed: "ok", name="x"),
    )
    model.generate(["p"], [0])
    with loading("another slow thing"):
        time.sleep(0.3)
    assert not deadline.expired()
    deadline.check()
    assert deadline.elapsed() < 0.2
    assert loads()[-2:] == ("slow", "another slow thing")
    time.sleep(0.25)
    assert deadline.expired()  # time outside a load still counts


def test_the_session_caches_govern_features_as_they_govern_completions(tmp_path):
    """--bbi-no-cache gives no feature cache; --bbi-cache-clear empties features too."""
    from pytest_bbi.plugin.fixtures import ModelCaches

    assert ModelCaches(None).features() is None
    caches = ModelCaches(tmp_path)
    calls = []
    try:
        features = caches.features()
        assert features is not None
        features.through("embedding", "enc", ["a"], upper(calls))
        features.store.clear()
        features.through("embedding", "enc", ["a"], upper(calls))
    finally:
        caches.close()
    assert calls == [["a"], ["a"]]
