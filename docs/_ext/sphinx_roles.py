"""Griffe extension for the docs build: Sphinx cross-reference roles become mkdocs links.

The package's docstrings use Sphinx roles such as ``:class:`~pytest_bbi.Verdict``` or
``:func:`from_callable```, which read well in ``help()`` and IDEs. mkdocstrings renders
Markdown, so this extension rewrites each role into an optional autorefs link: a link where the
target is rendered in the API reference, plain code elsewhere (no warning, so the strict build
stays clean). Relative targets resolve against the enclosing class, then the enclosing module,
then the package.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`(?P<tilde>~?)(?P<target>[\w.]+)`")


def _find(root: griffe.Module, obj: griffe.Object, target: str) -> griffe.Object | None:
    """The object ``target`` names, seen from ``obj``, or None when nothing matches."""
    scopes: list[griffe.Object] = []
    scope: griffe.Object | None = obj if isinstance(obj, griffe.Class) else obj.parent
    while scope is not None:
        scopes.append(scope)
        scope = scope.parent
    for candidate in scopes:
        found = _member(candidate, target)
        if found is not None:
            return found
    if target.startswith(root.path + "."):
        return _member(root, target.removeprefix(root.path + "."))
    return None


def _member(scope: griffe.Object, dotted: str) -> griffe.Object | None:
    current: Any = scope
    for part in dotted.split("."):
        try:
            current = current.members[part]
        except (KeyError, AttributeError, griffe.AliasResolutionError):
            return None
    try:
        return current.final_target if isinstance(current, griffe.Alias) else current
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _rewrite(root: griffe.Module, obj: griffe.Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        target = match["target"]
        title = target.rsplit(".", 1)[-1] if match["tilde"] else target
        found = _find(root, obj, target)
        code = f"<code>{html.escape(title)}</code>"
        if found is None:
            return code
        identifier = html.escape(found.path, quote=True)
        return f'<autoref identifier="{identifier}" optional>{code}</autoref>'

    return _ROLE.sub(link, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package once it is fully loaded, so relative targets can be resolved."""
        seen: set[str] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.path in seen:
                continue
            seen.add(obj.path)
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(pkg, obj, obj.docstring.value)
            stack.extend(
                member for member in obj.members.values() if not isinstance(member, griffe.Alias)
            )
