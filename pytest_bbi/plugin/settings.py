"""The session's settings: every ``--bbi-*`` option and ``bbi_*`` ini key, parsed once.

:func:`from_config` validates them when pytest starts (a usage error names the option and the
fix) and the plugin keeps the one frozen :class:`Settings` under :data:`SETTINGS_KEY`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_bbi.errors import ModelSpecError, UnknownBucketError
from pytest_bbi.models.registry import parse_spec
from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS, check_bucket, registered_capabilities

ROLES = ("teacher", "student", "judge")
"""The model fixtures the plugin provides."""

IN_PROCESS_SCHEMES = ("hf", "python")
"""Spec schemes whose models run inside each pytest process (one copy per xdist worker)."""

_SEED_LIMIT = 2**32


@dataclass(frozen=True)
class RoleSpec:
    """One model fixture's configuration.

    Attributes:
        role: ``"teacher"``, ``"student"`` or ``"judge"``.
        spec: the model spec (``--bbi-<role>`` or ini ``bbi_<role>``), empty when none is set.
        options: the backend options of ini ``bbi_<role>_options``, values converted.
    """

    role: str
    spec: str
    options: Mapping[str, object]

    @property
    def scheme(self) -> str:
        """The spec's scheme (``"hf"``, ``"python"``, …), empty when no spec is set."""
        return self.spec.partition(":")[0] if self.spec else ""

    @property
    def target(self) -> str:
        """The spec after its scheme."""
        return self.spec.partition(":")[2]


@dataclass(frozen=True)
class Settings:
    """Everything the session was configured with, validated.

    Attributes:
        seed: the run seed (the controller's, under xdist).
        buckets: the capability taxonomy: the defaults, ini ``bbi_capabilities`` and the
            buckets registered in code.
        bucket_epsilon: per-bucket ε overrides (ini ``bbi_bucket_epsilon``).
        bucket_alpha: per-bucket α overrides (ini ``bbi_bucket_alpha``).
        selected: the capabilities ``--bbi-capability`` keeps, empty for all.
        roles: role → its model fixture's configuration.
        device: the torch device of ``hf:`` models, empty for the default.
        cache_dir: the generation cache's folder.
        no_cache: ``--bbi-no-cache``.
        cache_clear: ``--bbi-cache-clear``.
        report: where to write the JSON report, if anywhere.
        html: where to write the HTML report, if anywhere.
        progress: when to print progress lines: ``"auto"``, ``"on"`` or ``"off"``.
    """

    seed: int
    buckets: tuple[str, ...]
    bucket_epsilon: Mapping[str, float]
    bucket_alpha: Mapping[str, float]
    selected: tuple[str, ...]
    roles: Mapping[str, RoleSpec]
    device: str
    cache_dir: Path
    no_cache: bool
    cache_clear: bool
    report: Path | None
    html: Path | None
    progress: str = "auto"


PROGRESS_CHOICES = ("auto", "on", "off")
"""The values of ``--bbi-progress`` / ``bbi_progress``."""

SETTINGS_KEY = pytest.StashKey[Settings]()
"""Where the plugin keeps the session's :class:`Settings` in ``config.stash``."""


def get(config: pytest.Config) -> Settings:
    """The session's settings (made in ``pytest_configure``)."""
    return config.stash[SETTINGS_KEY]


def model_spec(config: pytest.Config, role: str) -> str:
    """The model spec of ``role`` as configured, before validation (``--bbi-<role>`` first)."""
    option: str | None = config.getoption(f"bbi_{role}")
    ini: str = config.getini(f"bbi_{role}")
    return (option or ini).strip()


def device(config: pytest.Config) -> str:
    """The torch device as configured (``--bbi-device`` first), empty for the default."""
    value: str = config.getoption("bbi_device") or config.getini("bbi_device")
    return value.strip()


def from_config(config: pytest.Config) -> Settings:
    """Parse and validate every option and ini key of the session.

    Under xdist a worker takes the controller's run seed, so ``--bbi-seed=random`` draws once.

    Raises:
        pytest.UsageError: for a bad seed, override, capability, model spec or options line; the
            message names the option and the fix.
    """
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and "bbi_seed" in workerinput:
        seed = int(workerinput["bbi_seed"])
    else:
        seed = _parse_seed(config.getoption("bbi_seed") or config.getini("bbi_seed"))
    extra: list[str] = config.getini("bbi_capabilities")
    buckets = tuple(dict.fromkeys([*DEFAULT_BUCKETS, *extra, *registered_capabilities()]))
    bucket_epsilon = _overrides(
        config, "bbi_bucket_epsilon", buckets, lambda value: 0 <= value < 1, "[0, 1)"
    )
    bucket_alpha = _overrides(
        config, "bbi_bucket_alpha", buckets, lambda value: 0 < value < 1, "(0, 1)"
    )
    selected: list[str] = config.getoption("bbi_capability")
    for name in selected:
        try:
            check_bucket(name, buckets)
        except UnknownBucketError as error:
            raise pytest.UsageError(f"--bbi-capability: {error}") from None
    roles = {role: _role(config, role) for role in ROLES}
    cache_dir: str | None = config.getoption("bbi_cache_dir")
    report: str | None = config.getoption("bbi_report")
    html: str | None = config.getoption("bbi_html")
    return Settings(
        seed=seed,
        buckets=buckets,
        bucket_epsilon=bucket_epsilon,
        bucket_alpha=bucket_alpha,
        selected=tuple(selected),
        roles=roles,
        device=device(config),
        cache_dir=Path(cache_dir) if cache_dir else config.rootpath / ".bbi_cache",
        no_cache=bool(config.getoption("bbi_no_cache")),
        cache_clear=bool(config.getoption("bbi_cache_clear")),
        report=Path(report) if report else None,
        html=Path(html) if html else None,
        progress=_progress(config),
    )


def _progress(config: pytest.Config) -> str:
    raw: str = config.getoption("bbi_progress") or config.getini("bbi_progress")
    if raw.strip().lower() not in PROGRESS_CHOICES:
        raise pytest.UsageError(
            f"--bbi-progress / bbi_progress {raw!r}: use one of {', '.join(PROGRESS_CHOICES)}."
        )
    return raw.strip().lower()


def _parse_seed(raw: str) -> int:
    if raw.strip().lower() == "random":
        return random.SystemRandom().randrange(_SEED_LIMIT)
    try:
        seed = int(raw)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**63:
        raise pytest.UsageError(
            f"--bbi-seed / bbi_seed {raw!r}: the seed must be a non-negative integer or 'random'."
        )
    return seed


def _literal(raw: str) -> object:
    """An ini value as the int, float, bool or None it spells, else the string itself."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            continue
    return raw


def _model_options(config: pytest.Config, role: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for line in config.getini(f"bbi_{role}_options"):
        key, sep, raw = (part.strip() for part in line.partition("="))
        if not sep or not key.isidentifier():
            raise pytest.UsageError(
                f"ini bbi_{role}_options: {line!r} must read KEY=VALUE, e.g. temperature=0.7."
            )
        options[key] = _literal(raw)
    return options


def _role(config: pytest.Config, role: str) -> RoleSpec:
    options = _model_options(config, role)
    spec = model_spec(config, role)
    if spec:
        try:
            parse_spec(spec)
        except ModelSpecError as error:
            raise pytest.UsageError(f"--bbi-{role} / bbi_{role}: {error}") from None
    return RoleSpec(role=role, spec=spec, options=options)


def _overrides(
    config: pytest.Config,
    key: str,
    buckets: tuple[str, ...],
    valid: Callable[[float], bool],
    interval: str,
) -> dict[str, float]:
    overrides: dict[str, float] = {}
    for line in config.getini(key):
        bucket, sep, raw = (part.strip() for part in line.partition("="))
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not sep or not valid(value):
            raise pytest.UsageError(
                f"ini {key}: {line!r} must read BUCKET=VALUE with VALUE in {interval}, "
                "e.g. style=0.2."
            )
        try:
            overrides[check_bucket(bucket, buckets)] = value
        except UnknownBucketError as error:
            raise pytest.UsageError(f"ini {key}: {error}") from None
    return overrides
