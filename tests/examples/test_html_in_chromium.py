"""The HTML report renders in a real browser: headless Chromium draws the plot and the tables."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_bbi.session_report import build_report, render_html
from pytest_bbi.verdict import AdversaryResult, BucketResult, Example, Verdict

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
BUCKETS = {"style": 0.1, "factual": 0.2, "robustness": 0.1}
ADVERSARIES = ("stylometric", "embedding", "llm-judge")
SCRIPT = "<script>alert(1)</script>"


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


def _result(name, k, n, lower, upper, *, rejected=False, examples=()):
    return AdversaryResult(
        name=name,
        correct=k,
        total=n,
        advantage=2 * k / n - 1,
        lower=lower,
        upper=upper,
        p_value=0.0004 if rejected else 0.5,
        seconds=0.8,
        rejected=rejected,
        examples=examples,
    )


def _verdict():
    """Three capability buckets × three adversaries; robustness gives the student away."""
    examples = (
        Example(SCRIPT + " What is 2+2?", "4", "4 " + SCRIPT, 0.48, True),
        Example("מה השעה? كم الساعة؟", "It is noon.", "It is noon 🙂", 0.4, True),
        Example("pay\u200bpal", "I can't help with that.", "Sure, here is how.", 0.31, False),
    )
    buckets = {}
    for index, (bucket, epsilon) in enumerate(BUCKETS.items()):
        telling = bucket == "robustness"
        results = {
            name: _result(
                name,
                (88 if telling else 50 + 3 * index) - 4 * rank,
                100,
                (0.6 if telling else -0.15) - 0.05 * rank,
                (0.86 if telling else 0.2) - 0.05 * rank,
                rejected=telling and rank == 0,
                examples=examples if telling and rank == 0 else (),
            )
            for rank, name in enumerate(ADVERSARIES)
        }
        buckets[bucket] = BucketResult(
            name=bucket,
            passed=not telling,
            epsilon=epsilon,
            queries=200,
            advantage=max(r.advantage for r in results.values()),
            lower=max(r.lower for r in results.values()),
            upper=max(r.upper for r in results.values()),
            adversaries=results,
        )
    return Verdict(
        passed=False,
        decision="distinguishable",
        mode="detect",
        epsilon=0.1,
        alpha=0.05,
        advantage=0.76,
        lower=0.6,
        upper=0.86,
        queries=600,
        seconds=7.2,
        generation_seconds=2.5,
        adversaries=buckets["robustness"].adversaries,
        buckets=buckets,
        seed=7,
    )


def _report():
    fingerprint = {
        "schema": "pytest-bbi/fingerprint",
        "version": 1,
        "kind": "relation",
        "statistics": {"style": {"length_ratio": {"type": "mean", "value": 1.04, "n": 60}}},
        "metadata": {"teacher": "teacher", "student": "student"},
    }
    entries = [
        {
            "nodeid": "tests/test_distill.py::test_student_is_indistinguishable",
            "outcome": "failed",
            "verdicts": [_verdict().to_dict()],
            "fingerprints": [fingerprint],
        }
    ]
    return build_report(entries, seed=7, plugin_version="0.1.0")


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
    assert dom.count('class="whisker"') == len(BUCKETS) * len(ADVERSARIES)
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
