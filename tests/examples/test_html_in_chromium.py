"""The HTML report renders in a real browser: headless Chromium draws the plot and the tables."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from scripted import teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from pytest_bbi.prompts import draw
from pytest_bbi.report import build_report, render_html
from pytest_bbi.strategies import multilingual_prompts, robustness_prompts, style_prompts

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SCRIPT = "<script>alert(1)</script>"
ADVERSARIES = ("stylometric", "embedding")


def _chromium():
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        reason = (
            "no chromium binary (/usr/bin/chromium or chromium on PATH); install it, e.g. "
            "`apt-get install chromium`, to render the HTML report"
        )
        if os.environ.get("BBI_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"BBI_REQUIRE_CHROMIUM=1 but {reason}")
        pytest.skip(reason)
    return found


def _report():
    """A real session's report: three buckets, a student that slips only on robustness."""
    prompts = {
        "style": draw(style_prompts(), 40, seed=1),
        "multilingual": draw(multilingual_prompts(), 40, seed=2),
        "robustness": [f"{SCRIPT} {text}" for text in draw(robustness_prompts(), 40, seed=3)],
    }
    slips = set(prompts["robustness"])
    teacher = from_callable(teacher_fn, name="teacher")
    student = from_callable(
        lambda prompt, seed: (
            tic_fn(prompt, seed, 0.7) if prompt in slips else teacher_fn(prompt, seed)
        ),
        name="student",
    )
    budget = bbi.Budget(queries=360, adversaries=list(ADVERSARIES))
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(teacher, student, prompts, budget=budget, epsilon=0.1, seed=7)
    fingerprint = bbi.fingerprint(student, prompts, budget=budget, embeddings=False, seed=7)
    entries = [
        {
            "nodeid": "tests/test_distill.py::test_student_is_indistinguishable",
            "outcome": "failed",
            "verdicts": [failure.value.verdict.to_dict()],
            "fingerprints": [json.loads(fingerprint.to_json())],
        }
    ]
    return build_report(entries, seed=7, plugin_version=bbi.__version__)


def _run(chromium, *args, cwd):
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=cwd,
    )


def test_report_renders_in_headless_chromium(tmp_path):
    chromium = _chromium()
    page = tmp_path / "report.html"
    page.write_text(render_html(_report()), encoding="utf-8")
    url = page.as_uri()
    profile = tmp_path / "profile"
    screenshot = tmp_path / "report.png"

    shot = _run(
        chromium,
        f"--user-data-dir={profile}",
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        url,
        cwd=tmp_path,
    )
    dumped = _run(chromium, f"--user-data-dir={profile}", "--dump-dom", url, cwd=tmp_path)

    assert shot.returncode == 0, shot.stderr[-2000:]
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert '<table id="summary">' in dom
    assert '<svg class="advantage-plot"' in dom
    assert dom.count('class="whisker"') == 3 * len(ADVERSARIES)
    assert 'class="epsilon"' in dom
    assert '<table class="pairs">' in dom
    assert "<script" not in dom  # the prompt's markup stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom

    assert screenshot.exists(), shot.stderr[-2000:]
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
    target = os.environ.get("BBI_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(target) / "report.png")
