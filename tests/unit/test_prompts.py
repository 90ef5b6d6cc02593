"""Prompt sources: JSONL traces, seeded strategy draws, tagging and normalization of prompts=."""

import json
import os
import re
import subprocess
import sys
import warnings

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pytest_bbi.errors import PromptError
from pytest_bbi.prompts import Prompt, draw, from_jsonl, normalize, tag


def _write(tmp_path, lines, name="traces.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- from_jsonl ---------------------------------------------------------------------------------


def test_from_jsonl_reads_tagged_prompts_and_skips_blank_lines(tmp_path):
    path = _write(
        tmp_path,
        [
            json.dumps({"prompt": "What is 2 + 2?", "bucket": "math", "id": 1}),
            "",
            "   ",
            json.dumps({"prompt": "Say hi\u2028politely", "bucket": "style"}),
        ],
    )
    assert from_jsonl(path) == [
        Prompt("What is 2 + 2?", "math"),
        Prompt("Say hi\u2028politely", "style"),
    ]
    assert from_jsonl(str(path)) == from_jsonl(path)


def test_from_jsonl_custom_field_names(tmp_path):
    path = _write(tmp_path, [json.dumps({"input": "Translate 'cat'", "intent": "multilingual"})])
    assert from_jsonl(path, text="input", bucket="intent") == [
        Prompt("Translate 'cat'", "multilingual")
    ]


def test_from_jsonl_bucket_none_leaves_prompts_untagged(tmp_path):
    path = _write(tmp_path, ['{"prompt": "a"}', '{"prompt": "b", "bucket": 3}'])
    assert from_jsonl(path, bucket=None) == [Prompt("a"), Prompt("b")]


def test_from_jsonl_accepts_a_utf8_bom(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "caf\xc3\xa9", "bucket": "style"}\n')
    assert from_jsonl(path) == [Prompt("café", "style")]


GOOD = '{"prompt": "fine", "bucket": "math"}'


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"prompt": "unterminated', r"not valid JSON \(Unterminated string.*\); each line must"),
        ('["a", "b"]', r"expected a JSON object, got an array"),
        ('"just a string"', r"expected a JSON object, got a string"),
        (
            '{"text": "hi", "bucket": "math"}',
            r"no 'prompt' field \(the line has keys: 'text', 'bucket'\); pass text=FIELD",
        ),
        ("{}", r"no 'prompt' field \(the line has keys: none\)"),
        ('{"prompt": 42, "bucket": "math"}', r"field 'prompt' is a number; .* JSON string"),
        (
            '{"prompt": "hi", "intent": "math"}',
            r"no 'bucket' field \(the line has keys: 'prompt', 'intent'\); pass bucket=FIELD "
            r".*bucket=None",
        ),
        ('{"prompt": "hi", "bucket": null}', r"field 'bucket' is null; .*bucket=None"),
        ('{"prompt": "hi", "bucket": ["math"]}', r"field 'bucket' is an array"),
    ],
)
def test_from_jsonl_errors_name_the_file_line_and_fix(tmp_path, bad_line, message):
    path = _write(tmp_path, [GOOD, "", bad_line, GOOD])
    with pytest.raises(PromptError, match=re.escape(f"{path}:3: ") + message):
        from_jsonl(path)


def test_from_jsonl_deeply_nested_line_names_the_line(tmp_path):
    nested = '{"prompt": "hi", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = _write(tmp_path, [GOOD, nested])
    with pytest.raises(PromptError, match=re.escape(f"{path}:2: the line nests lists")):
        from_jsonl(path)


def test_from_jsonl_non_utf8_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + b'\n\n{"prompt": "caf\xe9", "bucket": "style"}\n')
    with pytest.raises(PromptError, match=re.escape(f"{path}:3: not UTF-8 text")):
        from_jsonl(path)


def test_from_jsonl_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(PromptError, match=re.escape(f"{path}: cannot read the prompt file")):
        from_jsonl(path)


@pytest.mark.parametrize("content", ["", "\n  \n\n"])
def test_from_jsonl_empty_file(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptError, match=re.escape(f"{path}: no prompts") + ".*one JSON object"):
        from_jsonl(path)


# -- draw ---------------------------------------------------------------------------------------

TEXTS = st.text(max_size=30)
SENTENCES = st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat"]), max_size=6).map(" ".join)


def test_draw_same_seed_same_list_different_seed_different_list():
    first = draw(TEXTS, 40, seed=7)
    assert len(first) == 40
    assert all(isinstance(text, str) for text in first)
    assert draw(TEXTS, 40, seed=7) == first
    assert draw(TEXTS, 40, seed=8) != first
    assert draw(SENTENCES, 40, seed=7) == draw(SENTENCES, 40, seed=7)


def test_draw_a_longer_list_extends_the_shorter_one():
    assert draw(TEXTS, 30, seed=3)[:10] == draw(TEXTS, 10, seed=3)


DRAW_IN_SUBPROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import lots_of_constants  # a local module: Hypothesis's @given would mix its strings in
from hypothesis import strategies as st
from pytest_bbi.prompts import draw
print(json.dumps([draw(st.text(max_size=30), 40, seed=7), draw(st.text(), 40, seed=8)]))
"""


def test_draw_is_the_same_in_another_process_with_another_hash_seed(tmp_path):
    constants = ", ".join(repr(f"constant {i}") for i in range(300))
    (tmp_path / "lots_of_constants.py").write_text(f"WORDS = [{constants}]\n", encoding="utf-8")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    result = subprocess.run(
        [sys.executable, "-c", DRAW_IN_SUBPROCESS, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == [draw(TEXTS, 40, seed=7), draw(st.text(), 40, seed=8)]


def test_draw_reaches_count_on_a_tiny_search_space():
    drawn = draw(st.sampled_from(["a", "b"]), 50, seed=1)
    assert len(drawn) == 50
    assert set(drawn) == {"a", "b"}
    assert draw(st.just("only"), 5, seed=1) == ["only"] * 5


@pytest.mark.parametrize(
    "strategy", [st.nothing(), st.text().filter(lambda s: False)], ids=["nothing", "filter"]
)
def test_draw_from_a_strategy_that_produces_nothing(strategy):
    with pytest.raises(PromptError, match=r"the strategy .* produced no prompts: all \d+ draws"):
        draw(strategy, 10, seed=0)


def test_draw_skips_rejected_draws_without_warnings():
    @st.composite
    def even_length(draw_from):
        text = draw_from(st.text(max_size=10))
        assume(len(text) % 2 == 0)
        return text

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = draw(even_length(), 30, seed=5)
        filtered = draw(st.text(max_size=10).filter(lambda s: len(s) % 2 == 0), 30, seed=5)
    assert len(drawn) == len(filtered) == 30
    assert all(len(text) % 2 == 0 for text in drawn + filtered)


@pytest.mark.parametrize(
    ("strategy", "count", "message"),
    [
        (st.integers(), 3, r"drew int \(-?\d+\), not a str; .*map\(str\)"),
        (["a", "b"], 3, r"draw\(\) needs a Hypothesis strategy of strings, not list"),
        (TEXTS, 0, r"draw\(count=0\): count must be a positive int"),
        (TEXTS, True, r"draw\(count=True\)"),
    ],
)
def test_draw_bad_arguments(strategy, count, message):
    with pytest.raises(PromptError, match=message):
        draw(strategy, count, seed=0)


EXPECTED_INSIDE_GIVEN = draw(TEXTS, 20, seed=11)


@settings(max_examples=5, deadline=None)
@given(st.integers())
def test_draw_inside_a_given_test(number):
    assert draw(TEXTS, 20, seed=11) == EXPECTED_INSIDE_GIVEN
    assert len(draw(st.sampled_from(["x", "y"]), 10, seed=number)) == 10


# -- tag and Prompt -----------------------------------------------------------------------------


def test_tag():
    assert tag(["a", "b"], "math") == [Prompt("a", "math"), Prompt("b", "math")]
    assert tag((text for text in ["c"]), "code") == [Prompt("c", "code")]
    with pytest.raises(PromptError, match=r"prompts is a single string \('abc'\)"):
        tag("abc", "math")
    with pytest.raises(PromptError, match=r"prompts\[1\] is Prompt .*: every prompt must be a str"):
        tag(["a", Prompt("b")], "math")


def test_prompt_checks_its_fields():
    assert Prompt("hi") == Prompt("hi", None)
    with pytest.raises(PromptError, match=r"Prompt\(text=3\): text must be a str, not int"):
        Prompt(3)
    with pytest.raises(PromptError, match=r"Prompt\(bucket=1\.5\): bucket must be"):
        Prompt("hi", 1.5)


# -- normalize ----------------------------------------------------------------------------------


def _normalize(prompts, default_bucket="style"):
    return normalize(prompts, count=12, seed=3, default_bucket=default_bucket)


@pytest.mark.parametrize(
    "prompts", [["a", "b"], ("a", "b"), iter(["a", "b"]), {"b", "a"}, frozenset({"a", "b"})]
)
def test_normalize_iterables_of_strings(prompts):
    assert _normalize(prompts) == [Prompt("a", "style"), Prompt("b", "style")]


def test_normalize_strings_untagged_without_a_default_bucket():
    assert _normalize(["a"], default_bucket=None) == [Prompt("a")]


def test_normalize_prompts_and_a_mix_with_strings():
    prompts = [Prompt("a", "math"), Prompt("b"), "c"]
    assert _normalize(prompts) == [Prompt("a", "math"), Prompt("b", "style"), Prompt("c", "style")]
    assert _normalize(prompts, default_bucket=None) == [
        Prompt("a", "math"),
        Prompt("b"),
        Prompt("c"),
    ]


def test_normalize_a_strategy_draws_count_prompts_from_the_seed():
    items = _normalize(TEXTS)
    assert items == [Prompt(text, "style") for text in draw(TEXTS, 12, seed=3)]
    assert normalize(TEXTS, count=12, seed=4, default_bucket="style") != items


def test_normalize_a_mixture_of_buckets():
    items = _normalize({"math": ["1 + 1", "2 + 2"], "code": TEXTS, "style": SENTENCES})
    assert items[:2] == [Prompt("1 + 1", "math"), Prompt("2 + 2", "math")]
    code = [item for item in items if item.bucket == "code"]
    style = [item for item in items if item.bucket == "style"]
    assert len(items) == 2 + 12 + 12
    assert len(code) == len(style) == 12
    assert _normalize({"code": TEXTS})[:12] == code
    # each bucket gets its own seed: two buckets drawing one strategy get different prompts
    twins = _normalize({"code": TEXTS, "math": TEXTS})
    assert [p.text for p in twins[:12]] != [p.text for p in twins[12:]]


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        (None, r"prompts=None: pass the prompts to test on: a list of strings"),
        ("one prompt", r"prompts is a single string \('one prompt'\); pass a list of prompts"),
        (42, r"prompts is int \(42\), which holds no prompts; pass a list of strings"),
        (Prompt("hi"), r"prompts is Prompt \(Prompt\(text='hi', bucket=None\)\), which holds no"),
        ([], r"prompts is empty: pass at least one prompt: a list of strings"),
        ({}, r"prompts is empty"),
        (iter([]), r"prompts is empty"),
        (["fine", 3], r"prompts\[1\] is int \(3\): every prompt must be a str or a .*Prompt"),
        (["fine", None], r"prompts\[1\] is NoneType \(None\)"),
        ({3: ["a"]}, r"prompts has the key 3 \(int\): the keys of a prompts mapping are"),
        ({"math": "2 + 2"}, r"prompts\['math'\] is a single string \('2 \+ 2'\)"),
        ({"math": None}, r"prompts\['math'\] is NoneType \(None\), which holds no prompts"),
        ({"math": []}, r"prompts\['math'\] is empty: give each bucket at least one prompt"),
        ({"math": ["a", Prompt("b")]}, r"prompts\['math'\]\[1\] is Prompt .*must be a str\.$"),
        ({"math": st.nothing()}, r"the strategy nothing\(\) produced no prompts"),
        (st.just(b"bytes"), r"drew bytes \(b'bytes'\), not a str"),
    ],
)
def test_normalize_errors(prompts, message):
    with pytest.raises(PromptError, match=message):
        _normalize(prompts)
