"""The core assertion as a user meets it: pass, fail with the message, serial and under -n 2."""

from verdicts import junit_verdicts


def test_identical_passes_and_tic_fails_with_the_message(user_project):
    """The failure as a user reads it. (Under xdist the same verdicts are checked to the byte
    by the next test, and the named lines by tests/plugin/test_names_in_reports.py.)"""
    result = user_project.runpytest_subprocess("--bbi-seed=7")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Distinguishable: student 'tic-student' is distinguishable from teacher 'teacher'"
            " on capability 'style'*",
            "*mode=detect ε=0.1 α=0.05 seed=7; spent 300 queries*",
            "*detectable advantage: 0.* (power 0.8 at α=0.05, 3 cells)*",
            "*style *stylometric *+0.* [+0.*, +0.*] *1*/150 *distinguishable",
            "*style *embedding*/150*",
            "*stylometric (style): the held-out pairs it was most sure of",
            "*1. prompt:  'Question *",
            "*teacher: '*",
            "*student: '*",
            "*replay exactly with --bbi-seed=7*",
        ]
    )
    assert "Stay curious!" in result.stdout.str()
    result.stdout.fnmatch_lines(["bbi: seed=7"])


def test_same_seed_same_numbers_serial_and_xdist(user_project):
    """Two processes (serial, then two xdist workers) with one seed agree to the byte; another
    seed draws differently. (A rerun in the same layout is covered by the xdist run: its
    workers are fresh processes too.)"""
    serial = user_project.runpytest_subprocess("--bbi-seed=11", "--junitxml=serial.xml")
    xdist = user_project.runpytest_subprocess("-n", "2", "--bbi-seed=11", "--junitxml=xdist.xml")
    other = user_project.runpytest_subprocess("--bbi-seed=12", "--junitxml=other.xml")
    for result in (serial, xdist, other):
        result.assert_outcomes(passed=1, failed=1)
    first = junit_verdicts(user_project.path / "serial.xml")
    assert set(first) == {"test_identical_student", "test_tic_student"}
    assert junit_verdicts(user_project.path / "xdist.xml") == first
    different = junit_verdicts(user_project.path / "other.xml")
    assert different["test_tic_student"]["seed"] == 12
    assert different["test_tic_student"]["adversaries"] != first["test_tic_student"]["adversaries"]


def test_seed_is_in_the_header_and_reaches_xdist_workers(pytester):
    pytester.makepyfile(
        """
        from pytest_bbi import context

        def test_seed():
            assert context.current().seed == 4242
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--bbi-seed=4242")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["bbi: seed=4242"])


def test_random_seed_is_shared_by_workers(pytester):
    pytester.makepyfile(
        """
        import pytest
        from pytest_bbi import context

        @pytest.mark.parametrize("i", range(4))
        def test_seed(i, request):
            path = request.config.rootpath / f"seed-{i}.txt"
            path.write_text(str(context.current().seed))
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--bbi-seed=random")
    result.assert_outcomes(passed=4)
    seeds = {(pytester.path / f"seed-{i}.txt").read_text() for i in range(4)}
    header = next(line for line in result.outlines if line.startswith("bbi: seed="))
    assert seeds == {header.removeprefix("bbi: seed=")}
