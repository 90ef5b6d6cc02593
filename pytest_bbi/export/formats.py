"""The names and version of the export formats pytest-bbi writes and reads back."""

from __future__ import annotations

EXPORT_FORMAT = "pytest-bbi/export"
"""The ``format`` of every ``manifest.json``."""

EXPORT_VERSION = 1
"""The version of the manifest and of the JSONL formats this pytest-bbi writes."""

PAIRS_FORMAT = "pytest-bbi/preference-pairs"
"""The ``format`` of ``pairs.jsonl`` (with ``pairs_meta.jsonl``) in a manifest."""

TARGETS_FORMAT = "pytest-bbi/targets"
"""The ``format`` of ``targets.jsonl`` in a manifest."""

INDEX_FORMAT = "pytest-bbi/export-index"
"""The ``format`` of the session's ``index.json`` (see :func:`pytest_bbi.export.write_index`)."""
