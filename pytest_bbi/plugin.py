"""The ``pytest11`` entry point: options, ini keys, the marker, fixtures and the run seed.

Hooks only; the engine lives in the rest of the package and is imported lazily, so this module
never imports torch, transformers or sentence-transformers.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_bbi import context
from pytest_bbi.buckets import (
    DEFAULT_BUCKETS,
    UnknownBucketError,
    check_bucket,
    registered_capabilities,
)
from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.base import Model
from pytest_bbi.models.registry import describe_endpoint, parse_spec

if TYPE_CHECKING:
    from pytest_bbi.cache import GenerationCache

SEED_KEY = pytest.StashKey[int]()
BUCKETS_KEY = pytest.StashKey[tuple[str, ...]]()
OVERRIDES_KEY = pytest.StashKey[tuple[dict[str, float], dict[str, float]]]()
ENTRIES_KEY = pytest.StashKey[list[dict[str, Any]]]()
VERDICT_PROPERTY = "bbi_verdict"
FINGERPRINT_PROPERTY = "bbi_fingerprint"
DEVICE_KEY = pytest.StashKey[str]()
TERMINAL_FD_KEY = pytest.StashKey[int]()
WATCHER_KEY = pytest.StashKey[Any]()
ROLES = ("teacher", "student", "judge")
_SEED_LIMIT = 2**32


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--bbi-*`` options and ``bbi_*`` ini keys."""
    group = parser.getgroup("bbi", "behavioral indistinguishability (pytest-bbi)")
    group.addoption(
        "--bbi-seed",
        dest="bbi_seed",
        default=None,
        metavar="SEED",
        help="run seed fixing every draw (an int, or 'random'); default: ini bbi_seed, else 0.",
    )
    for role in ROLES:
        group.addoption(
            f"--bbi-{role}",
            dest=f"bbi_{role}",
            default=None,
            metavar="SPEC",
            help=f"model spec of the `{role}` fixture, e.g. hf:path/to/dir or python:mod:factory.",
        )
        parser.addini(f"bbi_{role}", f"model spec of the `{role}` fixture.", default="")
        parser.addini(
            f"bbi_{role}_options",
            f"backend options of the `{role}` fixture, one KEY=VALUE per line "
            "(e.g. temperature=0.7, max_new_tokens=64).",
            type="linelist",
            default=[],
        )
    group.addoption(
        "--bbi-device",
        dest="bbi_device",
        default=None,
        metavar="DEVICE",
        help="torch device of hf: models: cpu, cuda (round-robin over GPUs by xdist worker), "
        "cuda:1, ...; default: ini bbi_device, else cuda when visible, else cpu.",
    )
    parser.addini("bbi_device", "torch device of hf: models (see --bbi-device).", default="")
    group.addoption(
        "--bbi-capability",
        dest="bbi_capability",
        action="append",
        default=[],
        metavar="NAME",
        help="run only tests marked with this capability (repeatable).",
    )
    group.addoption(
        "--bbi-report",
        dest="bbi_report",
        default=None,
        metavar="PATH.json",
        help="write every verdict and fingerprint of the session as schema-versioned JSON.",
    )
    group.addoption(
        "--bbi-html",
        dest="bbi_html",
        default=None,
        metavar="PATH.html",
        help="write a self-contained HTML report with plots of advantage by capability.",
    )
    group.addoption(
        "--bbi-cache-dir",
        dest="bbi_cache_dir",
        default=None,
        metavar="DIR",
        help="generation cache shared by all workers (default: <rootdir>/.bbi_cache).",
    )
    group.addoption(
        "--bbi-no-cache",
        dest="bbi_no_cache",
        action="store_true",
        help="generate every completion afresh; read and write no cache.",
    )
    group.addoption(
        "--bbi-cache-clear",
        dest="bbi_cache_clear",
        action="store_true",
        help="empty the generation cache at the start of the session.",
    )
    parser.addini("bbi_seed", "run seed (an int, or 'random'); default 0.", default="0")
    parser.addini(
        "bbi_bucket_epsilon",
        "per-bucket ε overrides, one BUCKET=VALUE per line (e.g. style=0.2).",
        type="linelist",
        default=[],
    )
    parser.addini(
        "bbi_bucket_alpha",
        "per-bucket α overrides, one BUCKET=VALUE per line (e.g. safety=0.01).",
        type="linelist",
        default=[],
    )
    parser.addini(
        "bbi_capabilities",
        "extra capability bucket names, one per line, added to the default taxonomy.",
        type="linelist",
        default=[],
    )


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


def _model_spec(config: pytest.Config, role: str) -> str:
    option: str | None = config.getoption(f"bbi_{role}")
    ini: str = config.getini(f"bbi_{role}")
    return (option or ini).strip()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, settle the run seed and the taxonomy, and validate model specs."""
    config.addinivalue_line(
        "markers",
        "capability(name): the capability bucket this behavioral test covers "
        f"(one of {', '.join(DEFAULT_BUCKETS)}, or a name from ini bbi_capabilities).",
    )
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and "bbi_seed" in workerinput:
        seed = int(workerinput["bbi_seed"])
    else:
        seed = _parse_seed(config.getoption("bbi_seed") or config.getini("bbi_seed"))
    config.stash[SEED_KEY] = seed
    config.stash[ENTRIES_KEY] = []
    config.pluginmanager.register(_Ledger(config.stash[ENTRIES_KEY]), "bbi-ledger")
    extra: list[str] = config.getini("bbi_capabilities")
    buckets = tuple(dict.fromkeys([*DEFAULT_BUCKETS, *extra, *registered_capabilities()]))
    config.stash[BUCKETS_KEY] = buckets
    config.stash[OVERRIDES_KEY] = (
        _overrides(config, "bbi_bucket_epsilon", buckets, lambda value: 0 <= value < 1, "[0, 1)"),
        _overrides(config, "bbi_bucket_alpha", buckets, lambda value: 0 < value < 1, "(0, 1)"),
    )
    for name in config.getoption("bbi_capability"):
        try:
            check_bucket(name, buckets)
        except UnknownBucketError as error:
            raise pytest.UsageError(f"--bbi-capability: {error}") from None
    for role in ROLES:
        _model_options(config, role)
        spec = _model_spec(config, role)
        if spec:
            try:
                parse_spec(spec)
            except ModelSpecError as error:
                raise pytest.UsageError(f"--bbi-{role} / bbi_{role}: {error}") from None
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSeed(), "bbi-xdist-seed")
    config.stash[DEVICE_KEY] = (
        config.getoption("bbi_device") or config.getini("bbi_device")
    ).strip()
    if workerinput is None and config.getoption("bbi_cache_clear"):
        from pytest_bbi.cache import GenerationCache

        with GenerationCache(_cache_dir(config)) as cache:
            cache.clear()


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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """Cap ``-n auto`` at the visible GPUs when fixtures load in-process models onto GPUs.

    Each xdist worker loads its own copy of an in-process (``hf:`` or ``python:``) model; more
    workers than GPUs would stack copies on one device. Without GPUs, on ``cpu``, or with only
    served models (``openai:``, ``vllm:``), xdist's own choice stands.
    """
    device = (config.getoption("bbi_device") or config.getini("bbi_device")).strip()
    in_process = any(
        _model_spec(config, role).partition(":")[0] in ("hf", "python") for role in ROLES
    )
    if not in_process or device == "cpu":
        return None
    from pytest_bbi.devices import visible_gpu_count

    gpus = visible_gpu_count()
    if gpus == 0:
        return None
    return max(1, min(gpus, os.cpu_count() or 1))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    """Keep a handle on the terminal before output capturing starts, for progress lines."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        early_config.stash[TERMINAL_FD_KEY] = os.dup(sys.stdout.fileno())
    return (yield)


def _watch_progress(config: pytest.Config) -> None:
    """In the controller or serial process, print other processes' generation progress."""
    terminal = config.stash.get(TERMINAL_FD_KEY, None)
    if terminal is None or hasattr(config, "workerinput") or config.getoption("bbi_no_cache"):
        return
    from pytest_bbi.progress import ProgressWatcher

    def write_line(line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(terminal, f"\n{line}\n".encode(errors="replace"))

    watcher = ProgressWatcher(_cache_dir(config) / "progress", write_line)
    watcher.start()
    config.stash[WATCHER_KEY] = watcher


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the progress watcher; under xdist, start the fixtures' ``vllm:`` servers once.

    The workers attach to them; the controller, which finishes last, stops them in
    :func:`pytest_unconfigure`.
    """
    config = session.config
    if config.option.collectonly:
        return
    _watch_progress(config)
    if not config.pluginmanager.hasplugin("dsession"):
        return
    for role in ROLES:
        scheme, _, target = _model_spec(config, role).partition(":")
        if scheme != "vllm":
            continue
        from pytest_bbi.models.vllm_server import ManagedServer, server_config, split_options

        server_options, _ = split_options(_model_options(config, role))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"bbi: starting the vLLM server for the {role} ({target})")
        try:
            ManagedServer(server_config(target, **server_options)).acquire()
        except (BackendError, ModelSpecError, TypeError) as error:
            raise pytest.UsageError(f"--bbi-{role} / bbi_{role}: {error}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the progress watcher; let go of managed servers (the last user stops a server)."""
    watcher = config.stash.get(WATCHER_KEY, None)
    if watcher is not None:
        watcher.stop()
    terminal = config.stash.get(TERMINAL_FD_KEY, None)
    if terminal is not None:
        with contextlib.suppress(OSError):
            os.close(terminal)
    servers = sys.modules.get("pytest_bbi.models.vllm_server")
    if servers is not None:
        servers.release_all()


class _XdistSeed:
    """Sends the controller's run seed to every xdist worker."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["bbi_seed"] = node.config.stash[SEED_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Print the run seed (replay with ``--bbi-seed``) and where served models get prompts."""
    specs = {role: _model_spec(config, role) for role in ROLES}
    endpoints = {role: describe_endpoint(spec) for role, spec in specs.items() if spec}
    return [f"bbi: seed={config.stash[SEED_KEY]}"] + [
        f"bbi: {role} {specs[role]} sends prompts to {endpoint}"
        for role, endpoint in endpoints.items()
        if endpoint
    ]


def _capability(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("capability")
    if marker is None:
        return None
    buckets = item.config.stash[BUCKETS_KEY]
    if len(marker.args) != 1 or marker.kwargs:
        raise pytest.UsageError(
            f"{item.nodeid}: use @pytest.mark.capability(NAME) with exactly one bucket name; "
            f"valid names: {', '.join(sorted(buckets))}."
        )
    try:
        return check_bucket(marker.args[0], buckets)
    except UnknownBucketError as error:
        raise pytest.UsageError(f"{item.nodeid}: {error}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate every ``capability`` marker, and keep only ``--bbi-capability`` tests if given."""
    selected: list[str] = config.getoption("bbi_capability")
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        capability = _capability(item)
        (kept if not selected or capability in selected else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Publish the run seed and capability to assertions made inside the test."""

    def record(verdict: Any) -> None:
        item.user_properties.append((VERDICT_PROPERTY, verdict.to_dict()))

    def record_fingerprint(document: Any) -> None:
        item.user_properties.append((FINGERPRINT_PROPERTY, json.loads(document.to_json())))

    request = getattr(item, "_request", None)
    judge_loader = (
        (lambda: request.getfixturevalue("judge"))
        if request is not None and _model_spec(item.config, "judge")
        else None
    )
    restore = context.activate(
        context.TestContext(
            seed=item.config.stash[SEED_KEY],
            capability=_capability(item),
            buckets=item.config.stash[BUCKETS_KEY],
            bucket_epsilon=item.config.stash[OVERRIDES_KEY][0],
            bucket_alpha=item.config.stash[OVERRIDES_KEY][1],
            record=record,
            record_fingerprint=record_fingerprint,
            judge=judge_loader,
        )
    )
    try:
        return (yield)
    finally:
        restore()


class _Ledger:
    """Collects recorded verdicts and fingerprints; under xdist they arrive from the workers."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        verdicts = [value for name, value in report.user_properties if name == VERDICT_PROPERTY]
        fingerprints = [
            value for name, value in report.user_properties if name == FINGERPRINT_PROPERTY
        ]
        if verdicts or fingerprints:
            self.entries.append(
                {
                    "nodeid": report.nodeid,
                    "outcome": report.outcome,
                    "verdicts": verdicts,
                    "fingerprints": fingerprints,
                }
            )


@pytest.fixture(scope="session")
def bbi_cache(pytestconfig: pytest.Config) -> Generator[GenerationCache | None, None, None]:
    """This process's handle on the generation cache, or None under ``--bbi-no-cache``.

    Every xdist worker opens the same SQLite file; the controller clears it first under
    ``--bbi-cache-clear``.
    """
    if pytestconfig.getoption("bbi_no_cache"):
        yield None
        return
    from pytest_bbi.cache import GenerationCache

    cache = GenerationCache(_cache_dir(pytestconfig))
    yield cache
    cache.close()


def _cache_dir(config: pytest.Config) -> Path:
    option: str | None = config.getoption("bbi_cache_dir")
    return Path(option) if option else config.rootpath / ".bbi_cache"


def _load_role(config: pytest.Config, role: str, cache: GenerationCache | None) -> Model:
    spec = _model_spec(config, role)
    if not spec:
        pytest.fail(
            f"no {role} model configured: pass --bbi-{role}=SPEC (e.g. hf:path/to/model-dir), "
            f"set `bbi_{role}` in your ini file, or override the `{role}` fixture in conftest.py.",
            pytrace=False,
        )
    from pytest_bbi.models import load

    options = _model_options(config, role)
    device = config.stash[DEVICE_KEY]
    if device and spec.startswith("hf:"):
        options.setdefault("device", device)
    try:
        model = load(spec, **options)
    except (ModelSpecError, BackendError) as error:
        pytest.fail(f"--bbi-{role} / bbi_{role}: {error}", pytrace=False)
    except TypeError as error:
        pytest.fail(
            f"ini bbi_{role}_options {options}: the backend of {spec!r} rejected them ({error}); "
            "check the option names against its loader.",
            pytrace=False,
        )
    if cache is None:
        return model
    from pytest_bbi.cache import CachedModel
    from pytest_bbi.progress import ProgressFile

    process = os.environ.get("PYTEST_XDIST_WORKER", "main")
    progress = ProgressFile(Path(cache.path).parent / "progress", f"{process}-{os.getpid()}")
    return CachedModel(model, cache, progress=progress)


@pytest.fixture(scope="session")
def teacher(pytestconfig: pytest.Config, bbi_cache: GenerationCache | None) -> Model:
    """The reference model from ``--bbi-teacher`` / ``bbi_teacher``, behind the cache."""
    return _load_role(pytestconfig, "teacher", bbi_cache)


@pytest.fixture(scope="session")
def student(pytestconfig: pytest.Config, bbi_cache: GenerationCache | None) -> Model:
    """The model under test from ``--bbi-student`` / ``bbi_student``, behind the cache."""
    return _load_role(pytestconfig, "student", bbi_cache)


@pytest.fixture(scope="session")
def judge(pytestconfig: pytest.Config, bbi_cache: GenerationCache | None) -> Model:
    """The judge model for judge adversaries, from ``--bbi-judge`` / ``bbi_judge``."""
    return _load_role(pytestconfig, "judge", bbi_cache)


@pytest.fixture
def bbi_snapshot(snapshot: Any) -> Any:
    """Syrupy's ``snapshot``, comparing behavioral fingerprints statistically.

    ``assert fingerprint == bbi_snapshot`` fails only on a significant change (Holm across the
    fingerprint's fields); write or refresh snapshots with ``--snapshot-update``.
    """
    from pytest_bbi.snapshot import FingerprintSnapshotExtension

    return snapshot.use_extension(FingerprintSnapshotExtension)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the capability × adversary table once, and write the JSON and HTML reports."""
    if hasattr(config, "workerinput"):
        return
    from pytest_bbi import __version__, session_report

    entries = config.stash[ENTRIES_KEY]
    seed = config.stash[SEED_KEY]
    if entries:
        terminalreporter.write_sep("=", f"bbi: behavioral verdicts (seed={seed})")
        for line in session_report.summary_table(entries):
            terminalreporter.write_line(line)
        calibration = session_report.calibration_lines(entries)
        if calibration:
            terminalreporter.write_sep("-", "bbi: student calibration (fall back to the teacher)")
            for line in calibration:
                terminalreporter.write_line(line)
    report = session_report.build_report(entries, seed=seed, plugin_version=__version__)
    renderers: tuple[tuple[str, Callable[[], str]], ...] = (
        ("bbi_report", lambda: json.dumps(report, indent=2, sort_keys=True) + "\n"),
        ("bbi_html", lambda: session_report.render_html(report)),
    )
    for option, render in renderers:
        path: str | None = config.getoption(option)
        if path:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(), encoding="utf-8")
            terminalreporter.write_line(f"bbi: wrote {target}")
