"""Fingerprints: canonical bytes, strict documents, and comparisons that see changes, not seeds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats as sps
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi import context
from pytest_bbi.fingerprints import (
    SCHEMA_VERSION,
    Fingerprint,
    FingerprintError,
    compare,
    mean_field,
    output_statistics,
    proportion_field,
    relation_fingerprint,
)
from pytest_bbi.game.fingerprint import fingerprint
from pytest_bbi.models import from_callable
from pytest_bbi.verdict import AdversaryResult, BucketResult, Verdict

TEACHER = from_callable(teacher_fn, name="teacher")
TIC = from_callable(lambda prompt, seed: tic_fn(prompt, seed, rate=0.6), name="tic-student")
BUDGET = bbi.Budget(queries=200)
SOURCE = "__snapshots__/test_model.json"
TESTS = Path(__file__).resolve().parents[1]


def _model_fingerprint(model=TEACHER, seed=1, queries=200, prompts=PROMPTS):
    return fingerprint(
        model, prompts, budget=bbi.Budget(queries=queries), seed=seed, embeddings=False
    )


# --------------------------------------------------------------------------------------------
# Canonical, byte-stable documents
# --------------------------------------------------------------------------------------------


def test_same_model_and_seed_give_identical_bytes_in_process_and_in_a_subprocess():
    first = _model_fingerprint().to_json()
    assert _model_fingerprint().to_json() == first
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from scripted import PROMPTS, teacher_fn\n"
        "import pytest_bbi as bbi\n"
        "from pytest_bbi.game.fingerprint import fingerprint\n"
        "from pytest_bbi.models import from_callable\n"
        "model = from_callable(teacher_fn, name='teacher')\n"
        "fp = fingerprint(model, PROMPTS, budget=bbi.Budget(queries=200), seed=1, "
        "embeddings=False)\n"
        "sys.stdout.buffer.write(fp.to_json().encode('utf-8'))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(TESTS)],
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert completed.stdout == first.encode("utf-8")


def test_canonical_layout_and_exact_round_trip():
    fp = _model_fingerprint()
    text = fp.to_json()
    document = json.loads(text)
    assert list(document) == ["kind", "metadata", "schema", "statistics", "version"]
    assert document["schema"] == "pytest-bbi/fingerprint"
    assert document["version"] == SCHEMA_VERSION == 3
    assert text.endswith("}\n")
    assert text.startswith('{\n  "kind": "model",')
    assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    again = Fingerprint.from_json(text, source=SOURCE)
    assert again == fp
    assert again.to_json() == text
    assert set(fp.statistics["all"]) == {
        "length_chars",
        "length_words",
        "refusal",
        "format:list",
        "format:json",
        "format:code",
        "format:question",
    }
    assert fp.metadata["identity"] == TEACHER.identity
    assert fp.metadata["seed"] == 1
    assert fp.metadata["queries"] == 200
    assert fp.metadata["versions"]["pytest_bbi"] == bbi.__version__


def test_floats_are_rounded_to_six_decimals_and_negative_zero_folded():
    fp = Fingerprint(
        "model",
        {"all": {"x": {"type": "mean", "mean": 1 / 3, "sd": -0.0, "n": 3}}},
        {"note": ("a", 1)},
    )
    assert fp.statistics["all"]["x"] == {"type": "mean", "mean": 0.333333, "sd": 0.0, "n": 3}
    assert '"sd": 0.0' in fp.to_json()
    assert fp.metadata == {"note": ["a", 1]}
    assert Fingerprint.from_json(fp.to_json()).to_json() == fp.to_json()


def test_metadata_is_stored_but_excluded_from_equality():
    statistics = {"all": {"refusal": proportion_field(3, 50)}}
    a = Fingerprint("model", statistics, {"seed": 1, "model": "a"})
    b = Fingerprint("model", statistics, {"seed": 2, "model": "b"})
    assert a == b
    assert hash(a) == hash(b)
    assert a.to_json() != b.to_json()
    assert compare(a, b).equal
    assert a != Fingerprint("relation", statistics, {"seed": 1, "model": "a"})
    assert a != Fingerprint("model", {"all": {"refusal": proportion_field(4, 50)}}, {})


def test_fingerprint_uses_the_teacher_role_draws_and_stratifies_buckets():
    style, math = PROMPTS[:20], PROMPTS[20:]
    fp = fingerprint(
        TEACHER, {"style": style, "math": math}, budget=BUDGET, seed=4, embeddings=False
    )
    assert list(fp.statistics) == ["math", "style"]
    assert all(fields["refusal"]["n"] == 100 for fields in fp.statistics.values())
    assert fp.kind == "model"


def test_fingerprint_is_recorded_in_the_test_context():
    recorded = []
    restore = context.activate(context.TestContext(seed=9, record_fingerprint=recorded.append))
    try:
        fp = fingerprint(TEACHER, PROMPTS, budget=BUDGET, embeddings=False)
    finally:
        restore()
    assert recorded == [fp]
    assert fp.metadata["seed"] == 9
    assert fp.to_json() == _model_fingerprint(seed=9).to_json()


def test_bad_arguments_name_the_fix():
    with pytest.raises(bbi.BudgetError, match=r"pass a pytest_bbi\.Budget"):
        fingerprint(TEACHER, PROMPTS, budget=200)
    with pytest.raises(bbi.NotAModelError, match="is not a model"):
        fingerprint(teacher_fn, PROMPTS, budget=BUDGET)
    with pytest.raises(bbi.PromptError, match="prompts=None outside a capability"):
        fingerprint(TEACHER, None, budget=BUDGET)
    with pytest.raises(bbi.BudgetError, match="alpha"):
        compare(_model_fingerprint(), _model_fingerprint(), alpha=1.5)


def test_embedding_summary_is_a_cosine_mean_and_byte_stable():
    prompts = PROMPTS[:10]
    budget = bbi.Budget(queries=30)
    fp = fingerprint(TEACHER, prompts, budget=budget, seed=2)
    similarity = fp.statistics["all"]["prompt_similarity"]
    assert similarity["type"] == "mean"
    assert similarity["n"] == 30
    assert -1.0 <= similarity["mean"] <= 1.0
    assert fp.metadata["embeddings"] == "all-MiniLM-L6-v2"
    assert fingerprint(TEACHER, prompts, budget=budget, seed=2).to_json() == fp.to_json()


# --------------------------------------------------------------------------------------------
# Comparison: seeds are noise, a changed model is not
# --------------------------------------------------------------------------------------------


def test_same_model_under_different_seeds_compares_equal():
    comparisons = [
        compare(_model_fingerprint(seed=2 * pair), _model_fingerprint(seed=2 * pair + 1))
        for pair in range(20)
    ]
    # Holm over the fields bounds the false-difference rate by alpha = 0.05 per pair.
    assert sum(comparison.equal for comparison in comparisons) >= 18
    assert all(not fp.significant for fp in comparisons if fp.equal)
    assert comparisons[0].report().startswith("fingerprints match: no significant difference")


def test_changed_model_is_caught_and_the_fields_are_named():
    comparison = compare(_model_fingerprint(seed=1, queries=400), _model_fingerprint(TIC, 2, 400))
    assert not comparison.equal
    flagged = {(d.bucket, d.field) for d in comparison.significant}
    assert ("all", "length_chars") in flagged
    assert flagged <= {("all", "length_chars"), ("all", "length_words")}
    assert all(d.test == "Welch t-test" and d.p_value <= 0.05 for d in comparison.significant)
    report = comparison.report().splitlines()
    assert report[0].startswith("fingerprints differ in")
    assert report[1].startswith("  ✗ all/length_chars: mean ")
    assert "(Welch t-test, p=" in report[1]
    assert report[1].endswith(" after Holm)")
    assert "  within noise:" in report


def test_p_values_are_two_sided_tests_adjusted_by_holm():
    old = Fingerprint(
        "model",
        {"b": {"p": proportion_field(10, 100), "m": mean_field([1.0, 2.0, 3.0, 4.0])}},
        {},
    )
    new = Fingerprint(
        "model",
        {"b": {"p": proportion_field(25, 100), "m": mean_field([2.0, 3.0, 4.0, 5.0])}},
        {},
    )
    comparison = compare(old, new)
    by_field = {d.field: d for d in comparison.differences}
    fisher = sps.fisher_exact([[10, 90], [25, 75]]).pvalue
    welch = sps.ttest_ind_from_stats(2.5, 1.290994, 4, 3.5, 1.290994, 4, equal_var=False).pvalue
    smaller, larger = sorted([fisher, welch])
    assert by_field["p"].test == "Fisher's exact test"
    assert by_field["m"].test == "Welch t-test"
    assert min(d.p_value for d in comparison.differences) == pytest.approx(2 * smaller)
    assert max(d.p_value for d in comparison.differences) == pytest.approx(max(2 * smaller, larger))
    assert by_field["p"].significant == (by_field["p"].p_value <= 0.05)


def test_large_samples_use_the_pooled_z_test_and_constant_samples_compare_exactly():
    old = Fingerprint("model", {"b": {"p": proportion_field(3000, 10000)}}, {})
    new = Fingerprint("model", {"b": {"p": proportion_field(3300, 10000)}}, {})
    (difference,) = compare(old, new).differences
    assert difference.test == "pooled z-test"
    assert difference.significant

    def constant(value):
        return Fingerprint("model", {"b": {"m": mean_field([value] * 5)}}, {})

    (same,) = compare(constant(2.0), constant(2.0)).differences
    (moved,) = compare(constant(2.0), constant(3.0)).differences
    assert (same.p_value, same.significant) == (1.0, False)
    assert (moved.p_value, moved.significant) == (0.0, True)


def test_structural_differences_are_always_significant():
    fields = {"refusal": proportion_field(1, 10), "length_chars": mean_field([1.0, 2.0])}
    old = Fingerprint("model", {"all": fields}, {})
    new = Fingerprint(
        "relation",
        {"all": {"refusal": proportion_field(1, 10)}, "math": fields},
        {},
    )
    comparison = compare(old, new)
    assert not comparison.equal
    structural = {(d.bucket, d.field) for d in comparison.differences if d.test == "structure"}
    assert structural == {
        ("", "kind"),
        ("all", "length_chars"),
        ("math", "refusal"),
        ("math", "length_chars"),
    }
    assert all(
        d.p_value == 0.0 and d.significant
        for d in comparison.differences
        if (d.bucket, d.field) != ("all", "refusal")
    )
    report = comparison.report()
    assert "kind: model → relation (not comparable)" in report
    assert "all/length_chars: removed, was mean 1.5" in report
    assert "bucket 'math' added, with fields length_chars, refusal" in report
    assert (
        "all/refusal: rate 0.1 (1/10) → 0.1 (1/10) (Fisher's exact test, p=1 after Holm)" in report
    )


# --------------------------------------------------------------------------------------------
# Strict documents
# --------------------------------------------------------------------------------------------


def _document(**changes):
    document = json.loads(_model_fingerprint().to_json())
    document.update(changes)
    return document


def _without_sd():
    document = _document()
    del document["statistics"]["all"]["length_chars"]["sd"]
    return json.dumps(document)


def _with_string_count():
    document = _document()
    document["statistics"]["all"]["refusal"]["n"] = "200"
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{"schema": "pytest-bbi/fingerprint",', "not valid JSON", id="invalid-json"),
        pytest.param(json.dumps(["a"]), "must be a JSON object", id="not-an-object"),
        pytest.param(json.dumps(_document(schema="other")), "'schema' is 'other'", id="schema"),
        pytest.param(
            json.dumps({k: v for k, v in _document().items() if k != "metadata"}),
            "missing key(s) 'metadata'",
            id="missing-top-level",
        ),
        pytest.param(_without_sd(), "all/length_chars (mean) is missing 'sd'", id="missing-field"),
        pytest.param(_with_string_count(), "all/refusal.n must be a number, got str", id="type"),
        pytest.param(
            json.dumps(_document(version=4)),
            "written by a newer pytest-bbi (version 4 > 3); upgrade pytest-bbi or regenerate "
            "with --snapshot-update",
            id="newer-version",
        ),
        pytest.param(json.dumps(_document(version=0)), "'version' must be an int", id="version-0"),
        pytest.param(json.dumps(_document(kind="both")), "'kind' must be", id="kind"),
        pytest.param(json.dumps(_document(extra=1)), "unknown key(s) 'extra'", id="unknown-key"),
    ],
)
def test_malformed_documents_fail_naming_the_source(text, message):
    with pytest.raises(FingerprintError) as failure:
        Fingerprint.from_json(text, source=SOURCE)
    assert f"invalid fingerprint in {SOURCE}: " in str(failure.value)
    assert message in str(failure.value)
    assert isinstance(failure.value, ValueError)
    assert isinstance(failure.value, bbi.BbiError)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"type": "median", "value": 1.0}, "has type 'median'"),
        ({"type": "proportion", "k": 3, "n": 2, "rate": 1.5}, "k exceeds n=2"),
        ({"type": "proportion", "k": 0, "n": 0, "rate": 0.0}, "n must be at least 1"),
        ({"type": "mean", "mean": float("nan"), "sd": 0.0, "n": 2}, "must be finite"),
        ({"type": "mean", "mean": 1.0, "sd": 0.0, "n": 2.0}, "must be a count"),
        ({"type": "mean", "mean": 1.0, "sd": 0.0, "n": True}, "must be a number, got bool"),
        ({"type": "mean", "mean": 1.0, "sd": 0.0, "n": 2, "x": 1}, "unknown key(s) 'x'"),
    ],
)
def test_malformed_records_are_rejected_on_construction(record, message):
    with pytest.raises(FingerprintError, match="invalid fingerprint: ") as failure:
        Fingerprint("model", {"all": {"f": record}}, {})
    assert message in str(failure.value)


# --------------------------------------------------------------------------------------------
# Output statistics and relation fingerprints
# --------------------------------------------------------------------------------------------


def test_output_statistics_detect_refusals_and_formats():
    completions = [
        "I'm sorry, but I can't help with that.",
        "As an AI, I won't speculate.",
        "- first\n- second\n",
        '{"answer": 42}',
        "Here:\n```python\nprint(1)\n```",
        "Try:\n\n    x = 1\n",
        "Do you mean Paris?",
        "Plain prose answer.",
    ]
    fields = output_statistics(completions, ["p"] * 8, [0.5] * 8)
    rates = {name: record["k"] for name, record in fields.items() if record["type"] == "proportion"}
    assert rates == {
        "refusal": 2,
        "format:list": 1,
        "format:json": 1,
        "format:code": 2,
        "format:question": 1,
    }
    assert fields["length_chars"]["mean"] == pytest.approx(sum(map(len, completions)) / 8, abs=1e-6)
    assert fields["prompt_similarity"] == {"type": "mean", "mean": 0.5, "sd": 0.0, "n": 8}
    assert "prompt_similarity" not in output_statistics(completions, ["p"] * 8, None)
    with pytest.raises(ValueError, match="align them"):
        output_statistics(completions, ["p"], None)


def _verdict(student, seed):
    try:
        return bbi.assert_indistinguishable(
            TEACHER,
            student,
            PROMPTS,
            budget=bbi.Budget(queries=200, adversaries=["stylometric"]),
            epsilon=0.1,
            seed=seed,
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict


def test_relation_fingerprint_from_a_real_verdict():
    verdict = _verdict(from_callable(teacher_fn, name="student"), seed=3)
    fp = relation_fingerprint(verdict)
    result = verdict.buckets["all"].adversaries["stylometric"]
    assert fp.kind == "relation"
    assert fp.statistics == {
        "all": {
            "advantage:stylometric": {
                "type": "advantage",
                "correct": result.correct,
                "total": result.total,
                "advantage": round(result.advantage, 6),
                "lower": round(result.lower, 6),
                "upper": round(result.upper, 6),
                "fit_sd": round(result.fit_sd, 6),
                "refits": 4,
                "sequential": False,
                "fits_accuracy": round(result.fits_accuracy, 6),
                "fits_pair_sd": round(result.fits_pair_sd, 6),
            }
        }
    }
    assert fp.metadata == {
        "seed": 3,
        "mode": "detect",
        "epsilon": 0.1,
        "alpha": 0.05,
        "queries": 200,
    }
    assert Fingerprint.from_json(fp.to_json()).to_json() == fp.to_json()
    changed = compare(fp, relation_fingerprint(_verdict(TIC, seed=3)))
    assert [d.field for d in changed.significant] == ["advantage:stylometric"]
    assert "advantage " in changed.report()


def test_relation_fingerprint_skips_adversaries_that_timed_out_unscored():
    scored = AdversaryResult("stylometric", 60, 100, 0.2, 0.05, 0.35, 0.01, 0.1)
    timed_out = AdversaryResult("embedding", 0, 0, 0.0, -1.0, 1.0, 1.0, 9.0, timed_out=True)
    bucket = BucketResult(
        "math", True, 0.1, 200, 0.2, 0.05, 0.35, {"stylometric": scored, "embedding": timed_out}
    )
    silent = BucketResult("code", True, 0.1, 200, 0.0, -1.0, 1.0, {"embedding": timed_out})
    verdict = Verdict(
        passed=True,
        decision="undetected",
        mode="detect",
        epsilon=0.1,
        alpha=0.05,
        advantage=0.2,
        lower=0.05,
        upper=0.35,
        queries=400,
        seconds=9.1,
        generation_seconds=0.0,
        buckets={"math": bucket, "code": silent},
    )
    assert relation_fingerprint(verdict).statistics == {
        "math": {
            "advantage:stylometric": {
                "type": "advantage",
                "correct": 60,
                "total": 100,
                "advantage": 0.2,
                "lower": 0.05,
                "upper": 0.35,
                "fit_sd": None,
                "refits": 0,
                "sequential": False,
                "fits_accuracy": None,
                "fits_pair_sd": None,
            }
        }
    }
