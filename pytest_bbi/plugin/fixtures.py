"""The plugin's fixtures: the caches every model goes through, the models, snapshots, context."""

from __future__ import annotations

import os
import threading
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
    from pytest_bbi.generation.features import FeatureCache
    from pytest_bbi.generation.progress import ProgressFile


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


class ModelCaches:
    """This process's generation cache, opened on first use, and the models put behind it.

    Every model that reaches the game goes through :meth:`put_behind`, whichever way it came:
    the plugin's fixtures, a user's fixture, ``load()`` inside a test, a judge. Each pytest
    process (each xdist worker) has one, all on the same file and lock files, so a completion
    is generated once across the workers. :meth:`features` reads embeddings from, and writes
    them to, the same file.

    Args:
        directory: the cache folder, or None under ``--bbi-no-cache``.
    """

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._cache: GenerationCache | None = None
        self._progress: ProgressFile | None = None
        self._opening = threading.Lock()

    def cache(self) -> GenerationCache | None:
        """The cache, opened on the first call; None under ``--bbi-no-cache``."""
        if self._directory is None:
            return None
        with self._opening:
            if self._cache is None:
                from pytest_bbi.generation.cache import GenerationCache
                from pytest_bbi.generation.progress import ProgressFile

                self._cache = GenerationCache(self._directory)
                process = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
                self._progress = ProgressFile(Path(self._cache.path).parent / "progress", process)
            return self._cache

    def put_behind(self, model: Model) -> Model:
        """``model`` behind the caches, reporting progress; unchanged when already cached.

        Under ``--bbi-no-cache`` the model is returned unchanged.
        """
        cache = self.cache()
        if cache is None:
            return model
        from pytest_bbi.generation.cached_model import behind_cache

        return behind_cache(model, cache, progress=self._progress)

    def features(self) -> FeatureCache | None:
        """The feature cache in the same file, opened on first use; None under --bbi-no-cache."""
        cache = self.cache()
        if cache is None:
            return None
        from pytest_bbi.generation.features import FeatureCache

        return FeatureCache(cache)

    def close(self) -> None:
        """Close the cache, if it was opened."""
        with self._opening:
            if self._cache is not None:
                self._cache.close()
                self._cache = None


@pytest.fixture(scope="session")
def _bbi_model_caches(pytestconfig: pytest.Config) -> Generator[ModelCaches, None, None]:
    """This process's :class:`ModelCaches`, closed at the end of the session."""
    session = settings.get(pytestconfig)
    caches = ModelCaches(None if session.no_cache else session.cache_dir)
    yield caches
    caches.close()


@pytest.fixture(autouse=True)
def _bbi_test_context(
    request: pytest.FixtureRequest, _bbi_model_caches: ModelCaches
) -> Generator[None, None, None]:
    """Publish the run seed, capability, ledger and caches to the assertions of the test."""
    config = request.config
    session = settings.get(config)
    record, record_fingerprint = recorders(request.node)
    put_behind = _bbi_model_caches.put_behind
    restore = context.activate(
        context.TestContext(
            seed=session.seed,
            capability=capability(request.node),
            buckets=session.buckets,
            bucket_epsilon=session.bucket_epsilon,
            bucket_alpha=session.bucket_alpha,
            record=record,
            record_fingerprint=record_fingerprint,
            judge=(lambda: put_behind(request.getfixturevalue("judge")))
            if session.roles["judge"].spec
            else None,
            reference=(lambda: put_behind(request.getfixturevalue("reference")))
            if session.roles["reference"].spec
            else None,
            cache=put_behind,
            features=_bbi_model_caches.features,
            warn_skipped=False,
        )
    )
    yield
    restore()


@pytest.fixture(scope="session")
def bbi_cache(_bbi_model_caches: ModelCaches) -> GenerationCache | None:
    """This process's handle on the generation cache, or None under ``--bbi-no-cache``.

    Every xdist worker opens the same SQLite file; the controller clears it first under
    ``--bbi-cache-clear``. Models need no wrapping by hand: every model that reaches the game
    goes through this cache.
    """
    return _bbi_model_caches.cache()


def _load_role(config: pytest.Config, role: str, caches: ModelCaches) -> Model:
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
    if role == "reference" and spec.startswith("hf:"):
        options.setdefault("lazy", True)  # it only scores and samples, through the caches
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
    return caches.put_behind(model)


@pytest.fixture(scope="session")
def teacher(pytestconfig: pytest.Config, _bbi_model_caches: ModelCaches) -> Model:
    """The reference model from ``--bbi-teacher`` / ``bbi_teacher``, behind the cache."""
    return _load_role(pytestconfig, "teacher", _bbi_model_caches)


@pytest.fixture(scope="session")
def student(pytestconfig: pytest.Config, _bbi_model_caches: ModelCaches) -> Model:
    """The model under test from ``--bbi-student`` / ``bbi_student``, behind the cache."""
    return _load_role(pytestconfig, "student", _bbi_model_caches)


@pytest.fixture(scope="session")
def judge(pytestconfig: pytest.Config, _bbi_model_caches: ModelCaches) -> Model:
    """The judge model for judge adversaries, from ``--bbi-judge`` / ``bbi_judge``."""
    return _load_role(pytestconfig, "judge", _bbi_model_caches)


@pytest.fixture(scope="session")
def reference(pytestconfig: pytest.Config, _bbi_model_caches: ModelCaches) -> Model:
    """The reference model from ``--bbi-reference`` / ``bbi_reference``, behind the cache.

    A local causal LM that scores completions for the ``reference`` and ``rank`` adversaries
    when the teacher cannot (an API teacher). An ``hf:`` reference is loaded lazily: its
    weights load only when a score or sample is missing from the cache.
    """
    return _load_role(pytestconfig, "reference", _bbi_model_caches)


@pytest.fixture
def bbi_snapshot(snapshot: Any) -> Any:
    """Syrupy's ``snapshot``, comparing behavioral fingerprints statistically.

    ``assert fingerprint == bbi_snapshot`` fails only on a significant change (Holm across the
    fingerprint's fields); write or refresh snapshots with ``--snapshot-update``.
    """
    from pytest_bbi.fingerprints.snapshot import FingerprintSnapshotExtension

    return snapshot.use_extension(FingerprintSnapshotExtension)
