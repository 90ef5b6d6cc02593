"""Differential property testing: Hypothesis finds and shrinks a prompt the models disagree on."""

import ast
import re


def test_digit_sensitive_student_is_shrunk_to_a_tiny_prompt_with_a_digit(pytester):
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        import pytest_bbi as bbi
        from pytest_bbi.models import from_callable

        teacher = from_callable(lambda p, s: p.upper(), name="teacher")
        student = from_callable(
            lambda p, s: p.upper() + (" 42" if any(c.isdigit() for c in p) else ""),
            name="student",
        )

        @settings(database=None, max_examples=300)
        @given(prompt=st.text())
        def test_agree(prompt):
            bbi.assert_agree(teacher, student, prompt)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    failing = re.split(r"Falsifying example|Failing test case", output, maxsplit=1)[-1]
    shrunk = re.search(r"prompt=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", failing)
    assert shrunk, output
    prompt = ast.literal_eval(shrunk.group(1))
    assert len(prompt) <= 10
    assert any(c.isdigit() for c in prompt)
    assert "'student' disagrees with 'teacher'" in output
    assert "teacher: " in output
    assert "student: " in output


def test_agreeing_models_pass_and_embedding_similarity_tolerates_paraphrase(pytester):
    pytester.makepyfile(
        """
        from hypothesis import given, settings
        import pytest_bbi as bbi
        from pytest_bbi.models import from_callable
        from pytest_bbi.strategies import factual_prompts

        teacher = from_callable(lambda p, s: "The answer is Paris.", name="teacher")
        twin = from_callable(lambda p, s: "The answer is Paris.", name="twin")
        paraphrase = from_callable(lambda p, s: "Paris is the answer.", name="paraphrase")

        @settings(database=None, max_examples=20)
        @given(prompt=factual_prompts())
        def test_twin(prompt):
            bbi.assert_agree(teacher, twin, prompt)

        def test_paraphrase():
            bbi.assert_agree(teacher, paraphrase, "q", similarity="embedding", threshold=0.8)
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
