"""One registry of named extensions: built-ins as lazy paths, registrations and entry points."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pytest_bbi.errors import BbiError

_T = TypeVar("_T")


def import_path(path: str) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[_T]):
    """Names → extensions (model loaders, adversary factories), found in three places.

    In order: the objects given to :meth:`register`, the built-ins (``"module:attribute"``
    paths, imported on first use, so listing or checking names imports nothing heavy), and the
    entry points of ``group`` that installed packages declare.

    Args:
        group: the entry-point group third-party packages use.
        builtins: name → ``"module:attribute"`` of the built-in extensions.
        unknown: makes the error for an unknown name, given the name, the available names and
            the closest of them (or None); its message says how to add one.
    """

    def __init__(
        self,
        group: str,
        builtins: Mapping[str, str],
        *,
        unknown: Callable[[str, list[str], str | None], BbiError],
    ) -> None:
        self.group = group
        self._builtins = dict(builtins)
        self._registered: dict[str, _T] = {}
        self._unknown = unknown

    def register(self, name: str, extension: _T) -> None:
        """Add ``extension`` under ``name``; it takes precedence over a built-in of that name."""
        self._registered[name] = extension

    def is_registered(self, name: str) -> bool:
        """Whether ``name`` was given to :meth:`register` (and so overrides any built-in)."""
        return name in self._registered

    def _entry_points(self) -> dict[str, str]:
        return {point.name: point.value for point in entry_points(group=self.group)}

    def available(self) -> list[str]:
        """Every name that can be resolved, sorted."""
        return sorted({*self._builtins, *self._registered, *self._entry_points()})

    def check(self, name: str) -> str:
        """Return ``name`` if it can be resolved, importing nothing.

        Raises:
            BbiError: the registry's error for an unknown name, which lists the available names
                and suggests the closest one.
        """
        names = self.available()
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            raise self._unknown(name, names, close[0] if close else None)
        return name

    def get(self, name: str, load: Callable[[str], Any] = import_path) -> _T:
        """The extension registered, built in or declared under ``name``.

        Args:
            name: the extension's name.
            load: imports a ``"module:attribute"`` path; pass one that turns import errors
                into the caller's own messages.

        Returns:
            The extension.

        Raises:
            BbiError: the registry's error for an unknown name.
        """
        if name in self._registered:
            return self._registered[name]
        self.check(name)
        found: _T = load(self._builtins.get(name) or self._entry_points()[name])
        return found
