"""Settings checked once when pytest starts: model options, model folders and report paths."""

import os

import pytest

RUNS_NO_TEST = """
def test_would_run(tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent / "a-test-ran").write_text("yes")
"""


def _files(folder):
    """Every path under ``folder`` but pytester's own: temporary folders, stdout and stderr."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if not path.relative_to(folder).parts[0].startswith(("runpytest", "stdout", "stderr"))
    )


def _model_folder(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


@pytest.mark.parametrize(
    ("spec", "typo", "line"),
    [
        ("hf:models/teacher", "temprature",
         "*hf: unknown option 'temprature'. Did you mean 'temperature'? The hf: backend takes "
         "batch_size, chat, device, lazy, max_new_tokens, name, system_prompt, temperature, top_k, "
         "top_p, trust_remote_code.*"),
        ("openai:teacher@http://127.0.0.1:9/v1", "time_out",
         "*openai: unknown option 'time_out'. Did you mean 'timeout'? The openai: backend "
         "takes api_key_env, chat, echo_score,*"),
        ("vllm:models/teacher", "dtpye",
         "*vllm: unknown option 'dtpye'. Did you mean 'dtype'? The vllm: backend takes*"),
    ],
    ids=["hf", "openai", "vllm"],
)  # fmt: skip
def test_a_misspelled_option_is_one_usage_error_at_startup(pytester, spec, typo, line):
    _model_folder(pytester.path / "models" / "teacher")
    pytester.makeini(f"[pytest]\nbbi_teacher = {spec}\nbbi_teacher_options =\n    {typo} = 0.7\n")
    pytester.makepyfile(test_a=RUNS_NO_TEST.replace("(tmp_path_factory)", "(teacher)"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: ini bbi_teacher_options: {line[1:]}"])
    output = result.stdout.str() + result.stderr.str()
    assert output.count(typo) == 1  # said once, not once per test
    assert "collected" not in output


def test_relative_paths_are_read_from_the_rootdir_whatever_the_working_folder(
    pytester, monkeypatch
):
    project = pytester.mkdir("project")
    _model_folder(project / "models" / "teacher")
    (project / "pytest.ini").write_text("[pytest]\nbbi_teacher = hf:models/teacher\n")
    (project / "test_paths.py").write_text(
        "from pytest_bbi.plugin.settings import get\n\n\n"
        "def test_paths(pytestconfig):\n"
        "    settings = get(pytestconfig)\n"
        f"    root = {str(project)!r}\n"
        "    assert settings.roles['teacher'].spec == f'hf:{root}/models/teacher'\n"
        "    assert str(settings.cache_dir) == f'{root}/cache'\n"
        "    assert str(settings.report) == f'{root}/out/report.json'\n"
    )
    elsewhere = pytester.mkdir("elsewhere")
    monkeypatch.chdir(elsewhere)
    result = pytester.runpytest_subprocess(
        str(project), "-p", "no:cacheprovider", "--bbi-cache-dir=cache", "--bbi-report",
        "out/report.json",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    assert (project / "out" / "report.json").is_file()
    assert not (elsewhere / "out").exists()


SCRIPTED_PROJECT_TEST = """
import pytest_bbi as bbi


def test_uses_the_project_ini(teacher, pytestconfig):
    assert pytestconfig.inipath is not None and pytestconfig.inipath.name == "pytest.ini"
    budget = bbi.Budget(queries=20, adversaries=["stylometric"])
    prompts = [f"p{i}" for i in range(10)]
    bbi.assert_indistinguishable(teacher, teacher, prompts, budget=budget, epsilon=0.3)
"""


_PATH_OPTIONS = [
    ("--bbi-cache-dir", "cache"),
    ("--bbi-report", "report.json"),
    ("--bbi-html", "r.html"),
]


@pytest.mark.parametrize(
    ("option", "value", "form"),
    [
        *((option, value, ["="]) for option, value in _PATH_OPTIONS),
        *((option, value, [" "]) for option, value in _PATH_OPTIONS),
        # Under xdist the re-run happens in the controller before any worker starts, the same
        # way for every option: one option shows it (each xdist session costs CI seconds).
        ("--bbi-report", "report.json", [" ", "-n", "2"]),
    ],
    ids=[
        *(f"one-word-{option}" for option, _ in _PATH_OPTIONS),
        *(f"two-words-{option}" for option, _ in _PATH_OPTIONS),
        "two-words-xdist---bbi-report",
    ],
)
def test_every_path_option_in_either_form_keeps_the_project_ini(
    pytester, monkeypatch, option, value, form
):
    project = pytester.mkdir("project")
    (project / "scripted_models.py").write_text(
        "from pytest_bbi.models import from_callable\n\n"
        "teacher = from_callable(lambda prompt, seed: prompt.upper(), name='teacher')\n"
    )
    (project / "pytest.ini").write_text("[pytest]\nbbi_teacher = python:scripted_models:teacher\n")
    (project / "test_project.py").write_text(SCRIPTED_PROJECT_TEST)
    outside = pytester.mkdir("outside")
    target = outside / value
    if option == "--bbi-cache-dir":
        target.mkdir()
    else:
        target.write_text("from an earlier run")  # an existing path is what pytest misreads
    monkeypatch.chdir(project)
    spelled = [f"{option}={target}"] if form[0] == "=" else [option, str(target)]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *spelled, *form[1:])
    result.assert_outcomes(passed=1)
    if option == "--bbi-cache-dir":
        assert (target / "generations.sqlite3").exists()
    else:
        assert target.read_text() != "from an earlier run"


def test_a_report_path_that_cannot_be_written_stops_the_session_before_any_test(pytester):
    pytester.makepyfile(test_a=RUNS_NO_TEST)
    (pytester.path / "blocker").write_text("a file, not a folder")
    before = _files(pytester.path)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--bbi-report=blocker/out/report.json"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --bbi-report '{pytester.path}/blocker/out/report.json' cannot be written: "
            f"'{pytester.path}/blocker' is a file, so no folder can be made there. The report "
            "is written when the session ends;*"
        ]
    )
    assert _files(pytester.path) == before  # nothing left behind
    assert not (pytester.path.parent / "a-test-ran").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_a_read_only_report_folder_stops_the_session_before_any_test(pytester):
    pytester.makepyfile(test_a=RUNS_NO_TEST)
    locked = pytester.mkdir("locked")
    locked.chmod(0o500)
    try:
        result = pytester.runpytest_subprocess("--bbi-html=locked/report.html")
    finally:
        locked.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--bbi-html*cannot be written: the folder*is not writable*"])
    assert not (pytester.path.parent / "a-test-ran").exists()


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (["--bbi-report=same.out", "--bbi-html=./same.out"],
         "ERROR: --bbi-report and --bbi-html both name '*same.out'; the JSON and the HTML "
         "report need a file each*"),
        (["--bbi-html=folder"], "ERROR: --bbi-html '*folder' cannot be written: it is a folder.*"),
        (["--bbi-no-cache", "--bbi-cache-clear"],
         "ERROR: --bbi-no-cache and --bbi-cache-clear together: --bbi-no-cache reads and writes "
         "no cache, so there is none to clear; drop one of them*"),
        (["--bbi-cache-dir=a-file"], "ERROR: --bbi-cache-dir '*a-file' is a file; name a folder*"),
    ],
    ids=["same-report-file", "report-is-a-folder", "no-cache-and-clear", "cache-dir-is-a-file"],
)  # fmt: skip
def test_contradictory_or_impossible_options_are_usage_errors(pytester, options, line):
    pytester.makepyfile(test_a=RUNS_NO_TEST)
    pytester.mkdir("folder")
    (pytester.path / "a-file").write_text("")
    result = pytester.runpytest_subprocess(*options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert not (pytester.path.parent / "a-test-ran").exists()
