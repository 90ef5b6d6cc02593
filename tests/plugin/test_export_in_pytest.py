"""``--bbi-export`` under ``-n 2``: every test's exports in one folder, and a reward model that
a fresh process reloads and that ranks as the adversary measured."""

import json
import math
import subprocess
import sys
from pathlib import Path

# Read here, not imported from plugin/conftest.py: in a selection that loads another folder's
# conftest.py first, ``conftest`` names that one.
MODELS = (
    (Path(__file__).parents[1] / "scripted.py").read_text()
    + """

from pytest_bbi.models import from_callable


def strong_tic_fn(prompt, seed):
    return tic_fn(prompt, seed, rate=0.6)


teacher = from_callable(teacher_fn, name="teacher")
identical = from_callable(teacher_fn, name="identical-student")
strong_tic = from_callable(strong_tic_fn, name="strong-tic-student")
"""
)

TESTS = """
import pytest
import pytest_bbi as bbi
from scripted_models import PROMPTS, identical, strong_tic, teacher

BUDGET = bbi.Budget(queries=240, adversaries=["stylometric"])


@pytest.mark.capability("style")
def test_tic_student():
    bbi.assert_indistinguishable(teacher, strong_tic, PROMPTS, budget=BUDGET, epsilon=0.1)


@pytest.mark.capability("style")
@pytest.mark.parametrize("name", ["twin/one"])
def test_identical_student(name):
    bbi.assert_indistinguishable(teacher, identical, PROMPTS, budget=BUDGET, epsilon=0.1)
"""

FRESH = 400
"""Fresh (teacher, student) pairs the reloaded reward model ranks in its own process."""

RELOAD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from pytest_bbi.export import load_reward_model
from scripted_models import PROMPTS, strong_tic_fn, teacher_fn

folder, fresh = Path(sys.argv[2]), int(sys.argv[3])
model = load_reward_model(folder / "reward_model.safetensors")
rows = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
meta = [json.loads(line) for line in (folder / "pairs_meta.jsonl").read_text().splitlines()]
chosen = model.scores([r["prompt"] for r in rows], [r["chosen"] for r in rows])
rejected = model.scores([r["prompt"] for r in rows], [r["rejected"] for r in rows])
agrees = sum((c > r) == m["adversary_correct"] for c, r, m in zip(chosen, rejected, meta))
prompts = [PROMPTS[i % len(PROMPTS)] for i in range(fresh)]
teacher = model.scores(prompts, [teacher_fn(p, 10**6 + i) for i, p in enumerate(prompts)])
student = model.scores(prompts, [strong_tic_fn(p, 2 * 10**6 + i) for i, p in enumerate(prompts)])
ranked = sum((t > s) + 0.5 * (t == s) for t, s in zip(teacher, student))
print(json.dumps({"rows": len(rows), "agrees": agrees, "fresh_ranked": ranked}))
"""


def test_export_under_xdist_writes_every_test_and_the_reward_model_reloads(pytester):
    pytester.makepyfile(scripted_models=MODELS, test_behavior=TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "--bbi-export=exports", "--bbi-seed=3")
    result.assert_outcomes(passed=1, failed=1)
    exports = pytester.path / "exports"
    index = json.loads((exports / "index.json").read_text())
    assert (index["format"], index["version"], index["seed"]) == ("pytest-bbi/export-index", 1, 3)
    by_test = {entry["nodeid"].split("::")[1]: entry for entry in index["exports"]}
    assert set(by_test) == {"test_tic_student", "test_identical_student[twin/one]"}
    assert by_test["test_tic_student"]["outcome"] == "failed"
    assert by_test["test_tic_student"]["decision"] == "distinguishable"
    assert by_test["test_identical_student[twin/one]"]["passed"] is True
    assert sorted(p.name for p in exports.iterdir()) == sorted(
        ["index.json", *(entry["folder"] for entry in index["exports"])]
    )
    for entry in index["exports"]:
        folder = exports / entry["folder"]
        assert "/" not in entry["folder"]
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["nodeid"] == entry["nodeid"]
        assert set(manifest["files"]) == {"pairs", "pairs_meta", "targets", "reward_model"}
        for line in (folder / "pairs.jsonl").read_text().splitlines():
            row = json.loads(line)
            assert set(row) == {"prompt", "chosen", "rejected"}
            assert all(isinstance(value, str) for value in row.values())

    failing = exports / by_test["test_tic_student"]["folder"]
    reward = json.loads((failing / "manifest.json").read_text())["files"]["reward_model"]
    k, n = reward["held_out_correct"], reward["held_out_total"]
    reloaded = subprocess.run(
        [sys.executable, "-c", RELOAD, str(pytester.path), str(failing), str(FRESH)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(reloaded.stdout)
    # On the exported held-out pairs the reloaded model calls every pair as the adversary did.
    assert measured["agrees"] == measured["rows"] > 0
    # On fresh pairs it ranks the teacher's answer above the student's as often as the
    # adversary was right on its n held-out pairs: both estimate the same fitted rule's
    # accuracy, so they differ by less than 3 standard errors of the difference of two
    # independent proportions (a fresh seed would fail this with probability about 0.003).
    fresh = measured["fresh_ranked"] / FRESH
    pooled = (k + measured["fresh_ranked"]) / (n + FRESH)
    tolerance = 3 * math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / FRESH))
    assert abs(fresh - k / n) <= tolerance, (fresh, k / n, tolerance)
    assert k / n > 0.6
