"""Bad plugin configuration gets a usage error that names the option and the fix."""

import pytest


def test_unknown_teacher_scheme_is_a_usage_error(pytester):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--bbi-teacher=gpt:whatever")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--bbi-teacher / bbi_teacher: model spec 'gpt:whatever' names an unknown backend"
            " 'gpt'*known backends: hf:, openai:, python:, vllm:*"
        ]
    )


def test_spec_without_scheme_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nbbi_student = models/student\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*bbi_student*is not of the form SCHEME:TARGET*hf:path/to/model-dir*"]
    )


def test_missing_model_names_the_option(pytester):
    pytester.makepyfile("def test_needs_teacher(teacher): pass")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no teacher model configured: pass --bbi-teacher=SPEC*"])


def test_unloadable_python_spec_names_the_module(pytester):
    pytester.makepyfile("def test_needs_student(student): pass")
    result = pytester.runpytest_subprocess("--bbi-student=python:no_such_module:make")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot import module 'no_such_module'*sys.path*"])


def test_missing_hf_directory_is_a_usage_error_at_startup(pytester):
    pytester.makepyfile("def test_needs_teacher(teacher): pass")
    result = pytester.runpytest_subprocess("--bbi-teacher=hf:does/not/exist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --bbi-teacher / bbi_teacher: hf: the model folder "
            f"'{pytester.path}/does/not/exist' was not found (a relative path is read from "
            f"'{pytester.path}')*"
        ]
    )


@pytest.mark.parametrize("seed", ["-3", "abc", str(2**63)])
def test_bad_seed_is_a_usage_error(pytester, seed):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess(f"--bbi-seed={seed}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the seed must be a non-negative integer or 'random'*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"stlye"', "*unknown capability 'stlye'; valid capabilities are: code, domain, factual*"),
        ('"style", "code"', "*use @pytest.mark.capability(NAME) with exactly one bucket name*"),
    ],
)
def test_bad_capability_marker_is_a_usage_error(pytester, marker, message):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.capability({marker})
        def test_marked(): pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_custom_capability_from_ini_is_accepted(pytester):
    pytester.makeini("[pytest]\nbbi_capabilities =\n    legal\n")
    pytester.makepyfile(
        """
        import pytest
        from pytest_bbi import context

        @pytest.mark.capability("legal")
        def test_marked():
            assert context.current().capability == "legal"
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_misspelled_marker_keyword_is_a_usage_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.capability(nmae="style")
        def test_marked(): pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*use @pytest.mark.capability(NAME) with exactly one bucket*"])


def test_capability_registered_in_conftest_with_default_prompts(pytester):
    pytester.makeconftest(
        """
        import pytest_bbi as bbi

        bbi.register_capability("legal", prompts=["Is a verbal contract binding?", "Define tort."])
        """
    )
    pytester.makepyfile(
        """
        import pytest
        import pytest_bbi as bbi
        from pytest_bbi.models import from_callable

        model = from_callable(lambda p, s: p.lower(), name="lower")

        @pytest.mark.capability("legal")
        def test_legal():
            budget = bbi.Budget(queries=20, adversaries=["stylometric"])
            verdict = bbi.assert_indistinguishable(model, model, budget=budget, epsilon=0.3)
            assert list(verdict.buckets) == ["legal"]

        @pytest.mark.capability("legal")
        def test_needs_no_strategy_for_listed_prompts():
            budget = bbi.Budget(queries=20, adversaries=["stylometric"])
            bbi.assert_indistinguishable(model, model, ["a", "b"], budget=budget, epsilon=0.3)
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
