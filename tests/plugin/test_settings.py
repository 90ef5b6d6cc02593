"""plugin/settings.py: every option and ini key parsed once, into one frozen object."""

import pytest

SETTINGS_TEST = """
import dataclasses

import pytest

from pytest_bbi.plugin.settings import SETTINGS_KEY


def test_settings(request):
    settings = request.config.stash[SETTINGS_KEY]
    assert settings.seed == 42
    assert settings.buckets[-1] == "billing"
    assert dict(settings.bucket_epsilon) == {"style": 0.2}
    assert dict(settings.bucket_alpha) == {"billing": 0.01}
    assert settings.selected == ()
    teacher = settings.roles["teacher"]
    assert (teacher.scheme, teacher.target) == ("python", "models:make")
    assert dict(teacher.options) == {"temperature": 0.7, "chat": True, "stop": None, "tag": "x"}
    assert settings.roles["judge"].spec == ""
    assert settings.cache_dir == request.config.rootpath / "cache-here"
    assert settings.report == request.config.rootpath / "out/report.json"
    assert settings.html is None
    assert (settings.no_cache, settings.cache_clear) == (False, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1
"""


def test_one_frozen_settings_object_holds_every_option(pytester):
    pytester.makepyfile(test_user_settings=SETTINGS_TEST)
    pytester.makeini(
        "[pytest]\n"
        "bbi_seed = 7\n"
        "bbi_teacher = python:models:make\n"
        "bbi_teacher_options =\n    temperature = 0.7\n    chat = true\n    stop = none\n"
        "    tag = x\n"
        "bbi_capabilities = billing\n"
        "bbi_bucket_epsilon = style=0.2\n"
        "bbi_bucket_alpha = billing=0.01\n"
    )
    result = pytester.runpytest(
        "--bbi-seed=42", "--bbi-cache-dir=cache-here", "--bbi-report=out/report.json"
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("bbi_teacher = gpt:x\n", "*--bbi-teacher / bbi_teacher: model spec 'gpt:x'*"),
        ("bbi_student_options = temperature\n", "*bbi_student_options: 'temperature'*KEY=VALUE*"),
        ("bbi_bucket_alpha = style=2\n", "*bbi_bucket_alpha: 'style=2'*(0, 1)*"),
    ],
)
def test_bad_settings_stop_the_session_at_startup(pytester, ini, message):
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    pytester.makeini("[pytest]\n" + ini)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
