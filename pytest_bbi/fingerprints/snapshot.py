"""The syrupy extension behind ``bbi_snapshot``: fingerprints compared by statistics, not text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

from pytest_bbi.errors import BbiError, FingerprintError
from pytest_bbi.fingerprints.compare import compare
from pytest_bbi.fingerprints.document import Fingerprint

SNAPSHOT_ALPHA = 0.05
"""The family-wise error rate of a snapshot comparison (Holm across fields)."""


class FingerprintSnapshotExtension(JSONSnapshotExtension):
    """Stores a :class:`~pytest_bbi.fingerprints.Fingerprint` as canonical JSON and compares it.

    Two fingerprints match when no field differs significantly after Holm's correction at
    ``SNAPSHOT_ALPHA``, so sampling noise (another seed, the same model) passes and a real change
    fails. Metadata never takes part. The failure shows a per-bucket diff (old → new, the test,
    the adjusted p-value); a malformed or hand-edited snapshot fails with a message naming its
    file. Snapshots are written only under ``--snapshot-update``, as with any syrupy extension.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sources: dict[str, str] = {}

    def serialize(self, data: Any, **_: Any) -> str:
        """Return the fingerprint's canonical JSON.

        Raises:
            BbiError: when ``data`` is not a fingerprint.
        """
        if not isinstance(data, Fingerprint):
            raise BbiError(
                f"bbi_snapshot compares fingerprints, got {type(data).__name__}; use "
                "`assert bbi.fingerprint(model, prompts, budget=...) == bbi_snapshot` (or "
                "`verdict.fingerprint`), or syrupy's plain `snapshot` fixture for other data."
            )
        return data.to_json()

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> Any:
        """Read the stored text, remembering which file it came from for error messages."""
        data = super().read_snapshot_data_from_location(
            snapshot_location=snapshot_location,
            snapshot_name=snapshot_name,
            session_id=session_id,
        )
        if isinstance(data, str):
            self._sources[data] = snapshot_location
        return data

    def _parse(self, text: str, source: str) -> Fingerprint:
        return Fingerprint.from_json(text, source=source)

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        """Whether the new fingerprint is statistically indistinguishable from the stored one."""
        try:
            stored = self._parse(str(snapshot_data), self._sources.get(str(snapshot_data), ""))
        except FingerprintError:
            return False
        new = self._parse(str(serialized_data), "the new fingerprint")
        return compare(stored, new, alpha=SNAPSHOT_ALPHA).equal

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        """The per-bucket statistical diff, or what is wrong with a malformed snapshot."""
        if not snapshot_data and str(snapshot_data) not in self._sources:
            return  # no file: syrupy says the snapshot does not exist
        source = self._sources.get(str(snapshot_data), "the stored snapshot")
        try:
            stored = self._parse(str(snapshot_data), source)
        except FingerprintError as error:
            yield f"{error}"
            yield "fix the file by hand, or rewrite it with --snapshot-update"
            return
        new = self._parse(str(serialized_data), "the new fingerprint")
        yield f"fingerprint differs from {source} (Holm-corrected, α={SNAPSHOT_ALPHA:g}):"
        yield from compare(stored, new, alpha=SNAPSHOT_ALPHA).report().splitlines()
