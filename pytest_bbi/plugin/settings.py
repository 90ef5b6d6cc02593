"""The session's settings: every ``--bbi-*`` option and ``bbi_*`` ini key, parsed once.

:func:`from_config` validates them when pytest starts (a usage error names the option and the
fix) and the plugin keeps the one frozen :class:`Settings` under :data:`SETTINGS_KEY`. Relative
paths (``--bbi-cache-dir``, ``--bbi-report``, ``--bbi-html`` and ``hf:``/``vllm:`` targets) are
read from the rootdir, as pytest reads ``testpaths`` and ``cache_dir``, so a suite behaves the
same from whichever folder pytest is started.
"""

from __future__ import annotations

import inspect
import math
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_bbi.errors import BbiError, ModelSpecError, UnknownBucketError
from pytest_bbi.models.backend_options import (
    BACKEND_OPTIONS,
    LOCAL_SCHEMES,
    local_target,
    read_ini_options,
)
from pytest_bbi.models.registry import BACKENDS, parse_spec
from pytest_bbi.options import parse_seed, random_seed
from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS, check_bucket, registered_capabilities

ROLES = ("teacher", "student", "judge", "reference")
"""The model fixtures the plugin provides."""

SERVED_SCHEMES = ("openai", "vllm")
"""The built-in schemes of models served over HTTP, which cannot be the ``reference`` model."""

IN_PROCESS_SCHEMES = ("hf", "python")
"""Spec schemes whose models run inside each pytest process (one copy per xdist worker)."""


@dataclass(frozen=True)
class RoleSpec:
    """One model fixture's configuration.

    Attributes:
        role: ``"teacher"``, ``"student"``, ``"judge"`` or ``"reference"``.
        spec: the model spec (``--bbi-<role>`` or ini ``bbi_<role>``), empty when none is set;
            an ``hf:`` or ``vllm:`` target is made absolute (read from the rootdir).
        options: the backend options of ini ``bbi_<role>_options``, values converted: by the
            built-in backend's option kinds (see
            :mod:`~pytest_bbi.models.backend_options`), else by what each value spells.
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
        cache_dir: the generation cache's folder, absolute.
        no_cache: ``--bbi-no-cache``.
        cache_clear: ``--bbi-cache-clear``.
        report: where to write the JSON report, if anywhere (absolute).
        html: where to write the HTML report, if anywhere (absolute).
        progress: when to print progress lines: ``"auto"``, ``"on"`` or ``"off"``.
        export: the folder ``--bbi-export`` / ini ``bbi_export`` names for every verdict's
            training exports (absolute), if any.
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
    export: Path | None = None


PROGRESS_CHOICES = ("auto", "on", "off")
"""The values of ``--bbi-progress`` / ``bbi_progress``."""

VALUE_OPTIONS = (
    "--bbi-seed",
    "--bbi-teacher",
    "--bbi-student",
    "--bbi-judge",
    "--bbi-reference",
    "--bbi-device",
    "--bbi-capability",
    "--bbi-report",
    "--bbi-html",
    "--bbi-cache-dir",
    "--bbi-progress",
    "--bbi-export",
)
"""The options that take a value (``--bbi-report PATH`` or ``--bbi-report=PATH``)."""


def joined(args: Sequence[str]) -> list[str]:
    """``args`` with each ``--bbi-OPTION VALUE`` written as the one word ``--bbi-OPTION=VALUE``.

    Everything after ``--`` is left alone (it is positional there).
    """
    result: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            result += [token, *tokens]
        elif token in VALUE_OPTIONS:
            value = next(tokens, None)
            result.append(token if value is None else f"{token}={value}")
        else:
            result.append(token)
    return result


def misread_setup(config: pytest.Config, parser: pytest.Parser) -> tuple[Path, Path | None] | None:
    """The rootdir and ini file pytest would have found had it known the ``--bbi-*`` options.

    pytest settles its rootdir and ini file before it loads plugins, so it cannot know that
    ``--bbi-cache-dir DIR`` takes a value: it reads an existing ``DIR`` as a test path, and one
    outside the project moves the rootdir above it, where the project's ini file is not found
    (pytest issue #8846; the one-word form ``--bbi-cache-dir=DIR`` is not affected). This
    settles them again with pytest's own rules (``_pytest.config.findpaths.determine_setup``),
    now that the options are known.

    Returns:
        The right ``(rootdir, ini file)`` when a ``--bbi-*`` value given as a separate word
        changed them, else ``None`` (also when this pytest offers no such function).
    """
    addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    args = [*addopts, *map(str, config.invocation_params.args)]
    if joined(args) == args:
        return None
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:
        return None
    namespace = parser.parse_known_args(args)
    given: dict[str, Any] = {
        "inifile": namespace.inifilename,
        "override_ini": namespace.override_ini,
        "args": namespace.file_or_dir,
        "rootdir_cmd_arg": namespace.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    accepted = inspect.signature(determine_setup).parameters
    found = determine_setup(**{key: value for key, value in given.items() if key in accepted})
    rootdir, inifile = Path(found[0]), None if found[1] is None else Path(found[1])
    if (rootdir, inifile) == (config.rootpath, config.inipath):
        return None
    return rootdir, inifile


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
    Model folders are checked to exist only when tests will run (not under ``--help`` or
    ``--collect-only``, so an IDE can list the tests before the models are fetched), and the
    report paths only in the process that writes them.

    Raises:
        pytest.UsageError: for a bad seed, override, capability, model spec, option name or
            value, a missing model folder, report paths that cannot be written or are the same
            file, or ``--bbi-no-cache`` with ``--bbi-cache-clear``; the message names the option
            and the fix.
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
    runs_tests = not (config.option.help or config.option.collectonly)
    roles = {role: _role(config, role, check_paths=runs_tests) for role in ROLES}
    base = config.rootpath
    cache_dir = _path(config, "bbi_cache_dir") or base / ".bbi_cache"
    report, html = _path(config, "bbi_report"), _path(config, "bbi_html")
    no_cache = bool(config.getoption("bbi_no_cache"))
    cache_clear = bool(config.getoption("bbi_cache_clear"))
    if no_cache and cache_clear:
        raise pytest.UsageError(
            "--bbi-no-cache and --bbi-cache-clear together: --bbi-no-cache reads and writes no "
            "cache, so there is none to clear; drop one of them (--bbi-cache-clear alone "
            "empties the cache and then fills it afresh)."
        )
    if not no_cache and cache_dir.exists() and not cache_dir.is_dir():
        raise pytest.UsageError(
            f"--bbi-cache-dir {str(cache_dir)!r} is a file; name a folder for the generation "
            "cache (it is created if missing)."
        )
    export = _export(config)
    if runs_tests and workerinput is None:
        _check_reports(report, html)
        _check_export(export)
    return Settings(
        seed=seed,
        buckets=buckets,
        bucket_epsilon=bucket_epsilon,
        bucket_alpha=bucket_alpha,
        selected=tuple(selected),
        roles=roles,
        device=device(config),
        cache_dir=cache_dir,
        no_cache=no_cache,
        cache_clear=cache_clear,
        report=report,
        html=html,
        progress=_progress(config),
        export=export,
    )


def _export(config: pytest.Config) -> Path | None:
    """The export folder (``--bbi-export`` first, then ini ``bbi_export``), absolute."""
    value: str = config.getoption("bbi_export") or config.getini("bbi_export")
    if not value.strip():
        return None
    return Path(os.path.abspath(config.rootpath / Path(value.strip()).expanduser()))


def _check_export(folder: Path | None) -> None:
    """Refuse an export folder that is a file or cannot be created, at startup."""
    if folder is None:
        return
    problem = "it is a file" if folder.is_file() else _unwritable(folder / "index.json")
    if problem is not None:
        raise pytest.UsageError(
            f"--bbi-export / bbi_export {str(folder)!r} cannot be written: {problem}. Name a "
            "folder this user can write (it is created if missing; a relative path is read "
            "from the rootdir)."
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
        return random_seed()
    try:
        return parse_seed("--bbi-seed / bbi_seed", raw)
    except BbiError:
        raise pytest.UsageError(
            f"--bbi-seed / bbi_seed {raw!r}: the seed must be a non-negative integer or 'random' "
            "(integers below 2**63, as seed= takes)."
        ) from None


def _path(config: pytest.Config, option: str) -> Path | None:
    """A path option, absolute: ``~`` expanded, a relative path read from the rootdir."""
    value: str | None = config.getoption(option)
    if not value:
        return None
    return Path(os.path.abspath(config.rootpath / Path(value).expanduser()))


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written (created with its missing folders), or None if it can.

    Nothing is created: the folders are made when the report is written, at the end.
    """
    try:
        if path.is_dir():
            return "it is a folder"
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{str(folder)!r} is a file, so no folder can be made there"
        if path.exists():
            return None if os.access(path, os.W_OK) else "the file is not writable"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"the folder {str(folder)!r} is not writable"
    except OSError as error:
        return f"it cannot be checked ({error.strerror or error})"
    return None


def _check_reports(report: Path | None, html: Path | None) -> None:
    """Refuse report paths that cannot be written, or one file for both reports, at startup."""
    if report is not None and html is not None and report.resolve() == html.resolve():
        raise pytest.UsageError(
            f"--bbi-report and --bbi-html both name {str(report)!r}; the JSON and the HTML "
            "report need a file each, e.g. --bbi-report=bbi.json --bbi-html=bbi.html."
        )
    for option, path in (("--bbi-report", report), ("--bbi-html", html)):
        problem = None if path is None else _unwritable(path)
        if problem is not None:
            raise pytest.UsageError(
                f"{option} {str(path)!r} cannot be written: {problem}. The report is written "
                "when the session ends; name a file this user can write (missing folders are "
                "created then; a relative path is read from the rootdir)."
            )


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


def _option_lines(config: pytest.Config, role: str) -> dict[str, str]:
    """The role's ini options, name → the text after ``=``."""
    options: dict[str, str] = {}
    for line in config.getini(f"bbi_{role}_options"):
        key, sep, raw = (part.strip() for part in line.partition("="))
        if not sep or not key.isidentifier():
            raise pytest.UsageError(
                f"ini bbi_{role}_options: {line!r} must read KEY=VALUE, e.g. temperature=0.7."
            )
        options[key] = raw
    return options


def _role(config: pytest.Config, role: str, *, check_paths: bool) -> RoleSpec:
    """One role's spec and options, checked as far as a spec allows without loading it.

    A built-in backend (``hf:``, ``openai:``, ``vllm:``, unless a plugin registered its own
    under that scheme) has its options checked by name and kind, and an ``hf:``/``vllm:``
    target made absolute and (with ``check_paths``) checked to hold a model. A ``python:``
    factory or another backend is user code the plugin does not import when pytest starts: its
    options are checked by the factory or loader when a fixture first loads the model.
    """
    lines = _option_lines(config, role)
    spec = model_spec(config, role)
    literal = {key: _literal(raw) for key, raw in lines.items()}
    if not spec:
        return RoleSpec(role=role, spec=spec, options=literal)
    try:
        scheme, target = parse_spec(spec)
    except ModelSpecError as error:
        raise pytest.UsageError(f"--bbi-{role} / bbi_{role}: {error}") from None
    if role == "reference" and scheme in SERVED_SCHEMES and not BACKENDS.is_registered(scheme):
        raise pytest.UsageError(
            f"--bbi-reference / bbi_reference {spec!r}: the reference model scores each "
            f"completion token by token in this process, which a served {scheme}: endpoint "
            "cannot do (a chat endpoint reports log-probabilities of its own answers only); "
            "name a local causal LM: hf:path/to/model-dir (or a .gguf file), or "
            "python:module:factory returning a model with token_log_probs()."
        )
    if scheme not in BACKEND_OPTIONS or BACKENDS.is_registered(scheme):
        return RoleSpec(role=role, spec=spec, options=literal)
    try:
        options = read_ini_options(scheme, lines)
    except ModelSpecError as error:
        raise pytest.UsageError(f"ini bbi_{role}_options: {error}") from None
    if scheme in LOCAL_SCHEMES:
        base = config.rootpath
        try:
            path = local_target(scheme, target, base) if check_paths else None
        except ModelSpecError as error:
            raise pytest.UsageError(f"--bbi-{role} / bbi_{role}: {error}") from None
        absolute = path or Path(os.path.abspath(base / Path(target).expanduser()))
        spec = f"{scheme}:{absolute}"
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
