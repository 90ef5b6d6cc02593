"""The session's ledger of verdicts and fingerprints, and the summary and reports made from it.

What a test records travels from an xdist worker to the controller as ASCII JSON text (see
:func:`transportable`), so any Python ``str`` in it, lone surrogates included, survives the trip
(execnet refuses text that is not valid Unicode) and reads back unchanged on the controller.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from pytest_bbi._version import __version__
from pytest_bbi.plugin import settings
from pytest_bbi.plugin.exports import record_export
from pytest_bbi.text import encodable

VERDICT_PROPERTY = "bbi_verdict"
"""The ``user_properties`` name under which a test's verdicts travel to the controller."""

FINGERPRINT_PROPERTY = "bbi_fingerprint"
"""The ``user_properties`` name under which a test's fingerprints travel to the controller."""


def transportable(data: Any) -> str:
    r"""``data`` as JSON text made of ASCII only, which every transport and file carries.

    Non-ASCII characters become JSON ``\uXXXX`` escapes, a lone surrogate included, so
    ``json.loads`` gives back equal data. This is also the value of the ``bbi_verdict`` and
    ``bbi_fingerprint`` properties in ``--junitxml``.
    """
    return json.dumps(data, ensure_ascii=True, sort_keys=True)


def recorders(item: pytest.Item) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """Functions that record a verdict and a fingerprint on the running test's report.

    They go through ``user_properties``, which xdist sends from the worker to the controller,
    as :func:`transportable` text.
    """

    def record(verdict: Any) -> None:
        item.user_properties.append((VERDICT_PROPERTY, transportable(verdict.to_dict())))
        record_export(item, verdict)

    def record_fingerprint(document: Any) -> None:
        data = json.loads(document.to_json())
        item.user_properties.append((FINGERPRINT_PROPERTY, transportable(data)))

    return record, record_fingerprint


def _recorded(report: pytest.TestReport, name: str) -> list[Any]:
    """The values a test recorded under the property ``name``, decoded."""
    return [json.loads(str(value)) for key, value in report.user_properties if key == name]


class Ledger:
    """Collects the recorded verdicts and fingerprints; writes the summary and the reports.

    Registered as a plugin in every process; under xdist only the controller sees the reports
    of every test, and only it writes.
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.session: pytest.Session | None = None

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Keep the session, whose exit status a warning turned into an error sets."""
        self.session = session

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the verdicts and fingerprints of each finished test call."""
        if report.when != "call":
            return
        verdicts = _recorded(report, VERDICT_PROPERTY)
        fingerprints = _recorded(report, FINGERPRINT_PROPERTY)
        if verdicts or fingerprints:
            self.entries.append(
                {
                    "nodeid": report.nodeid,
                    "outcome": report.outcome,
                    "verdicts": verdicts,
                    "fingerprints": fingerprints,
                }
            )

    def _warn_skipped(self, terminalreporter: Any) -> None:
        """One warning per adversary (and reason) that did not play, for the whole session.

        Raised from the controller's summary, so pytest lists it once in its warnings summary
        however many tests, verdicts and xdist workers met it. A warnings filter that turns
        ``BbiWarning`` into an error (``-W error``) fails the session with the message instead.
        """
        from pytest_bbi.errors import BbiWarning

        tests: dict[tuple[str, str], list[str]] = {}
        for entry in sorted(self.entries, key=lambda entry: str(entry["nodeid"])):
            for verdict in entry["verdicts"]:
                for name, reason in verdict.get("skipped", {}).items():
                    tests.setdefault((str(name), str(reason)), []).append(str(entry["nodeid"]))
        for (name, reason), nodeids in tests.items():
            unique = list(dict.fromkeys(nodeids))
            shown = ", ".join(unique[:3]) + (
                f" and {len(unique) - 3} more" if len(unique) > 3 else ""
            )
            plural = "s" if len(nodeids) != 1 else ""
            message = encodable(
                f"adversary {name!r} did not play in {len(nodeids)} verdict{plural} "
                f"({shown}): {reason}; the verdicts were decided without it."
            )
            try:
                warnings.warn_explicit(
                    message,
                    BbiWarning,
                    filename="pytest-bbi",  # not a line of code: the session's verdicts
                    lineno=0,
                    module="pytest_bbi",
                )
            except BbiWarning:
                terminalreporter.write_line(f"bbi: error (BbiWarning): {message}", red=True)
                if self.session is not None:
                    self.session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        """Print the capability × adversary table once, and write the JSON and HTML reports."""
        if hasattr(config, "workerinput"):
            return
        from pytest_bbi import report

        seed = settings.get(config).seed
        self._warn_skipped(terminalreporter)
        if self.entries:
            terminalreporter.write_sep("=", f"bbi: behavioral verdicts (seed={seed})")
            for line in report.summary_table(self.entries):
                terminalreporter.write_line(encodable(line))
            calibration = report.calibration_lines(self.entries)
            if calibration:
                terminalreporter.write_sep(
                    "-", "bbi: student calibration (fall back to the teacher)"
                )
                for line in calibration:
                    terminalreporter.write_line(encodable(line))
        document = report.build_report(self.entries, seed=seed, plugin_version=__version__)
        renderers: tuple[tuple[Any, Callable[[], str]], ...] = (
            (
                settings.get(config).report,
                lambda: json.dumps(document, indent=2, sort_keys=True) + "\n",
            ),
            (settings.get(config).html, lambda: report.render_html(document)),
        )
        for target, render in renderers:
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(render(), encoding="utf-8")
                terminalreporter.write_line(encodable(f"bbi: wrote {target}"))
