"""The plugin's fixtures: the generation cache, the three model roles, snapshots, the context."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_bbi import context
from pytest_bbi.errors import BackendError, ModelSpecError, UnknownBucketError
from pytest_bbi.models.base import Model
from pytest_bbi.plugin import settings
from pytest_bbi.plugin.ledger import recorders
from pytest_bbi.prompts.buckets import check_bucket

if TYPE_CHECKING:
    from pytest_bbi.generation.cache import GenerationCache


def capability(item: pytest.Item) -> str | None:
    """The bucket named by the item's ``capability`` marker, if any.

    Raises:
        pytest.UsageError: for a marker without exactly one known bucket name.
    """
    marker = item.get_closest_marker("capability")
    if marker is None:
        return None
    buckets = settings.get(item.config).buckets
    if len(marker.args) != 1 or marker.kwargs:
        raise pytest.UsageError(
            f"{item.nodeid}: use @pytest.mark.capability(NAME) with exactly one bucket name; "
            f"valid names: {', '.join(sorted(buckets))}."
        )
    try:
        return check_bucket(marker.args[0], buckets)
    except UnknownBucketError as error:
        raise pytest.UsageError(f"{item.nodeid}: {error}") from None


@pytest.fixture(autouse=True)
def _bbi_test_context(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    """Publish the run seed, capability and ledger to the assertions made during the test."""
    config = request.config
    session = settings.get(config)
    record, record_fingerprint = recorders(request.node)
    restore = context.activate(
        context.TestContext(
            seed=session.seed,
            capability=capability(request.node),
            buckets=session.buckets,
            bucket_epsilon=session.bucket_epsilon,
            bucket_alpha=session.bucket_alpha,
            record=record,
            record_fingerprint=record_fingerprint,
            judge=(lambda: request.getfixturevalue("judge"))
            if session.roles["judge"].spec
            else None,
        )
    )
    yield
    restore()


@pytest.fixture(scope="session")
def bbi_cache(pytestconfig: pytest.Config) -> Generator[GenerationCache | None, None, None]:
    """This process's handle on the generation cache, or None under ``--bbi-no-cache``.

    Every xdist worker opens the same SQLite file; the controller clears it first under
    ``--bbi-cache-clear``.
    """
    session = settings.get(pytestconfig)
    if session.no_cache:
        yield None
        return
    from pytest_bbi.generation.cache import GenerationCache

    cache = GenerationCache(session.cache_dir)
    yield cache
    cache.close()


def _load_role(config: pytest.Config, role: str, cache: GenerationCache | None) -> Model:
    session = settings.get(config)
    spec = session.roles[role].spec
    if not spec:
        pytest.fail(
            f"no {role} model configured: pass --bbi-{role}=SPEC (e.g. hf:path/to/model-dir), "
            f"set `bbi_{role}` in your ini file, or override the `{role}` fixture in conftest.py.",
            pytrace=False,
        )
    from pytest_bbi.models import load

    options: dict[str, Any] = dict(session.roles[role].options)
    if session.device and spec.startswith("hf:"):
        options.setdefault("device", session.device)
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
    from pytest_bbi.generation.cached_model import CachedModel
    from pytest_bbi.generation.progress import ProgressFile

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
    from pytest_bbi.fingerprints.snapshot import FingerprintSnapshotExtension

    return snapshot.use_extension(FingerprintSnapshotExtension)
