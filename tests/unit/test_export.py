"""Exports: the formats written, the reward model's fidelity, the safe loader, no secrets."""

import json
import pickle
import struct
from dataclasses import replace

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.adversaries import LabeledPair, Trial
from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.stylometric import StylometricAdversary
from pytest_bbi.errors import ExportError
from pytest_bbi.export import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    PAIRS_FORMAT,
    TARGETS_FORMAT,
    export_verdict,
    folder_name,
    load_reward_model,
)
from pytest_bbi.export.rows import _prompt_rows
from pytest_bbi.models import from_callable
from pytest_bbi.models.redaction import remember_secret
from pytest_bbi.played import BucketPlayed, PlayedPair

TEACHER = from_callable(teacher_fn, name="teacher")


def strong_tic_fn(prompt, seed):
    return tic_fn(prompt, seed, rate=0.6)


def _verdict(student_fn=strong_tic_fn, queries=200, capability="style"):
    budget = bbi.Budget(queries=queries, adversaries=["stylometric"])
    student = from_callable(student_fn, name="student")
    try:
        return bbi.assert_indistinguishable(
            TEACHER, student, PROMPTS, budget=budget, epsilon=0.1, capability=capability
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict


@pytest.fixture(scope="module")
def failing():
    verdict = _verdict()
    assert verdict.decision == "distinguishable"
    return verdict


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_manifest_names_each_file_with_its_format_and_version(failing, tmp_path):
    manifest = export_verdict(failing, tmp_path, nodeid="tests/test_x.py::test_y")
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert (manifest["format"], manifest["version"]) == (EXPORT_FORMAT, EXPORT_VERSION)
    assert manifest["decision"] == "distinguishable"
    assert manifest["passed"] is False
    files = manifest["files"]
    assert files["pairs"]["format"] == PAIRS_FORMAT
    assert files["pairs"]["style"] == "standard"
    assert files["targets"]["format"] == TARGETS_FORMAT
    assert files["reward_model"]["version"] == 1
    for entry in files.values():
        assert (tmp_path / entry["path"]).is_file()
    assert manifest["reward_model_skipped"] is None


def test_pairs_are_trl_preference_rows_most_sure_first_and_bounded(failing, tmp_path):
    export_verdict(failing, tmp_path, pairs_per_bucket=20)
    rows, meta = _jsonl(tmp_path / "pairs.jsonl"), _jsonl(tmp_path / "pairs_meta.jsonl")
    assert len(rows) == len(meta) == 20
    for row in rows:
        assert set(row) == {"prompt", "chosen", "rejected"}
        assert all(isinstance(value, str) for value in row.values())
    assert [entry["row"] for entry in meta] == list(range(20))
    confidences = [entry["confidence"] for entry in meta]
    assert confidences == sorted(confidences, reverse=True)
    played = failing.played.buckets["style"]
    held_out = {(p.prompt, p.teacher, p.student) for p in played.held_out}
    assert all((r["prompt"], r["chosen"], r["rejected"]) in held_out for r in rows)
    # The verdict's own examples (its three most confident) lead the file.
    example = failing.adversaries["stylometric"].examples[0]
    assert meta[0]["confidence"] == example.confidence


def test_conversational_pairs_wrap_each_text_in_one_message(failing, tmp_path):
    manifest = export_verdict(failing, tmp_path, conversational=True, pairs_per_bucket=3)
    assert manifest["files"]["pairs"]["style"] == "conversational"
    row = _jsonl(tmp_path / "pairs.jsonl")[0]
    assert row["prompt"][0]["role"] == "user"
    assert [row[key][0]["role"] for key in ("chosen", "rejected")] == ["assistant"] * 2


def test_targets_list_buckets_weakest_first_then_their_prompts(tmp_path):
    prompts = {
        "style": [bbi.prompts.Prompt(p, "style") for p in PROMPTS],
        "factual": [bbi.prompts.Prompt(p + " (fact)", "factual") for p in PROMPTS],
    }
    budget = bbi.Budget(queries=240, adversaries=["stylometric"])
    student = from_callable(strong_tic_fn, name="student")
    try:
        verdict = bbi.assert_indistinguishable(
            TEACHER, student, [*prompts["style"], *prompts["factual"]], budget=budget, epsilon=0.1
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    export_verdict(verdict, tmp_path)
    rows = _jsonl(tmp_path / "targets.jsonl")
    buckets = [row for row in rows if row["kind"] == "bucket"]
    assert [row["rank"] for row in buckets] == [1, 2]
    assert buckets[0]["lower"] >= buckets[1]["lower"]
    assert rows[:2] == buckets
    prompt_rows = rows[2:]
    assert {row["kind"] for row in prompt_rows} == {"prompt"}
    for row in prompt_rows:
        assert -1 <= row["lower"] <= row["advantage"] <= row["upper"] <= 1
        assert row["advantage"] == 2 * row["correct"] / row["pairs"] - 1
    first_bucket = [row for row in prompt_rows if row["bucket"] == buckets[0]["bucket"]]
    # one adversary: the class's mean is its own advantage, and ties go to the lower bound
    assert all(row["class_advantage"] == row["advantage"] for row in first_bucket)
    order = [(row["class_advantage"], row["lower"]) for row in first_bucket]
    assert order == sorted(order, reverse=True)
    assert all(row["class_advantage"] == pytest.approx(row["advantage"]) for row in buckets)


def test_targets_rank_by_the_class_when_the_strongest_adversary_calls_every_pair_right():
    prompts = ["a", "b", "c", "a", "b", "c"]
    held_out = tuple(PlayedPair(p, f"teacher {i}", f"student {i}") for i, p in enumerate(prompts))
    played = BucketPlayed(
        held_out=held_out,
        calls={
            "likelihood": (True,) * 6,  # saturated: the same numbers on every prompt
            "stylometric": (False, True, True, False, True, False),  # c 1/2, b 2/2, a 0/2
            "embedding": (True, True, True),  # overran its limit: one pair of each prompt
        },
        evidence={"likelihood": (0.5,) * 6},
    )
    rows = _prompt_rows("style", played, "likelihood")
    assert [row["prompt"] for row in rows] == ["b", "c", "a"]
    assert [row["class_advantage"] for row in rows] == [1.0, 0.666667, 0.333333]
    assert {(row["adversary"], row["correct"], row["pairs"], row["advantage"]) for row in rows} == {
        ("likelihood", 2, 2, 1.0)
    }


def test_the_reward_model_calls_every_pair_as_the_fitted_adversary_did(failing, tmp_path):
    manifest = export_verdict(failing, tmp_path)
    model = load_reward_model(tmp_path / "reward_model.safetensors")
    played = failing.played.buckets["style"]
    adversary = StylometricAdversary()
    trials = [Trial(p.prompt, p.teacher, p.student) for p in played.held_out]
    train = [LabeledPair(p.prompt, p.teacher, p.student) for p in played.train]
    probabilities = adversary.decide(train, trials, Deadline(None))
    prompts = [p.prompt for p in played.held_out]
    teacher = model.scores(prompts, [p.teacher for p in played.held_out])
    student = model.scores(prompts, [p.student for p in played.held_out])
    logistic = 1 / (1 + np.exp(-(np.array(teacher) - np.array(student))))
    np.testing.assert_allclose(logistic, probabilities, atol=1e-9)
    # Ranking the teacher's held-out answers above the student's is the adversary's count.
    ranked = sum(t > s for t, s in zip(teacher, student, strict=True))
    ties = sum(t == s for t, s in zip(teacher, student, strict=True))
    correct = manifest["files"]["reward_model"]["held_out_correct"]
    assert ranked <= correct <= ranked + ties
    assert model.score("any prompt", played.held_out[0].teacher) == pytest.approx(teacher[0])


def test_a_verdict_without_its_played_pairs_exports_its_examples_and_says_why_no_model(
    failing, tmp_path
):
    manifest = export_verdict(replace(failing, played=None), tmp_path)
    assert manifest["files"]["pairs"]["rows"] == len(failing.adversaries["stylometric"].examples)
    assert "reward_model" not in manifest["files"]
    assert "no played pairs" in manifest["reward_model_skipped"]


def test_the_played_pairs_stay_out_of_the_verdicts_data_and_equality(failing):
    assert "played" not in failing.to_dict()
    assert replace(failing, played=None) == failing
    assert "played" not in repr(failing)


def _pickle_file(path):
    path.write_bytes(pickle.dumps({"dense": [1.0]}))


def _zip_file(path):
    path.write_bytes(b"PK\x03\x04" + b"\0" * 40)


def _garbage(path):
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")


def _foreign_safetensors(path):
    save_file({"dense": np.zeros(3)}, str(path), metadata={"format": "something-else"})


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_pickle_file, "pickle"),
        (_zip_file, "pickle or a zip"),
        (_garbage, "not a safetensors file"),
        (_foreign_safetensors, "not a pytest-bbi reward model"),
    ],
)
def test_the_loader_refuses_anything_but_its_own_safetensors_format(tmp_path, write, message):
    path = tmp_path / "reward_model.safetensors"
    write(path)
    with pytest.raises(ExportError, match=message):
        load_reward_model(path)


def test_the_loader_refuses_a_missing_file(tmp_path):
    with pytest.raises(ExportError, match="no reward model"):
        load_reward_model(tmp_path / "absent.safetensors")


def _rewrite(source, target, **changes):
    from safetensors import safe_open

    with safe_open(str(source), framework="numpy") as handle:
        metadata = dict(handle.metadata())
    save_file(load_file(str(source)), str(target), metadata={**metadata, **changes})


def test_the_loader_refuses_another_version_or_featurizer(failing, tmp_path):
    export_verdict(failing, tmp_path / "export")
    source = tmp_path / "export" / "reward_model.safetensors"
    cases = {
        "version": ({"version": "99"}, "format version '99'"),
        "identity": ({"featurizer_identity": "stylometric:0000"}, "was fitted on features"),
        "settings": ({"featurizer_settings": '{"n_features": 16}'}, "was fitted on features"),
        "unknown": ({"featurizer": "judge"}, "names the featurizer 'judge'"),
    }
    for name, (changes, message) in cases.items():
        target = tmp_path / f"{name}.safetensors"
        _rewrite(source, target, **changes)
        with pytest.raises(ExportError, match=message):
            load_reward_model(target)


def test_no_secret_reaches_any_export_file(tmp_path):
    remember_secret("sk-export-test-0123456789")

    def leaky_fn(prompt, seed):
        leak = " key sk-export-test-0123456789, Authorization: Bearer tok-abc"
        return teacher_fn(prompt, seed) + leak

    verdict = _verdict(student_fn=leaky_fn, queries=120)
    export_verdict(verdict, tmp_path)
    written = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert b"[REDACTED]" in written
    assert b"sk-export-test-0123456789" not in written
    assert b"tok-abc" not in written


def test_folder_names_are_safe_and_distinct():
    names = {
        folder_name("tests/a.py::test[x/y]"),
        folder_name("tests/a.py::test[x:y]"),
        folder_name("tests/a.py::test[x/y]", 2),
        folder_name("../../etc::passwd"),
        folder_name("tests/ü.py::test[日本]"),
    }
    assert len(names) == 5
    for name in names:
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
        assert not name.startswith(".")
