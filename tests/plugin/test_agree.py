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


def test_sampling_fixtures_are_compared_greedily(pytester, tmp_path_factory):
    """The same weights sampled at two temperatures agree greedily; their samples differ."""
    from pytest_bbi.models.tiny import build_tiny_model

    # Trained only 40 steps: a spread-out distribution, so the temperature changes samples.
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny") / "soft", train_steps=40)
    pytester.makeini(
        f"[pytest]\nbbi_teacher = hf:{folder}\nbbi_student = hf:{folder}\n"
        "bbi_teacher_options =\n    temperature = 1.0\n    max_new_tokens = 12\n"
        "bbi_student_options =\n    temperature = 0.6\n    max_new_tokens = 12\n"
    )
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        import pytest
        import pytest_bbi as bbi

        PLACES = st.sampled_from(["France", "Italy", "Spain", "Japan", "Peru", "Kenya"])

        @settings(database=None, max_examples=12, deadline=None, derandomize=True)
        @given(prompt=PLACES.map(lambda place: f"Q: what is the capital of {place}? A:"))
        def test_greedy_views_agree(teacher, student, prompt):
            bbi.assert_agree(teacher, student, prompt)

        def test_their_samples_do_not(teacher, student):
            with pytest.raises(bbi.Disagreement):
                for place in ["France", "Italy", "Spain", "Japan", "Peru", "Kenya"]:
                    prompt = f"Q: what is the capital of {place}? A:"
                    bbi.assert_agree(teacher, student, prompt, greedy=False)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bbi-no-cache")
    result.assert_outcomes(passed=2)
    assert "BbiWarning" not in result.stdout.str()


CALLABLE_MODELS = """
import time
from pytest_bbi.models import from_callable


def slow_upper(prompt, seed):
    time.sleep(0.02)
    return prompt.upper()


def slow_digit_sensitive(prompt, seed):
    time.sleep(0.02)
    return prompt.upper() + (" 42" if any(c.isdigit() for c in prompt) else "")


teacher = from_callable(slow_upper, name="teacher")
twin = from_callable(slow_upper, name="twin")
digits = from_callable(slow_digit_sensitive, name="digits")
"""


def test_a_model_without_a_greedy_view_is_compared_as_it_answers_and_says_so(pytester):
    pytester.makepyfile(callable_models=CALLABLE_MODELS)
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        import pytest_bbi as bbi
        from callable_models import teacher, twin

        @settings(database=None, max_examples=5, deadline=None)
        @given(prompt=st.text(max_size=5))
        def test_twins(prompt):
            bbi.assert_agree(teacher, twin, prompt)

        def test_on_purpose():
            bbi.assert_agree(teacher, twin, "q", greedy=False)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "default")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert output.count("not greedy outputs: it has no greedy() view") == 2, output  # one a model
    assert "test_on_purpose" not in output.split("warnings summary")[-1]


def test_the_search_stops_comparing_new_prompts_at_its_time_cap(pytester):
    pytester.makepyfile(callable_models=CALLABLE_MODELS)
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        import pytest_bbi as bbi
        from callable_models import digits, teacher, twin

        @settings(database=None, max_examples=400, deadline=None)
        @given(prompt=st.text())
        def test_agreeing_within_the_cap(prompt):
            bbi.assert_agree(teacher, twin, prompt, greedy=False, search_seconds=1.0)

        # Every prompt holds a digit, so the first one compared (well within the cap, however
        # busy the machine) already disagrees.
        @settings(database=None, max_examples=400, deadline=None)
        @given(prompt=st.text().map(lambda text: text + "7"))
        def test_disagreeing_within_the_cap(prompt):
            bbi.assert_agree(teacher, digits, prompt, greedy=False, search_seconds=1.0)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "default")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "test_agreeing_within_the_cap: the search reached its time cap" in output
    assert "no disagreement was found in time" in output
    assert "'digits' disagrees with 'teacher'" in output  # a real disagreement, not Flaky
    assert "Flaky" not in output
    assert "Unreliable" not in output
