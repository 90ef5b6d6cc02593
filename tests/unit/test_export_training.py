"""training_prompts: target lists read back as the next round's prompts, allotted by advantage."""

import json

import pytest
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.errors import ExportError
from pytest_bbi.export import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    INDEX_FORMAT,
    TARGETS_FORMAT,
    export_verdict,
    training_prompts,
    write_index,
)
from pytest_bbi.models import from_callable
from pytest_bbi.prompts import Prompt


def _bucket(name, rank, advantage, passed=False, estimate=None, class_advantage=None):
    row = {
        "kind": "bucket",
        "rank": rank,
        "bucket": name,
        "passed": passed,
        "advantage": advantage,
        "estimate": estimate,
        "lower": advantage - 0.2,
    }
    return row if class_advantage is None else {**row, "class_advantage": class_advantage}


def _prompts(bucket, count):
    return [{"kind": "prompt", "bucket": bucket, "prompt": f"{bucket} {i}"} for i in range(count)]


def _folder(path, rows, *, manifest_format=EXPORT_FORMAT, targets_version=EXPORT_VERSION):
    path.mkdir(parents=True)
    (path / "targets.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    manifest = {
        "format": manifest_format,
        "version": EXPORT_VERSION,
        "files": {
            "targets": {
                "path": "targets.jsonl",
                "format": TARGETS_FORMAT,
                "version": targets_version,
            }
        },
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def _texts(prompts):
    return [(prompt.bucket, prompt.text) for prompt in prompts]


def test_shares_follow_the_advantage_and_each_bucket_cycles_its_weakest_prompts(tmp_path):
    rows = [
        _bucket("math", 1, 0.6),
        _bucket("style", 2, 0.2),
        _bucket("code", 3, 0.9, passed=True),  # passed: no share
        *_prompts("math", 5),
        *_prompts("style", 5),
        *_prompts("code", 5),
    ]
    folder = _folder(tmp_path / "t", rows)
    prompts = training_prompts(folder, 10, weakest=2)
    assert all(isinstance(prompt, Prompt) for prompt in prompts)
    # 10 split 0.6 : 0.2 is 7.5 : 2.5; the tie of remainders goes to the weaker bucket.
    assert _texts(prompts) == [
        *[("math", f"math {i % 2}") for i in range(8)],
        ("style", "style 0"),
        ("style", "style 1"),
    ]
    with_passed = training_prompts(folder, 17, weakest=1, include_passed=True)
    assert [prompt.bucket for prompt in with_passed] == ["math"] * 6 + ["style"] * 2 + ["code"] * 9


def test_the_estimate_weighs_a_bucket_when_there_is_one_and_zero_advantages_share_equally(
    tmp_path,
):
    rows = [
        _bucket("math", 1, 1.0, estimate=0.25),
        _bucket("style", 2, 0.5),
        *_prompts("math", 3),
        *_prompts("style", 3),
    ]
    counts = [prompt.bucket for prompt in training_prompts(_folder(tmp_path / "a", rows), 6)]
    assert counts == ["math"] * 2 + ["style"] * 4
    flat = [_bucket("math", 1, -0.1), _bucket("style", 2, 0.0), *_prompts("math", 1)]
    flat += _prompts("style", 1)
    counts = [prompt.bucket for prompt in training_prompts(_folder(tmp_path / "b", flat), 5)]
    assert counts == ["math"] * 3 + ["style"] * 2


def test_the_class_mean_weighs_buckets_the_saturated_strongest_adversary_cannot_tell_apart(
    tmp_path,
):
    rows = [
        _bucket("math", 1, 1.0, estimate=1.0, class_advantage=0.6),
        _bucket("style", 2, 1.0, estimate=1.0, class_advantage=0.2),
        _bucket("code", 3, 1.0, estimate=1.0, class_advantage=-0.1),  # no share
        *_prompts("math", 2),
        *_prompts("style", 2),
        *_prompts("code", 2),
    ]
    counts = [prompt.bucket for prompt in training_prompts(_folder(tmp_path / "c", rows), 8)]
    assert counts == ["math"] * 6 + ["style"] * 2


def test_an_export_folder_is_read_through_its_index_skipping_passed_tests(tmp_path):
    _folder(tmp_path / "one", [_bucket("math", 1, 0.5), *_prompts("math", 2)])
    _folder(tmp_path / "two", [_bucket("style", 1, 0.5), *_prompts("style", 2)])
    entries = [
        {"nodeid": "t::one", "folder": "one", "passed": False},
        {"nodeid": "t::two", "folder": "two", "passed": True},
    ]
    write_index(tmp_path, entries, seed=0)
    assert {p.bucket for p in training_prompts(tmp_path, 4)} == {"math"}
    both = training_prompts(tmp_path, 4, include_passed=True)
    assert [p.bucket for p in both] == ["math", "math", "style", "style"]
    assert json.loads((tmp_path / "index.json").read_text())["format"] == INDEX_FORMAT
    several = training_prompts([tmp_path / "one", tmp_path / "two"], 4, include_passed=True)
    assert _texts(several) == _texts(both)


def test_unreadable_exports_fail_with_a_message_that_says_what_to_do(tmp_path):
    with pytest.raises(ExportError, match=r"no pytest-bbi export .*--bbi-export"):
        training_prompts(tmp_path, 3)
    old = _folder(tmp_path / "old", [_bucket("math", 1, 0.5)], targets_version=99)
    with pytest.raises(ExportError, match=r"version 99.*reads 'pytest-bbi/targets' version 1"):
        training_prompts(old, 3)
    other = _folder(tmp_path / "other", [_bucket("math", 1, 0.5)], manifest_format="x")
    with pytest.raises(ExportError, match="format 'x'"):
        training_prompts(other, 3)
    passed = _folder(tmp_path / "passed", [_bucket("math", 1, 0.5, passed=True)])
    with pytest.raises(ExportError, match=r"no failing bucket with target prompts.*include_passed"):
        training_prompts(passed, 3)
    for count, weakest in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match="must be ≥ 1"):
            training_prompts(passed, count, weakest=weakest)


def test_a_failing_verdicts_export_yields_its_weakest_prompts(tmp_path):
    student = from_callable(lambda prompt, seed: tic_fn(prompt, seed, rate=0.6), name="student")
    try:
        bbi.assert_indistinguishable(
            from_callable(teacher_fn, name="teacher"),
            student,
            PROMPTS,
            budget=bbi.Budget(queries=200, adversaries=["stylometric"]),
            epsilon=0.1,
            capability="style",
        )
    except bbi.Distinguishable as failure:
        export_verdict(failure.verdict, tmp_path)
    targets = [json.loads(line) for line in (tmp_path / "targets.jsonl").read_text().splitlines()]
    weakest = [row["prompt"] for row in targets if row["kind"] == "prompt"][:3]
    prompts = training_prompts(tmp_path, 7, weakest=3)
    assert _texts(prompts) == [("style", weakest[index % 3]) for index in range(7)]
