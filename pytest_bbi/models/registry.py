"""Model specs (``hf:…``, ``python:…``): parsing, the backend registry and its entry points."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.base import Model
from pytest_bbi.options import parse_bool
from pytest_bbi.registry import Registry

ENTRY_POINT_GROUP = "pytest_bbi.models"
Loader = Callable[..., Model]
_EXAMPLES = "e.g. 'hf:path/to/model-dir' or 'python:my_module:make_model'"


def _unknown_backend(scheme: str, known: list[str], close: str | None) -> ModelSpecError:
    guess = f" Did you mean {close + ':'!r}?" if close else ""
    return ModelSpecError(
        f"unknown backend {scheme!r}; known backends: {', '.join(s + ':' for s in known)} "
        f"({_EXAMPLES}).{guess} A package can add one through the entry-point group "
        f"{ENTRY_POINT_GROUP!r}."
    )


BACKENDS: Registry[Loader] = Registry(
    ENTRY_POINT_GROUP,
    {
        "hf": "pytest_bbi.models.hf_loader:load_hf",
        "openai": "pytest_bbi.models.openai_api:load_openai",
        "vllm": "pytest_bbi.models.vllm_server:load_vllm",
        "python": "pytest_bbi.models.registry:load_python",
    },
    unknown=_unknown_backend,
)
"""The model backends: spec scheme → loader."""


def register_backend(scheme: str, loader: Loader) -> None:
    """Register a loader for specs ``scheme:<target>``.

    Third-party packages can instead expose the loader under the entry-point group
    ``pytest_bbi.models`` with the scheme as the entry point's name.

    Args:
        scheme: the spec prefix, e.g. ``"mybackend"``.
        loader: ``loader(target, **options) -> Model``.
    """
    BACKENDS.register(scheme, loader)


def known_schemes() -> list[str]:
    """All spec schemes that can be loaded: built-in, registered and from entry points."""
    return BACKENDS.available()


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec into (scheme, target) and check the scheme is known, importing nothing heavy.

    Args:
        spec: e.g. ``"hf:models/teacher"`` or ``"python:my_models:make_student"``.

    Returns:
        The scheme and the rest of the spec.

    Raises:
        ModelSpecError: when the spec has no scheme, an empty target, or an unknown scheme, or
            an ``openai:`` target names its endpoint wrongly (see
            :func:`~pytest_bbi.models.endpoints.parse_target`).
    """
    scheme, sep, target = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not sep or not scheme or not target.strip():
        raise ModelSpecError(f"model spec {spec!r} is not of the form SCHEME:TARGET; {_EXAMPLES}.")
    try:
        BACKENDS.check(scheme)
    except ModelSpecError as error:
        raise ModelSpecError(f"model spec {spec!r} names an {error}") from None
    if _is_builtin_openai(scheme):
        from pytest_bbi.models.endpoints import parse_target

        parse_target(target)
    return scheme, target


def _is_builtin_openai(scheme: str) -> bool:
    return scheme == "openai" and not BACKENDS.is_registered(scheme)


def describe_endpoint(spec: str) -> str | None:
    """Where a spec's model receives prompts, in words, for the session header.

    Args:
        spec: a model spec.

    Returns:
        For an ``openai:`` spec its base URL and where that came from (the spec,
        ``OPENAI_BASE_URL`` or the public default), e.g. ``https://api.openai.com/v1 (OpenAI's
        public API: …)``; ``None`` for every other backend.

    Raises:
        ModelSpecError: as :func:`parse_spec`.
    """
    scheme, target = parse_spec(spec)
    if not _is_builtin_openai(scheme):
        return None
    from pytest_bbi.models.endpoints import describe_endpoint as openai_endpoint

    return openai_endpoint(target)


def _import_object(path: str, spec: str) -> Any:
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ModelSpecError(f"model spec {spec!r}: expected MODULE:ATTRIBUTE after the scheme.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelSpecError(
            f"model spec {spec!r}: cannot import module {module_name!r} ({error}); make sure it is "
            "on sys.path (e.g. next to your conftest.py or installed)."
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError as error:
        raise ModelSpecError(
            f"model spec {spec!r}: module {module_name!r} has no attribute {attribute!r}."
        ) from error


def load_python(target: str, **options: Any) -> Model:
    """Load ``python:MODULE:ATTRIBUTE``: a model object, or a factory called with ``options``.

    An option for a factory parameter that is a boolean (annotated ``bool`` or defaulting to
    ``True``/``False``) is parsed strictly, as every backend's booleans are (see
    :func:`~pytest_bbi.options.parse_bool`): ``"no"`` from an ini file arrives as ``False``.

    Args:
        target: ``MODULE:ATTRIBUTE``.
        **options: passed to the factory.

    Returns:
        The model.

    Raises:
        ModelSpecError: when the target cannot be imported or is not a model.
    """
    spec = f"python:{target}"
    found = _import_object(target, spec)
    if isinstance(found, Model) and options:
        raise ModelSpecError(
            f"model spec {spec!r} names a model object, which takes no options "
            f"({', '.join(sorted(options))}); point the spec at a factory that accepts them."
        )
    if callable(found) and not isinstance(found, Model):
        options = _parsed_booleans(found, options)
    model = found if isinstance(found, Model) else found(**options) if callable(found) else found
    if not isinstance(model, Model):
        raise ModelSpecError(
            f"model spec {spec!r} gave {type(model).__name__}, which is not a Model (it needs "
            "`name`, `identity` and `generate(prompts, seeds)`); wrap a function with "
            "pytest_bbi.models.from_callable."
        )
    return model


def _parsed_booleans(factory: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the values of the factory's boolean parameters parsed strictly."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return options
    booleans = {
        name
        for name, parameter in parameters.items()
        if parameter.annotation in (bool, "bool") or isinstance(parameter.default, bool)
    }
    return {
        name: parse_bool(name, value, context="python") if name in booleans else value
        for name, value in options.items()
    }


def load(spec: str, **options: Any) -> Model:
    """Load a model from a spec string.

    Args:
        spec: ``hf:<local dir>`` or ``python:<module>:<attribute>``, or a scheme a plugin added.
        **options: backend options such as ``temperature``, ``max_new_tokens`` or ``device``.

    Returns:
        The loaded model.

    Raises:
        ModelSpecError: when the spec is malformed, its backend unknown, or its target unloadable.
    """
    scheme, target = parse_spec(spec)
    loader = BACKENDS.get(scheme, lambda path: _import_object(path, spec))
    return loader(target, **options)
