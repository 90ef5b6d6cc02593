"""``--bbi-export``: each worker writes its tests' exports; the controller writes the index.

A test's verdicts are exported where they are recorded, in the worker that ran the test, into a
folder of their own (:func:`pytest_bbi.export.folder_name`), so workers never write the same
file. Each export travels to the controller as a ``bbi_export`` user property, as verdicts do
(:mod:`~pytest_bbi.plugin.ledger`), and the controller alone writes ``index.json`` once the
session ends.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_bbi.plugin import settings
from pytest_bbi.text import encodable

EXPORT_PROPERTY = "bbi_export"
"""The ``user_properties`` name under which a test's exports travel to the controller."""


def record_export(item: pytest.Item, verdict: Any) -> None:
    """Export ``verdict`` into the session's export folder, when ``--bbi-export`` names one.

    A failure to write is a warning, never a change of the test's outcome.
    """
    folder = settings.get(item.config).export
    if folder is None:
        return
    from pytest_bbi.errors import BbiWarning, ExportError
    from pytest_bbi.export import export_verdict, folder_name

    ordinal = 1 + sum(1 for key, _ in item.user_properties if key == EXPORT_PROPERTY)
    name = folder_name(item.nodeid, ordinal)
    try:
        export_verdict(verdict, folder / name, nodeid=item.nodeid)
    except ExportError as error:
        warnings.warn(f"bbi: {encodable(str(error))}", BbiWarning, stacklevel=2)
        return
    entry = {
        "nodeid": item.nodeid,
        "folder": name,
        "decision": verdict.decision,
        "passed": verdict.passed,
    }
    item.user_properties.append((EXPORT_PROPERTY, json.dumps(entry, ensure_ascii=True)))


class ExportIndex:
    """Collects every test's exports and writes ``index.json`` on the controller at the end.

    Args:
        folder: the export folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.exports: list[dict[str, Any]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the exports of each finished test call, with the test's outcome."""
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == EXPORT_PROPERTY:
                self.exports.append({**json.loads(str(value)), "outcome": report.outcome})

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        """Write the index (controller only) and say where."""
        if hasattr(config, "workerinput"):
            return
        from pytest_bbi.export import write_index

        target = write_index(self.folder, self.exports, settings.get(config).seed)
        terminalreporter.write_line(
            encodable(f"bbi: exported {len(self.exports)} verdict(s) to {target.parent}")
        )
