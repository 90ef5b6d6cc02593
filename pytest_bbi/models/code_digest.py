"""A digest of what a Python function computes, the same in every process: a callable's identity.

:func:`code_digest` hashes a function's code and the values it reads, so a changed function
gets a new identity and the generation cache never serves a completion of its earlier version.
It reads only what is stable across processes and Python runs: bytecode, constants, names and
values, never an ``id()``, a memory address, a ``repr`` of an arbitrary object or the iteration
order of a set (string hashing is randomized per process).

What is covered, by content:

- the function's own code: bytecode, constants (its nested functions, lambdas and
  comprehensions included), the names it uses, its argument layout; not its file name or line
  numbers, so moving it, or editing code around it, keeps its identity;
- its default arguments and the values it closes over;
- the module globals it names, and, for a module it names that is your code, the attributes of
  it that it names (``helpers.clean`` covers ``helpers.clean``);
- in all of these, plain data (``None``, bools, numbers, strings, bytes, tuples, lists, dicts,
  sets) by value; functions, methods, ``functools.partial`` objects and classes defined in your
  code by their code, recursively (a helper function's or class's body changing changes the
  identity); instances of classes defined in your code by their class and attribute values.

What is not covered (known only by name or type):

- code in installed packages and the standard library: a library upgrade keeps the identity;
- objects that are neither plain data nor your code's (a loaded model, a NumPy array, a
  client): only their type;
- what the function reads when it runs: files, environment variables, the network, attributes
  looked up by computed names (``getattr(obj, name)``).

A value that differs from run to run (a timestamp, a random token) gives a new identity each
run, so nothing is cached across runs; the digest is computed once, when the model is made. The
bytecode differs between Python versions, so an upgrade of Python regenerates completions.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import site
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any

_CLASS_ATTRIBUTES_SKIPPED = frozenset(
    {
        "__dict__",
        "__doc__",
        "__firstlineno__",
        "__module__",
        "__qualname__",
        "__static_attributes__",
        "__weakref__",
    }
)
"""Class attributes that describe the class's source, not its behavior."""

_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.MethodDescriptorType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
)
"""Functions and descriptors implemented in C: known by their qualified name."""


def code_digest(fn: Callable[..., Any]) -> str:
    """The SHA-256 hex digest of what ``fn`` computes, as far as its code and values tell.

    See the module's documentation for what is covered and what is not.

    Args:
        fn: a function, a method, a ``functools.partial``, a builtin or any callable object
            (a callable object is hashed by its class, whose ``__call__`` is covered, and its
            attributes).

    Returns:
        64 hex digits, the same for the same code and values in every process and run of the
        same Python version.
    """
    encoder = _Encoder()
    if isinstance(fn, types.FunctionType):
        encoder.function(fn, follow=True)
    elif isinstance(fn, type):
        encoder.cls(fn, follow=True)
    else:
        encoder.value(fn, follow=True)
    return encoder.hexdigest()


@functools.cache
def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.update(getattr(site, "getsitepackages", list)())
    roots.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


@functools.cache
def _is_your_code(filename: str | None) -> bool:
    """Whether code from ``filename`` is the user's: not from an installed package or the stdlib.

    Code made by ``exec`` or typed in a notebook (``<string>``, ``<ipython-input-…>``) is the
    user's; frozen and builtin modules are not.
    """
    if not filename:
        return False
    if filename.startswith("<"):
        return not filename.startswith("<frozen")
    path = os.path.realpath(filename)
    return not any(path.startswith(root) for root in _installed_roots())


def _is_your_class(cls: type) -> bool:
    """Whether ``cls`` is the user's: by its module's file, else by its methods' files."""
    filename = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if filename:
        return _is_your_code(filename)
    return any(
        _is_your_code(attribute.__code__.co_filename)
        for attribute in vars(cls).values()
        if isinstance(attribute, types.FunctionType)
    )


def _qualified_name(value: Any) -> str:
    module = getattr(value, "__module__", None) or ""
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or ""
    return f"{module}.{name}"


def _code_names(code: types.CodeType) -> list[str]:
    """The names a code object and its nested code objects use, first use first."""
    names = dict.fromkeys(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names.update(dict.fromkeys(_code_names(constant)))
    return list(names)


class _Encoder:
    """Feeds an unambiguous, process-independent encoding of values into SHA-256.

    An object met again (a recursive function, a list holding itself) is encoded as a reference
    to its first encoding by order of encounter, which is deterministic, so cycles end.
    """

    def __init__(self, seen: dict[int, int] | None = None) -> None:
        self._hash = hashlib.sha256()
        self._seen: dict[int, int] = dict(seen or {})
        self._alive: list[object] = []  # every object in _seen stays alive: no id is reused

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def _emit(self, tag: str, data: str | bytes = b"") -> None:
        payload = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        self._hash.update(f"{tag}:{len(payload)}:".encode() + payload)

    def _met_before(self, value: object) -> bool:
        """Emit a reference and say so when ``value`` was encoded already; else remember it."""
        index = self._seen.get(id(value))
        if index is not None:
            self._emit("ref", str(index))
            return True
        self._seen[id(value)] = len(self._seen)
        self._alive.append(value)
        return False

    def value(self, value: Any, *, follow: bool = False) -> None:
        """Encode any value; ``follow`` covers a callable's code even from an installed package."""
        if value is None or value is Ellipsis or value is NotImplemented:
            self._emit("singleton", repr(value))
        elif isinstance(value, enum.Enum):
            self._emit("enum", f"{_qualified_name(type(value))}.{value.name}")
        elif isinstance(value, bool):
            self._emit("bool", repr(value))
        elif isinstance(value, int):
            self._emit("int", hex(int(value)))  # hex: no limit on the digits
        elif isinstance(value, float):
            self._emit("float", float(value).hex())
        elif isinstance(value, complex):
            self._emit("complex", f"{value.real.hex()},{value.imag.hex()}")
        elif isinstance(value, str):
            self._emit("str", str(value))
        elif isinstance(value, bytes | bytearray):
            self._emit("bytes", bytes(value))
        elif isinstance(value, types.CodeType):
            self.code(value)
        else:
            self._reference(value, follow=follow)

    def _reference(self, value: Any, *, follow: bool) -> None:
        """Encode a container, a callable, a class, a module or an object, each once."""
        if isinstance(value, tuple):
            self._emit("tuple", str(len(value)))
            for item in value:
                self.value(item)
        elif self._met_before(value):
            return
        elif isinstance(value, list):
            self._emit("list", str(len(value)))
            for item in value:
                self.value(item)
        elif isinstance(value, dict):
            self._emit("dict", str(len(value)))
            for key, item in value.items():
                self.value(key)
                self.value(item)
        elif isinstance(value, set | frozenset):
            self._unordered(value)
        elif isinstance(value, types.FunctionType):
            self.function(value, follow=follow)
        elif isinstance(value, types.MethodType):
            self._emit("method")
            self.value(value.__func__, follow=follow)
            self.value(value.__self__)
        elif isinstance(value, functools.partial):
            self._emit("partial")
            self.value(value.func, follow=follow)
            self.value(value.args)
            self.value(value.keywords)
        elif isinstance(value, type):
            self.cls(value, follow=follow)
        elif isinstance(value, types.ModuleType):
            self._emit("module", value.__name__)
        elif isinstance(value, _BUILTIN_CALLABLES):
            self._emit("builtin", _qualified_name(value))
        else:
            self._object(value, follow=follow)

    def _unordered(self, value: set[Any] | frozenset[Any]) -> None:
        """Encode a set by the sorted digests of its items, each encoded from the same state."""
        digests = []
        for item in value:
            encoder = _Encoder(self._seen)
            encoder.value(item)
            digests.append(encoder.hexdigest())
        self._emit("set", ",".join(sorted(digests)))

    def code(self, code: types.CodeType) -> None:
        """Encode what a code object does: not its file name, line numbers or qualified name."""
        self._emit(
            "code",
            f"{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount},"
            f"{code.co_flags}",
        )
        self._emit("bytecode", code.co_code)
        self._emit("exceptions", getattr(code, "co_exceptiontable", b""))
        for names in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
            self.value(names)
        self.value(code.co_consts)

    def function(self, fn: types.FunctionType, *, follow: bool) -> None:
        """Encode a function: its code and the values it reads, or its name when not your code.

        The caller has already registered ``fn`` (or it is the root).
        """
        if not (follow or _is_your_code(fn.__code__.co_filename)):
            self._emit("function", _qualified_name(fn))
            return
        if id(fn) not in self._seen:
            self._met_before(fn)
        self._emit("function")
        self.code(fn.__code__)
        self.value(fn.__defaults__)
        self.value(fn.__kwdefaults__)
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
            self._emit("cell", name)
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not filled yet
                self._emit("empty")
            else:
                self.value(contents)
        names = _code_names(fn.__code__)
        for name in names:
            if name in fn.__globals__:
                self._emit("global", name)
                self._global(fn.__globals__[name], names)

    def _global(self, value: Any, names: list[str]) -> None:
        """Encode a global; a module of your code with its attributes among ``names``."""
        if not isinstance(value, types.ModuleType) or not _is_your_code(
            getattr(value, "__file__", None)
        ):
            self.value(value)
            return
        if self._met_before(value):
            return
        self._emit("module", value.__name__)
        attributes = vars(value)  # not getattr: a module's lazy __getattr__ must not run
        for name in names:
            if name in attributes:
                self._emit("attribute", name)
                self.value(attributes[name])

    def cls(self, cls: type, *, follow: bool) -> None:
        """Encode a class: its bases and attributes when it is your code, else its name."""
        if not (follow or _is_your_class(cls)):
            self._emit("class", _qualified_name(cls))
            return
        if id(cls) not in self._seen:
            self._met_before(cls)
        self._emit("class", cls.__qualname__)
        self.value(cls.__bases__)
        for name, attribute in sorted(vars(cls).items()):
            if name in _CLASS_ATTRIBUTES_SKIPPED:
                continue
            self._emit("attribute", name)
            if isinstance(attribute, staticmethod | classmethod):
                attribute = attribute.__func__
            if isinstance(attribute, property):
                attribute = (attribute.fget, attribute.fset, attribute.fdel)
            self.value(attribute)

    def _object(self, value: Any, *, follow: bool) -> None:
        """Encode an instance: its type, and its attributes when its class is your code."""
        kind = type(value)
        self._emit("object")
        self.value(kind, follow=follow)
        if follow or _is_your_class(kind):
            self.value(dict(getattr(value, "__dict__", {})))
