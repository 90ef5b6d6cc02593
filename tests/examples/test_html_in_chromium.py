"""The HTML report renders in a real browser: headless Chromium draws the matrix, the plots and
the tables, and the screenshot shows the matrix's colours at the top of the page."""

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from scripted import PROMPTS, HedgingStudent, steady_fn, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from pytest_bbi.prompts import draw
from pytest_bbi.report import build_report, render_html
from pytest_bbi.report.html import advantage_colour
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
    """A real session's report: two students over three buckets (one slips only on robustness,
    one is the teacher's twin), a calibrated student, and a fingerprint."""
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
    twin = from_callable(lambda prompt, seed: teacher_fn(prompt, seed), name="distilled")
    budget = bbi.Budget(queries=360, adversaries=list(ADVERSARIES))
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(teacher, student, prompts, budget=budget, epsilon=0.1, seed=7)
    passed = bbi.assert_indistinguishable(
        teacher,
        twin,
        prompts,
        budget=bbi.Budget(queries=120, adversaries=["stylometric"]),
        epsilon=0.45,
        seed=7,
    )
    calibrated = bbi.assert_indistinguishable(
        from_callable(steady_fn, name="steady-teacher"),
        HedgingStudent(),
        PROMPTS,
        budget=bbi.Budget(queries=100, adversaries=["stylometric"]),
        epsilon=0.6,
        seed=7,
        calibrate=bbi.Calibrate(agreement="exact", target=0.9),
    )
    fingerprint = bbi.fingerprint(student, prompts, budget=budget, embeddings=False, seed=7)
    entries = [
        {
            "nodeid": "tests/test_distill.py::test_student_is_indistinguishable",
            "outcome": "failed",
            "verdicts": [failure.value.verdict.to_dict(), passed.to_dict()],
            "fingerprints": [],
        },
        {
            "nodeid": "tests/test_distill.py::test_calibration",
            "outcome": "passed",
            "verdicts": [calibrated.to_dict()],
            "fingerprints": [],
        },
        {
            "nodeid": "tests/test_distill.py::test_fingerprint",
            "outcome": "passed",
            "verdicts": [],
            "fingerprints": [json.loads(fingerprint.to_json())],
        },
    ]
    return build_report(entries, seed=7, plugin_version=bbi.__version__)


def _top_rows(png, rows):
    """The first ``rows`` pixel rows of an 8-bit RGB or RGBA PNG (Chromium's), as (width,
    channels, [bytes per row]), unfiltered as the PNG specification says."""
    chunks, offset = {}, 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        chunks.setdefault(kind, []).append(png[offset + 8 : offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    assert depth == 8, depth
    assert colour in (2, 6), colour
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    stride = width * channels
    previous, lines = bytearray(stride), []
    for y in range(min(rows, height)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind in (1, 3, 4):
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up = previous[i]
                if kind == 1:
                    line[i] = (line[i] + left) & 0xFF
                elif kind == 3:
                    line[i] = (line[i] + (left + up) // 2) & 0xFF
                else:
                    corner = previous[i - channels] if i >= channels else 0
                    guess = left + up - corner
                    costs = (abs(guess - left), abs(guess - up), abs(guess - corner))
                    line[i] = (line[i] + (left, up, corner)[costs.index(min(costs))]) & 0xFF
        lines.append(line)
        previous = line
    return width, channels, lines


def _pixels_of(colour, png, rows):
    """How many pixels of the first ``rows`` rows have ``colour`` (#rrggbb, ±3 per channel)."""
    target = bytes.fromhex(colour[1:])
    width, channels, lines = _top_rows(png, rows)
    return sum(
        all(abs(line[x + c] - target[c]) <= 3 for c in range(3))
        for line in lines
        for x in range(0, width * channels, channels)
    )


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
    assert dom.count('class="whisker"') == 3 * len(ADVERSARIES) + 3 + 1
    assert 'class="epsilon"' in dom
    assert '<table class="pairs">' in dom
    assert "<script" not in dom  # the prompt's markup stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    # the page opens with the students x buckets matrix, before the summary and the details
    assert dom.index('<table class="matrix">') < dom.index('<table id="summary">')
    matrix = re.search(r'<table class="matrix">.*?</table>', dom, flags=re.DOTALL).group()
    assert re.findall(r'<th scope="col">(.*?)</th>', matrix) == [
        "all",
        "multilingual",
        "robustness",
        "style",
    ]
    students = re.findall(r'<th scope="row">student (.*?)<br>', matrix)
    assert students == ["'hedging-student'", "'student'", "'distilled'"]
    # model names on every row: the matrix's, the summary's and each verdict's heading
    start = dom.index('<table id="summary">')
    summary = dom[start : dom.index("</table>", start)]
    rows = re.findall(r"<tr><td>.*?</tr>", summary, flags=re.DOTALL)
    assert len(rows) == 4
    students = ["hedging-student", "student", "student", "distilled"]  # sorted by node id
    for row, student in zip(rows, students, strict=True):
        assert f"<td>{student}</td>" in row
    assert "model fingerprint of model 'student'" in rows[1]
    assert re.findall(r'<h3 class="pair">(.*?)</h3>', dom) == [
        "student 'hedging-student' vs teacher 'steady-teacher'",
        "student 'student' vs teacher 'teacher'",
        "student 'distilled' vs teacher 'teacher'",
    ]
    # labelled axes on every plot
    titles = re.findall(r'<text class="axis-title"[^>]*>(.*?)</text>', dom)
    assert titles.count("advantage (0 = a coin flip)") == 3
    assert titles.count("capability bucket (one whisker per adversary)") == 3
    assert "agreement with the teacher" in titles
    assert "student confidence (mean token log-probability)" in titles
    # the screenshot: the robustness cell of the slipping student, in its advantage's colour,
    # is drawn near the top of the page (the matrix comes first)
    hot = re.search(
        r'style="background:(#[0-9a-f]{6})" data-student="student" data-bucket="robustness"',
        matrix,
    ).group(1)
    assert hot not in (advantage_colour(0.0), advantage_colour(0.1))

    assert screenshot.exists(), shot.stderr[-2000:]
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
    assert _pixels_of(hot, png, rows=700) > 1000, "the matrix's coloured cell is not on screen"
    target = os.environ.get("BBI_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(target) / "report.png")
