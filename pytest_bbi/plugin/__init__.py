"""The ``pytest11`` entry point: the hooks that add options, settle the session and report.

Hooks only: the settings live in :mod:`~pytest_bbi.plugin.settings`, the fixtures in
:mod:`~pytest_bbi.plugin.fixtures`, the verdict ledger and report files in
:mod:`~pytest_bbi.plugin.ledger`. The engine is imported lazily, so this package never imports
torch, transformers or sentence-transformers.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pytest_bbi import progress
from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.registry import describe_endpoint
from pytest_bbi.plugin import fixtures, settings
from pytest_bbi.plugin.exports import ExportIndex
from pytest_bbi.plugin.ledger import Ledger
from pytest_bbi.plugin.settings import IN_PROCESS_SCHEMES, ROLES, SETTINGS_KEY
from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS

TERMINAL_FD_KEY = pytest.StashKey[int]()
WATCHER_KEY = pytest.StashKey[progress.ProgressWatcher]()
PROGRESS_DIR_KEY = pytest.StashKey[Path]()
TEMPORARY_PROGRESS_KEY = pytest.StashKey[Path]()


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
        "--bbi-export",
        dest="bbi_export",
        default=None,
        metavar="DIR",
        help="write each verdict's training exports (preference pairs, weakest buckets and "
        "prompts, reward model) into DIR, one folder per test, with an index.json.",
    )
    parser.addini("bbi_export", "folder for every verdict's training exports.", default="")
    group.addoption(
        "--bbi-progress",
        dest="bbi_progress",
        default=None,
        metavar="auto|on|off",
        help="progress lines for long phases (generation, model conversion, server start, "
        "training, Hypothesis searches): on, off, or auto (default: every 10 s at a terminal, "
        "every minute into a file or CI log).",
    )
    parser.addini(
        "bbi_progress", "progress lines for long phases: auto, on or off.", default="auto"
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


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, parse the settings once, and clear the cache if asked."""
    config.addinivalue_line(
        "markers",
        "capability(name): the capability bucket this behavioral test covers "
        f"(one of {', '.join(DEFAULT_BUCKETS)}, or a name from ini bbi_capabilities).",
    )
    config.stash[SETTINGS_KEY] = session = settings.from_config(config)
    _report_progress(config)
    config.pluginmanager.register(Ledger(), "bbi-ledger")
    if session.export is not None:
        config.pluginmanager.register(ExportIndex(session.export), "bbi-export-index")
    config.pluginmanager.register(fixtures, "bbi-fixtures")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSeed(), "bbi-xdist-seed")
    if not hasattr(config, "workerinput") and session.cache_clear:
        from pytest_bbi.generation.cache import GenerationCache

        with GenerationCache(session.cache_dir) as cache:
            cache.clear()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """Cap ``-n auto`` at the visible GPUs when fixtures load in-process models onto GPUs.

    Each xdist worker loads its own copy of an in-process (``hf:`` or ``python:``) model; more
    workers than GPUs would stack copies on one device. Without GPUs, on ``cpu``, or with only
    served models (``openai:``, ``vllm:``), xdist's own choice stands. (xdist asks before
    ``pytest_configure``, so this hook reads the options themselves.)
    """
    in_process = any(
        settings.model_spec(config, role).partition(":")[0] in IN_PROCESS_SCHEMES for role in ROLES
    )
    if not in_process or settings.device(config) == "cpu":
        return None
    from pytest_bbi.models.devices import visible_gpu_count

    gpus = visible_gpu_count()
    if gpus == 0:
        return None
    return max(1, min(gpus, os.cpu_count() or 1))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser
) -> Generator[None, None, None]:
    """Run again if a ``--bbi-*`` value moved the rootdir; keep a handle on the terminal.

    The first runs before any conftest file or test is loaded: see :func:`_run_again_joined`.
    The handle is taken before output capturing starts, for progress lines.
    """
    right = settings.misread_setup(early_config, parser)
    if right is not None:
        _run_again_joined(early_config, *right)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        early_config.stash[TERMINAL_FD_KEY] = os.dup(sys.stdout.fileno())
    return (yield)


def _run_again_joined(config: pytest.Config, rootdir: Path, inifile: Path | None) -> NoReturn:
    """Run pytest again in this process with ``--bbi-OPTION VALUE`` written as one word.

    pytest took such a value for a test path when it chose its rootdir and ini file, before it
    knew the option (see :func:`~pytest_bbi.plugin.settings.misread_setup`), and so would run
    without the project's configuration. This session has loaded no conftest file and run no
    hook of the test run yet, so it stops here, after a fresh session with the one-word
    spelling (``PYTEST_ADDOPTS`` too), which pytest reads right; it exits with that session's
    status.
    """
    args = [str(arg) for arg in config.invocation_params.args]
    fixed = settings.joined(args)
    found = f"{config.rootpath}" + (
        f" with {config.inipath}" if config.inipath else ", no ini file"
    )
    right = f"{rootdir}" + (f" with {inifile}" if inifile else ", no ini file")
    sys.stderr.write(
        f"bbi: pytest read the value of a --bbi-* option given as a separate word as a test "
        f"path while choosing its rootdir (it gave {found}; the project's is {right}); "
        f"running again as: pytest {shlex.join(fixed)}\n"
    )
    addopts = os.environ.get("PYTEST_ADDOPTS")
    if addopts is not None:
        os.environ["PYTEST_ADDOPTS"] = shlex.join(settings.joined(shlex.split(addopts)))
    for finder in [f for f in sys.meta_path if getattr(f, "config", None) is config]:
        sys.meta_path.remove(finder)  # this session's assertion rewriter; the new one has its own
    try:
        status = pytest.main(fixed, plugins=list(config.invocation_params.plugins or ()))
    finally:
        if addopts is not None:
            os.environ["PYTEST_ADDOPTS"] = addopts
    raise SystemExit(int(status))


def _cadence(config: pytest.Config) -> progress.Cadence | None:
    """When the controller prints progress lines; ``None`` when it prints none.

    ``on`` prints at a terminal's pace; ``auto`` too when the output is a terminal, and at a
    log's pace when it is not (a file, a pipe, a CI log).
    """
    terminal = config.stash.get(TERMINAL_FD_KEY, None)
    mode = settings.get(config).progress
    if terminal is None or mode == "off":
        return None
    if mode == "on" or os.isatty(terminal):
        return progress.TERMINAL
    return progress.LOG


def _report_progress(config: pytest.Config) -> None:
    """Point this process's phases at the session's progress folder, when progress is on.

    The controller (or the only process) chooses the folder: inside the cache folder, or a
    temporary one under ``--bbi-no-cache``; xdist workers get it in their ``workerinput``.
    """
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        folder = workerinput.get("bbi_progress_dir")
        worker = str(workerinput.get("workerid", "worker"))
        progress.configure(Path(folder) if folder else None, worker)
        return
    if config.option.collectonly or _cadence(config) is None:
        return
    session = settings.get(config)
    if session.no_cache:
        folder = config.stash[TEMPORARY_PROGRESS_KEY] = Path(tempfile.mkdtemp(prefix="bbi-"))
    else:
        folder = session.cache_dir / "progress"
    config.stash[PROGRESS_DIR_KEY] = folder
    progress.configure(folder)


def _watch_progress(config: pytest.Config) -> None:
    """In the controller or serial process, print the phases' progress lines."""
    folder = config.stash.get(PROGRESS_DIR_KEY, None)
    cadence = _cadence(config)
    terminal = config.stash.get(TERMINAL_FD_KEY, None)
    if folder is None or cadence is None or terminal is None:
        return

    def write_line(line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(terminal, f"\n{line}\n".encode(errors="replace"))

    watcher = progress.ProgressWatcher(folder, write_line, cadence)
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
    for role in settings.get(config).roles.values():
        if role.scheme != "vllm":
            continue
        from pytest_bbi.models.vllm_server import ManagedServer, server_config, split_options

        server_options, _ = split_options(dict(role.options))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"bbi: starting the vLLM server for the {role.role} ({role.target})"
            )
        try:
            ManagedServer(server_config(role.target, **server_options)).acquire()
        except (BackendError, ModelSpecError, TypeError) as error:
            raise pytest.UsageError(f"--bbi-{role.role} / bbi_{role.role}: {error}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the progress watcher; let go of managed servers (the last user stops a server)."""
    watcher = config.stash.get(WATCHER_KEY, None)
    if watcher is not None:
        watcher.stop()
    progress.configure(None)
    temporary = config.stash.get(TEMPORARY_PROGRESS_KEY, None)
    if temporary is not None:
        shutil.rmtree(temporary, ignore_errors=True)
    terminal = config.stash.get(TERMINAL_FD_KEY, None)
    if terminal is not None:
        with contextlib.suppress(OSError):
            os.close(terminal)
    servers = sys.modules.get("pytest_bbi.models.vllm_server")
    if servers is not None:
        servers.release_all()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """End the progress line of the test's ``assert_agree`` search, if it made one."""
    agreement = sys.modules.get("pytest_bbi.agreement")
    if agreement is not None:
        agreement.end_search()


class _XdistSeed:
    """Sends the controller's run seed and progress folder to every xdist worker."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["bbi_seed"] = settings.get(node.config).seed
        folder = node.config.stash.get(PROGRESS_DIR_KEY, None)
        node.workerinput["bbi_progress_dir"] = str(folder) if folder is not None else ""


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Print the run seed (replay with ``--bbi-seed``) and where served models get prompts."""
    session = settings.get(config)
    endpoints = {
        role: describe_endpoint(role_spec.spec)
        for role, role_spec in session.roles.items()
        if role_spec.spec
    }
    return [f"bbi: seed={session.seed}"] + [
        f"bbi: {role} {session.roles[role].spec} sends prompts to {endpoint}"
        for role, endpoint in endpoints.items()
        if endpoint
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate every ``capability`` marker, and keep only ``--bbi-capability`` tests if given."""
    selected = settings.get(config).selected
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        capability = fixtures.capability(item)
        (kept if not selected or capability in selected else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
