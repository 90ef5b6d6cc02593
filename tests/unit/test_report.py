"""report/: the failure message, the JSON document and its schema, the terminal table, HTML."""

import copy
import dataclasses
import itertools
import json
import re

import pytest

jsonschema = pytest.importorskip("jsonschema")

from pytest_bbi.fingerprints import (  # noqa: E402
    Fingerprint,
    mean_field,
    proportion_field,
    relation_fingerprint,
)
from pytest_bbi.report import (  # noqa: E402
    REPORT_SCHEMA_VERSION,
    build_report,
    render_html,
    report_schema,
    summary_table,
)
from pytest_bbi.verdict import AdversaryResult, BucketResult, Example, Verdict  # noqa: E402

SCRIPT = "<script>alert(1)</script>"
RTL = "מה השעה? كم الساعة؟"
ZERO_WIDTH = "pay\u200bpal \u202eevil"


def _result(
    name, k, n, *, lower, upper, rejected=False, within=False, timed_out=False, examples=()
):
    return AdversaryResult(
        name=name,
        correct=k,
        total=n,
        advantage=2 * k / n - 1 if n else 0.0,
        lower=lower,
        upper=upper,
        p_value=0.001 if rejected else 0.62,
        seconds=1.25,
        timed_out=timed_out,
        rejected=rejected,
        within=within,
        examples=examples,
    )


def _bucket(name, results, *, epsilon=0.1, queries=200, detectable=0.31):
    top = max(results, key=lambda r: r.advantage)
    return BucketResult(
        name=name,
        passed=not any(r.rejected for r in results),
        epsilon=epsilon,
        queries=queries,
        advantage=top.advantage,
        lower=max(r.lower for r in results),
        upper=max(r.upper for r in results),
        adversaries={r.name: r for r in results},
        detectable=detectable,
    )


def _distinguishable():
    """Three buckets × two adversaries; the student gives itself away on robustness prompts."""
    telling = (
        Example(SCRIPT, "The answer is 4.", "the answer is 4!!", 0.49, True),
        Example(RTL, "It is noon.", "It is noon 🙂", 0.41, True),
        Example(ZERO_WIDTH, "I can't help with that.", "Sure: " + SCRIPT, 0.33, False),
    )
    buckets = {
        "style": _bucket(
            "style",
            [
                _result("stylometric", 52, 100, lower=-0.13, upper=0.21),
                _result("embedding", 49, 100, lower=-0.19, upper=0.15),
            ],
        ),
        "factual": _bucket(
            "factual",
            [
                _result("stylometric", 50, 100, lower=-0.17, upper=0.17, within=True),
                _result("embedding", 55, 100, lower=-0.08, upper=0.26),
            ],
            epsilon=0.2,
        ),
        "robustness": _bucket(
            "robustness",
            [
                _result(
                    "stylometric", 88, 100, lower=0.62, upper=0.87, rejected=True, examples=telling
                ),
                _result("embedding", 61, 100, lower=0.05, upper=0.38),
            ],
        ),
    }
    pooled = {
        "stylometric": _result("stylometric", 190, 300, lower=0.16, upper=0.36, rejected=True),
        "embedding": _result("embedding", 165, 300, lower=-0.02, upper=0.2),
    }
    return Verdict(
        passed=False,
        decision="distinguishable",
        mode="detect",
        epsilon=0.1,
        alpha=0.05,
        advantage=0.76,
        lower=0.62,
        upper=0.87,
        queries=600,
        seconds=7.5,
        generation_seconds=3.2,
        adversaries=pooled,
        buckets=buckets,
        seed=1234,
        capability=None,
        detectable=0.31,
        detect_target=0.2,
        prompts=150,
        teacher="smollm2",
        student="int8",
    )


def _inconclusive():
    """Certify mode, one bucket, one adversary out of time: nothing could be certified."""
    results = [
        _result(
            "stylometric",
            104,
            200,
            lower=-0.08,
            upper=0.17,
            examples=(Example("2+2?", "4", "4.", 0.02, True),),
        ),
        _result("llm-judge", 0, 0, lower=-1.0, upper=1.0, timed_out=True),
    ]
    bucket = _bucket("all", results, epsilon=0.15, detectable=None)
    return Verdict(
        passed=False,
        decision="inconclusive",
        mode="certify",
        epsilon=0.15,
        alpha=0.05,
        advantage=0.04,
        lower=-0.08,
        upper=1.0,
        queries=200,
        seconds=30.0,
        generation_seconds=1.0,
        adversaries=bucket.adversaries,
        buckets={"all": bucket},
        seed=1234,
        capability="math",
        queries_to_decide=2400,
        detectable=None,
        detect_target=0.3,
        prompts=40,
        teacher="smollm2",
        student="pruned",
    )


FINGERPRINT = {
    "schema": "pytest-bbi/fingerprint",
    "version": 1,
    "kind": "model",
    "statistics": {
        "style": {
            "length": {"type": "mean", "mean": 12.5, "sd": 4.25, "n": 60},
            "refusal_rate": {"type": "proportion", "k": 3, "n": 60, "rate": 0.05},
        }
    },
    "metadata": {"model": "tiny-student", "prompts": 60},
}


def _entries():
    return [
        {
            "nodeid": "tests/test_distill.py::test_student_matches[robust]",
            "outcome": "failed",
            "verdicts": [_distinguishable().to_dict()],
            "fingerprints": [FINGERPRINT],
        },
        {
            "nodeid": "tests/test_distill.py::test_certify_math",
            "outcome": "failed",
            "verdicts": [_inconclusive().to_dict()],
            "fingerprints": [],
        },
        {
            "nodeid": "tests/test_other.py::test_plain",
            "outcome": "passed",
            "verdicts": [],
            "fingerprints": [],
        },
    ]


@pytest.fixture
def report():
    return build_report(_entries(), seed=1234, plugin_version="0.1.0")


def _validator():
    return jsonschema.Draft202012Validator(report_schema())


# --- the document and its schema --------------------------------------------------------------


def test_report_is_sorted_plain_json_and_valid(report):
    assert report["schema"] == "pytest-bbi/report"
    assert report["version"] == REPORT_SCHEMA_VERSION == 3
    assert [t["nodeid"] for t in report["tests"]] == sorted(t["nodeid"] for t in _entries())
    assert json.loads(json.dumps(report)) == report  # no tuples or other non-JSON containers
    _validator().validate(report)


def test_schema_accepts_the_fingerprints_the_package_writes():
    relation = json.loads(relation_fingerprint(_distinguishable()).to_json())
    model = Fingerprint(
        kind="model",
        statistics={"style": {"refusal": proportion_field(3, 60), "length": mean_field([3, 9])}},
        metadata={"model": "student", "seed": 1234},
    )
    entry = {
        "nodeid": "t.py::fp",
        "outcome": "passed",
        "verdicts": [],
        "fingerprints": [relation, json.loads(model.to_json())],
    }
    _validator().validate(build_report([entry], seed=0, plugin_version="0.1.0"))


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = report_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_names_every_verdict_field():
    """Adding a field to Verdict (or its parts) means documenting it in report_schema.json."""
    defs = report_schema()["$defs"]
    verdict = _distinguishable().to_dict()
    named = report_schema()["then"]["properties"]["tests"]["items"]["properties"]["verdicts"]
    assert set(defs["verdict"]["required"]) | set(named["items"]["required"]) == set(verdict)
    assert set(defs["bucket"]["required"]) == set(verdict["buckets"]["style"])
    result = verdict["buckets"]["robustness"]["adversaries"]["stylometric"]
    assert set(defs["adversary"]["required"]) | set(defs["adversary_v3"]["required"]) == set(result)
    assert set(defs["example"]["required"]) == set(result["examples"][0])


def _broken(report, edit):
    broken = copy.deepcopy(report)
    edit(broken)
    return broken


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("decision enum", lambda r: r["tests"][0]["verdicts"][0].update(decision="maybe")),
        ("mode enum", lambda r: r["tests"][0]["verdicts"][0].update(mode="guess")),
        ("missing verdict key", lambda r: r["tests"][0]["verdicts"][0].pop("alpha")),
        ("missing top-level key", lambda r: r.pop("seed")),
        ("advantage above 1", lambda r: r["tests"][0]["verdicts"][0].update(advantage=1.5)),
        (
            "bucket lower below -1",
            lambda r: r["tests"][1]["verdicts"][0]["buckets"]["robustness"].update(lower=-1.2),
        ),
        (
            "example without student",
            lambda r: r["tests"][1]["verdicts"][0]["buckets"]["robustness"]["adversaries"][
                "stylometric"
            ]["examples"][0].pop("student"),
        ),
        ("fingerprint kind", lambda r: r["tests"][1]["fingerprints"][0].update(kind="other")),
        (
            "fingerprint field of unknown type",
            lambda r: r["tests"][1]["fingerprints"][0]["statistics"]["style"].update(
                length={"type": "quantiles", "values": [1, 2]}
            ),
        ),
        ("wrong schema name", lambda r: r.update(schema="something/else")),
        ("unknown verdict key", lambda r: r["tests"][0]["verdicts"][0].update(extra=1)),
    ],
)
def test_invalid_reports_fail_validation(report, what, edit):
    # tests are sorted: [0] is test_certify_math, [1] is test_student_matches[robust]
    broken = _broken(report, edit)
    assert not _validator().is_valid(broken), what


# --- the terminal summary ---------------------------------------------------------------------


def test_summary_table_is_empty_without_verdicts():
    assert summary_table([]) == []
    assert (
        summary_table(
            [{"nodeid": "t.py::x", "outcome": "passed", "verdicts": [], "fingerprints": []}]
        )
        == []
    )


def test_summary_table_has_one_aligned_row_per_test_bucket_adversary():
    lines = summary_table(_entries())
    header, rows = lines[0], lines[1:9]
    assert header.split() == [
        "test",
        "teacher",
        "student",
        "capability",
        "adversary",
        "advantage",
        "[lower,",
        "upper]",
        "n",
        "verdict",
        "detectable",
        "queries",
        "seconds",
    ]
    assert len(lines) == 1 + 2 + 3 * 2 + 2 + 1
    assert lines[-1] == (
        "test_distill.py::test_student_matches[robust] (failed): model fingerprint of model "
        "'tiny-student': 2 fields over style"
    )
    # columns line up: every column starts at the same offset on every line
    for column in ("teacher", "student", "capability", "adversary", "verdict"):
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows)
    for column in ("detectable", "queries", "seconds"):
        end = header.index(column) + len(column)
        assert all(row[end - 1] != " " and row[end : end + 1] in ("", " ") for row in rows)

    first = rows[0].split()
    assert first[:5] == [
        "test_distill.py::test_certify_math",
        "smollm2",
        "pruned",
        "all",
        "stylometric",
    ]
    assert rows[1].split()[-6:] == ["timed", "out", ">", "1", "200", "1.25"]
    assert all(row.split()[1:3] == ["smollm2", "int8"] for row in rows[2:])
    cells = {tuple(row.split()[3:5]): row for row in rows[2:]}
    assert re.search(
        r"\+0\.760  \[\+0\.620, \+0\.870\] +88/100  distinguishable +0\.310 +200 +1\.25$",
        cells["robustness", "stylometric"],
    )
    assert "within ε" in cells["factual", "stylometric"]
    assert "undetected" in cells["style", "stylometric"]
    assert all(
        row.split()[0] == "test_distill.py::test_student_matches[robust]" for row in rows[2:]
    )


# --- the HTML page ----------------------------------------------------------------------------


def test_html_escapes_every_prompt_and_completion(report):
    page = render_html(report)
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert RTL in page
    # invisible and reordering code points are shown, never emitted raw
    assert "\u200b" not in page
    assert "\u202e" not in page
    assert '<span class="cp">U+200B</span>' in page
    assert '<span class="cp">U+202E</span>' in page


def test_html_plots_one_whisker_per_bucket_and_adversary_with_the_epsilon_line(report):
    page = render_html(report)
    svgs = re.findall(r'<svg class="advantage-plot".*?</svg>', page, flags=re.DOTALL)
    assert len(svgs) == 2
    certify, detect = svgs  # sections follow the sorted node ids
    assert detect.count('class="whisker"') == 3 * 2
    assert certify.count('class="whisker"') == 2
    cells = set(re.findall(r'data-bucket="([^"]+)" data-adversary="([^"]+)"', detect))
    assert cells == {
        (b, a) for b in ("style", "factual", "robustness") for a in ("stylometric", "embedding")
    }
    # style and robustness test ε = 0.1, factual ε = 0.2 (each bucket's own line)
    assert detect.count('class="epsilon"') == 3
    assert "ε = 0.1" in detect
    assert "ε = 0.2" in detect
    assert certify.count('class="epsilon"') == 1
    assert "ε = 0.15" in certify
    for label in ("−1", "−0.5", ">0<", "0.5", ">1<", ">style<", ">factual<", ">robustness<"):
        assert label in detect
    assert 'class="legend"' in detect
    assert ">stylometric</text>" in detect


def test_html_legend_explains_rejected_and_timed_out_cells(report):
    certify, detect = re.findall(r'<g class="legend">.*?</g>', render_html(report), re.DOTALL)
    assert ">distinguishable</text>" in detect
    assert ">timed out</text>" not in detect
    assert ">timed out</text>" in certify
    assert ">distinguishable</text>" not in certify


def test_html_turns_crowded_bucket_labels():
    verdict = _distinguishable()
    many = {
        f"capability-{i}": dataclasses.replace(verdict.buckets["style"], name=f"capability-{i}")
        for i in range(9)
    }
    crowded = dataclasses.replace(verdict, buckets=many).to_dict()
    entry = {
        "nodeid": "t.py::crowded",
        "outcome": "failed",
        "verdicts": [crowded],
        "fingerprints": [],
    }
    page = render_html(build_report([entry], seed=0, plugin_version="0.1.0"))
    assert page.count('class="bucket"') == 9
    assert page.count("rotate(-30") == 9
    assert page.count('class="whisker"') == 9 * 2


def test_html_has_the_summary_pairs_and_fingerprints(report):
    page = render_html(report)
    assert '<table id="summary">' in page
    start = page.index('<table id="summary">')
    summary = page[start : page.index("</table>", start)]
    assert summary.count("<tr>") == 1 + 4  # a fingerprint, two verdicts, a test with neither
    assert "distinguishable" in summary
    assert "inconclusive" in summary
    assert "seed <code>1234</code>" in page
    assert "<code>0.1.0</code>" in page
    pairs = re.findall(r'<table class="pairs">.*?</table>', page, flags=re.DOTALL)
    assert len(pairs) == 2
    assert [h for h in re.findall(r"<th>(.*?)</th>", pairs[1])] == [
        "prompt",
        "teacher &#x27;smollm2&#x27;",
        "student &#x27;int8&#x27;",
        "adversary confidence",
    ]
    assert pairs[1].index("&lt;script&gt;") < pairs[1].index("מה השעה")  # most confident first
    assert "0.99" in pairs[1]
    assert '<table class="fingerprint">' in page
    assert "refusal_rate" in page
    assert "{type: mean, mean: 12.5, sd: 4.25, n: 60}" in page


def test_html_is_self_contained_and_deterministic(report):
    page = render_html(report)
    assert "http://" not in page
    assert "https://" not in page
    assert "<link" not in page
    assert "src=" not in page
    assert page == render_html(copy.deepcopy(report))
    assert page == render_html(
        build_report(list(reversed(_entries())), seed=1234, plugin_version="0.1.0")
    )


def test_a_sequential_verdict_shows_queries_spent_of_the_budget_and_validates():
    verdict = dataclasses.replace(
        _distinguishable(),
        queries=63,
        budget_queries=1000,
        sequential=True,
        acquisition="disagreement",
        rounds=1,
    )
    entry = {"nodeid": "t.py::early", "outcome": "failed", "verdicts": [verdict.to_dict()]}
    document = build_report([{**entry, "fingerprints": []}], seed=0, plugin_version="0.1.0")
    _validator().validate(document)
    assert "63 of 1000 queries in 1 round (disagreement acquisition)" in render_html(document)


# -- the package, the failure message, escaping and plots ----------------------------------------


def test_the_package_exports_what_the_plugin_renders_with():
    import pytest_bbi.report as package
    from pytest_bbi.report import html, terminal

    assert package.render_html is html.render_html
    assert package.summary_table is terminal.summary_table
    assert package.report_schema()["title"]


def test_the_failure_message_names_the_buckets_and_the_telling_pairs():
    from pytest_bbi.report import format_verdict

    message = format_verdict(_distinguishable(), "teacher", "student")
    assert message.startswith(
        "student 'student' is distinguishable from teacher 'teacher' on capability 'robustness'"
    )
    assert "the answer is 4!!" in message
    overrun = format_verdict(_inconclusive(), "teacher", "student")
    assert overrun.startswith(
        "no decision for student 'student' against teacher 'teacher': llm-judge (all) overran"
    )
    assert "llm-judge (all): overran its safety limit" in overrun
    verdict = _inconclusive()
    judge = dataclasses.replace(
        verdict.buckets["all"].adversaries["llm-judge"],
        correct=22,
        total=40,
        lower=-0.2,
        upper=0.45,
        timed_out=False,
    )
    bucket = dataclasses.replace(
        verdict.buckets["all"],
        adversaries={**verdict.buckets["all"].adversaries, "llm-judge": judge},
    )
    too_few = dataclasses.replace(verdict, adversaries=bucket.adversaries, buckets={"all": bucket})
    message = format_verdict(too_few, "teacher", "student")
    assert message.startswith("cannot certify student 'student' against teacher 'teacher'")
    assert "about 2400 queries would likely decide" in message


def test_escaping_shows_hidden_code_points_and_keeps_attributes_safe():
    from pytest_bbi.report.escaping import escape_attr, escape_text

    assert escape_text(ZERO_WIDTH) == (
        'pay<span class="cp">U+200B</span>pal <span class="cp">U+202E</span>evil'
    )
    assert escape_text("<b>\n\t</b>") == "&lt;b&gt;\n\t&lt;/b&gt;"
    assert escape_text("x" * 10, limit=4) == "xxx…"
    assert escape_attr('a"b\ud800\x07') == "a&quot;b\ufffd\ufffd"


def test_the_advantage_plot_draws_one_cell_per_result_and_one_line_per_epsilon_run():
    from pytest_bbi.report.plots import advantage_plot

    verdict = json.loads(json.dumps(_distinguishable().to_dict()))
    svg = advantage_plot(verdict)
    results = sum(len(bucket["adversaries"]) for bucket in verdict["buckets"].values())
    assert svg.count('<g class="cell') == results
    epsilons = [bucket["epsilon"] for bucket in verdict["buckets"].values()]
    runs = 1 + sum(a != b for a, b in itertools.pairwise(epsilons))
    assert svg.count('<line class="epsilon"') == runs


# -- the vocabulary: detectable, under-powered, the population -----------------------------------


def _underpowered_pass():
    result = _result("stylometric", 13, 24, lower=-0.4, upper=0.45)
    bucket = _bucket("all", [result], detectable=0.594)
    return dataclasses.replace(
        _inconclusive(),
        passed=True,
        decision="undetected",
        mode="detect",
        epsilon=0.1,
        adversaries=bucket.adversaries,
        buckets={"all": bucket},
        queries=48,
        queries_to_decide=None,
        detectable=0.594,
        detect_target=0.2,
        underpowered=True,
        queries_for_power=1225,
        prompts=24,
    )


def _outputs(verdict, outcome="passed"):
    from pytest_bbi.report import format_verdict

    entry = {
        "nodeid": "t.py::aa",
        "outcome": outcome,
        "verdicts": [verdict.to_dict()],
        "fingerprints": [],
    }
    document = build_report([entry], seed=0, plugin_version="0.1.0")
    _validator().validate(document)
    return {
        "message": format_verdict(verdict, "teacher", "student"),
        "terminal": "\n".join(summary_table([entry])),
        "json": json.dumps(document, ensure_ascii=False),
        "html": render_html(document),
    }


def test_an_under_powered_pass_says_so_with_the_queries_it_would_need_everywhere():
    outputs = _outputs(_underpowered_pass())
    for name, text in outputs.items():
        assert "0.594" in text, name
        assert not re.search(r"(?<!assert_)indistinguishable", text), name
    for name in ("message", "terminal", "html"):
        assert "under-powered" in outputs[name], name
        assert "1225 queries would detect 0.2" in outputs[name], name
    assert "undetected over the 24 prompts given, each weighted equally" in outputs["terminal"]
    assert outputs["message"].startswith("no adversary detected student 'student'")
    assert "population: the 24 prompts given" in outputs["message"]
    assert '<span class="decision decision-undetected">undetected</span>' in outputs["html"]
    document = json.loads(outputs["json"])
    verdict = document["tests"][0]["verdicts"][0]
    assert (verdict["detectable"], verdict["underpowered"], verdict["queries_for_power"]) == (
        0.594,
        True,
        1225,
    )


def test_a_well_powered_pass_and_a_traffic_population_read_as_such():
    verdict = dataclasses.replace(
        _underpowered_pass(),
        detectable=0.18,
        underpowered=False,
        queries_for_power=None,
        population="traffic",
        prompts=2400,
    )
    outputs = _outputs(verdict)
    for name in ("message", "terminal", "html"):
        assert "under-powered" not in outputs[name], name
        assert "0.180" in outputs[name], name
    assert "the traffic the 2400 prompts given were sampled from" in outputs["terminal"]
    assert "population: the traffic the 2400 prompts given" in outputs["message"]


def test_cell_words_are_the_one_vocabulary():
    from pytest_bbi.verdict import cell_status

    assert cell_status(timed_out=True, rejected=True, within=False) == "timed out"
    assert cell_status(timed_out=False, rejected=True, within=False) == "distinguishable"
    assert cell_status(timed_out=False, rejected=False, within=True) == "within ε"
    assert cell_status(timed_out=False, rejected=False, within=False) == "undetected"
    schema = json.dumps(report_schema(), ensure_ascii=False)
    assert not re.search(r"(?<!assert_)indistinguishable", schema)


@pytest.mark.parametrize("sequential", [False, True], ids=["fixed-n", "sequential"])
def test_an_a_a_pass_prints_what_it_could_detect_in_all_four_outputs(sequential):
    """Issue 15, must-show 7, through the real game: one adversary, ε = 0.1, the student the
    teacher itself. At 48 queries the pass could only have detected an advantage of about 0.6
    (under-powered), at 2000 one below 0.2."""
    from engine_scenarios import TEACHER, TicAdversary
    from scripted import PROMPTS

    import pytest_bbi as bbi

    def played(queries):
        budget = bbi.Budget(queries=queries, adversaries=[TicAdversary()], sequential=sequential)
        return bbi.assert_indistinguishable(
            TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.1, seed=1
        )

    small, large = played(48), played(2000)
    assert (small.decision, large.decision) == ("undetected", "undetected")
    assert small.detectable >= 0.4
    assert small.underpowered
    assert large.detectable <= 0.2
    assert not large.underpowered
    for verdict in (small, large):
        outputs = _outputs(verdict)
        for name in ("message", "terminal", "html"):
            assert f"detectable advantage {verdict.detectable:.3f}" in outputs[name].replace(
                "detectable advantage: ", "detectable advantage "
            ), name
        document = json.loads(outputs["json"])
        assert document["tests"][0]["verdicts"][0]["detectable"] == verdict.detectable
        for name, text in outputs.items():
            assert not re.search(r"(?<!assert_)indistinguishable", text), name


# -- names on every row, the matrix, adversaries left out -----------------------------------------


def _two_students_over_two_buckets():
    """One test, two verdicts (pruned fails on factual, distilled passes), and a fingerprint."""
    caught = _bucket(
        "factual", [_result("stylometric", 90, 100, lower=0.7, upper=0.9, rejected=True)]
    )
    passed = _bucket(
        "code",
        [
            _result(
                "stylometric",
                48,
                100,
                lower=-0.2,
                upper=0.1,
                examples=(Example("2+2?", "4", "four", 0.5, False),),
            )
        ],
    )
    pruned = dataclasses.replace(
        _distinguishable(),
        student="pruned",
        teacher="smollm2",
        buckets={"factual": caught, "code": passed},
        skipped={"likelihood": "teacher 'smollm2' cannot score completions"},
    )
    distilled = dataclasses.replace(
        _underpowered_pass(),
        student="distilled",
        teacher="smollm2",
        buckets={"factual": dataclasses.replace(passed, name="factual"), "code": passed},
        adversaries=passed.adversaries,
        skipped={"likelihood": "teacher 'smollm2' cannot score completions"},
    )
    return {
        "nodeid": "tests/test_distill.py::test_distillation_narrows_the_gap[factual]",
        "outcome": "failed",
        "verdicts": [pruned.to_dict(), distilled.to_dict()],
        "fingerprints": [FINGERPRINT],
    }


def test_every_terminal_row_names_the_teacher_the_student_and_the_bucket():
    lines = summary_table([_two_students_over_two_buckets()])
    header, rows = lines[0].split(), lines[1:7]
    assert header[:5] == ["test", "teacher", "student", "capability", "adversary"]
    assert [row.split()[1:5] for row in rows] == [
        ["smollm2", "pruned", "factual", "stylometric"],
        ["smollm2", "pruned", "code", "stylometric"],
        ["smollm2", "pruned", "factual,code", "likelihood"],
        ["smollm2", "distilled", "factual", "stylometric"],
        ["smollm2", "distilled", "code", "stylometric"],
        ["smollm2", "distilled", "factual,code", "likelihood"],
    ]
    assert all(row.rstrip().endswith("did not play") for row in (rows[2], rows[5]))
    verdict_lines = [line for line in lines[7:] if "verdict" in line or "over the" in line]
    test = "test_distill.py::test_distillation_narrows_the_gap[factual]"
    assert verdict_lines[0].startswith(
        f"{test} (student 'pruned' vs teacher 'smollm2'): distinguishable over"
    )
    assert f"{test} (student 'distilled' vs teacher 'smollm2'): undetected over" in lines[-3]
    reason = "adversary 'likelihood' did not play: teacher 'smollm2' cannot score completions"
    assert f"{test} (student 'pruned' vs teacher 'smollm2'): {reason}" in lines
    assert f"{test} (student 'distilled' vs teacher 'smollm2'): {reason}" in lines
    assert not any("verdict 1 of" in line for line in lines)


def test_verdicts_of_the_same_two_models_are_numbered():
    from pytest_bbi.report.document import verdict_labels

    same = {"teacher": "t", "student": "s"}
    assert verdict_labels([same, same, {"teacher": "t", "student": "u"}]) == [
        "student 's' vs teacher 't', verdict 1 of 3",
        "student 's' vs teacher 't', verdict 2 of 3",
        "student 'u' vs teacher 't'",
    ]
    assert verdict_labels([{"teacher": None, "student": None}]) == [
        "student 'unnamed' vs teacher 'unnamed'"
    ]


def test_html_opens_with_a_students_by_buckets_matrix_coloured_by_advantage():
    from pytest_bbi.report.html import advantage_colour

    page = render_html(
        build_report([_two_students_over_two_buckets()], seed=0, plugin_version="0.1.0")
    )
    matrix = re.search(r'<table class="matrix">.*?</table>', page, flags=re.DOTALL).group()
    assert page.index('class="matrix"') < page.index('id="summary"') < page.index("<section")
    assert re.findall(r'<th scope="col">(.*?)</th>', matrix) == ["factual", "code"]
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", matrix, flags=re.DOTALL)
    assert [row.split("<br>")[0] for row in rows] == [
        "student &#x27;pruned&#x27;",
        "student &#x27;distilled&#x27;",
    ]
    assert all("vs teacher &#x27;smollm2&#x27;" in row for row in rows)
    cells = dict(
        ((student, bucket), colour)
        for colour, student, bucket in re.findall(
            r'style="background:(#[0-9a-f]{6})" data-student="([^"]+)" data-bucket="([^"]+)"',
            matrix,
        )
    )
    assert cells["pruned", "factual"] == advantage_colour(0.8) != advantage_colour(0.0)
    assert cells["distilled", "code"] == advantage_colour(-0.04) == "#ffffff"
    assert matrix.count('class="cell failing"') == 1
    assert advantage_colour(1.0) == "#e06666"
    assert advantage_colour(2.0) == advantage_colour(1.0)


def test_html_names_the_models_on_every_summary_row_and_each_verdict():
    page = render_html(
        build_report([_two_students_over_two_buckets()], seed=0, plugin_version="0.1.0")
    )
    start = page.index('<table id="summary">')
    summary = page[start : page.index("</table>", start)]
    rows = re.findall(r"<tr><td>.*?</tr>", summary)
    assert len(rows) == 3
    assert "model fingerprint of model &#x27;tiny-student&#x27;: 2 fields over style" in rows[0]
    assert "<td>tiny-student</td>" in rows[0]
    assert "<td>smollm2</td><td>pruned</td><td>factual, code</td>" in rows[1]
    assert "<td>smollm2</td><td>distilled</td><td>factual, code</td>" in rows[2]
    assert "no verdict" not in page
    headings = re.findall(r'<h3 class="pair">(.*?)</h3>', page)
    assert headings == [
        "student &#x27;pruned&#x27; vs teacher &#x27;smollm2&#x27;",
        "student &#x27;distilled&#x27; vs teacher &#x27;smollm2&#x27;",
    ]


def test_html_lists_every_skipped_adversary_with_its_reason():
    page = render_html(
        build_report([_two_students_over_two_buckets()], seed=0, plugin_version="0.1.0")
    )
    listed = re.search(r'<ul class="skipped">.*?</ul>', page, flags=re.DOTALL).group()
    reason = "adversary &#x27;likelihood&#x27; did not play: teacher &#x27;smollm2&#x27; cannot"
    assert listed.count(reason) == 2
    assert "(student &#x27;pruned&#x27; vs teacher &#x27;smollm2&#x27;)" in listed
    assert "(student &#x27;distilled&#x27; vs teacher &#x27;smollm2&#x27;)" in listed
    assert page.count(f'<p class="skipped">{reason}') == 2  # and in each verdict's details


def test_a_pass_folds_its_pairs_and_says_they_are_not_evidence():
    page = render_html(
        build_report([_two_students_over_two_buckets()], seed=0, plugin_version="0.1.0")
    )
    sections = page.split('<h3 class="pair">')
    failing, passing = sections[1], sections[2]
    assert "<h4>Most distinguishing pairs</h4>" in failing
    assert "<details" not in failing
    assert '<details class="pairs-of-a-pass">' in passing
    assert "not evidence: this verdict passed" in passing
    assert "took the student for the teacher: wrong" in passing
    assert "Most distinguishing pairs" not in passing


def test_every_plot_axis_is_labelled():
    page = render_html(
        build_report([_two_students_over_two_buckets()], seed=0, plugin_version="0.1.0")
    )
    plot = re.search(r'<svg class="advantage-plot".*?</svg>', page, flags=re.DOTALL).group()
    titles = re.findall(r'<text class="axis-title"[^>]*>(.*?)</text>', plot)
    assert titles == [
        "advantage (0 = a coin flip)",
        "capability bucket (one whisker per adversary)",
    ]
    from pytest_bbi.report.plots import calibration_plot

    calibration = {
        "target": 0.9,
        "bins": [
            {"low": -2.0, "high": -1.0, "samples": 4, "agreeing": 1, "agreement": 0.25},
            {"low": -1.0, "high": -0.1, "samples": 4, "agreeing": 4, "agreement": 1.0},
        ],
    }
    svg = calibration_plot([("factual", calibration)])
    assert re.findall(r'<text class="axis-title"[^>]*>(.*?)</text>', svg) == [
        "student confidence (mean token log-probability)",
        "agreement with the teacher",
    ]


def test_the_schema_asks_version_3_verdicts_for_their_models_and_still_reads_version_2():
    document = build_report([_two_students_over_two_buckets()], seed=0, plugin_version="0.1.0")
    _validator().validate(document)
    anonymous = _broken(document, lambda r: r["tests"][0]["verdicts"][0].pop("student"))
    assert not _validator().is_valid(anonymous)
    version_2 = _broken(anonymous, lambda r: r.update(version=2))
    for verdict in version_2["tests"][0]["verdicts"]:
        verdict.pop("teacher")
        verdict.pop("student", None)
    _without_keys(version_2, {"fits_accuracy", "fits_pair_sd"})  # new in version 3 too
    _validator().validate(version_2)
    without_fit_means = _broken(document, lambda r: _without_keys(r, {"fits_accuracy"}))
    assert not _validator().is_valid(without_fit_means)


def _without_keys(value, keys):
    if isinstance(value, dict):
        for key in keys & value.keys():
            del value[key]
        for item in value.values():
            _without_keys(item, keys)
    elif isinstance(value, list):
        for item in value:
            _without_keys(item, keys)
