"""Strict parsing of option values (booleans, numbers, seeds) given as Python values or as text."""

from __future__ import annotations

import math
import random

from pytest_bbi.errors import BbiError, ModelSpecError, SeedError

SEED_LIMIT = 2**63
"""Run seeds are ints in ``[0, SEED_LIMIT)``, from ``--bbi-seed``, ini ``bbi_seed`` and
``seed=`` alike (the largest that fits a signed 64-bit int, as in SQLite and NumPy)."""

RANDOM_SEED_LIMIT = 2**32
"""``--bbi-seed=random`` draws below this, so a printed seed stays short to type."""

TRUE_WORDS = ("true", "yes", "on", "1")
"""The spellings of an explicit true, in any case."""
FALSE_WORDS = ("false", "no", "off", "0")
"""The spellings of an explicit false, in any case."""


def _name(option: str, context: str) -> str:
    return f"{context}: {option}" if context else option


def parse_bool(
    option: str, value: object, *, context: str = "", error: type[BbiError] = ModelSpecError
) -> bool:
    """An explicit boolean: ``True``/``False``, ``1``/``0``, or one of the words, any case.

    The words are ``true``/``false``, ``yes``/``no``, ``on``/``off`` and ``1``/``0``; surrounding
    whitespace is ignored. Anything else (``"maybe"``, ``None``, ``2``, ``0.0``, an empty string)
    is an error, never a truthy value: an option such as ``trust_remote_code`` is true only when
    it says so.

    Args:
        option: the option's name, for the message.
        value: what was given.
        context: who reads the option (e.g. ``"hf"``), for the message.
        error: the exception class raised.

    Returns:
        The boolean the value spells.

    Raises:
        BbiError: (of class ``error``) naming the option, the value and the accepted spellings.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise error(
        f"{_name(option, context)}={value!r} is not a boolean; write true or false "
        "(yes/no, on/off and 1/0 are accepted too, in any case)."
    )


def parse_float(
    option: str,
    value: object,
    *,
    context: str = "",
    error: type[BbiError] = ModelSpecError,
) -> float:
    """A finite number given as an int, a float or its decimal text (``"0.7"``, ``" 1e-3 "``).

    Args:
        option: the option's name, for the message.
        value: what was given.
        context: who reads the option (e.g. ``"hf"``), for the message.
        error: the exception class raised.

    Returns:
        The number as a float.

    Raises:
        BbiError: (of class ``error``) for a boolean, a non-numeric value or text, NaN or an
            infinity, naming the option and the value.
    """
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise error(
            f"{_name(option, context)}={value!r} is not a number; write a finite number such as "
            "0.7."
        )
    return number


def parse_int(
    option: str,
    value: object,
    *,
    context: str = "",
    error: type[BbiError] = ModelSpecError,
) -> int:
    """A whole number given as an int, a whole float (``32.0``) or its text (``"32"``).

    Args:
        option: the option's name, for the message.
        value: what was given.
        context: who reads the option (e.g. ``"hf"``), for the message.
        error: the exception class raised.

    Returns:
        The number as an int.

    Raises:
        BbiError: (of class ``error``) for a boolean, a fraction, or anything that is not a
            whole number, naming the option and the value.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    try:
        number = parse_float(option, value, context=context, error=error)
    except BbiError:
        number = math.nan
    if not number.is_integer():
        raise error(
            f"{_name(option, context)}={value!r} is not a whole number; write an integer such "
            "as 32."
        )
    return int(number)


def parse_seed(option: str, value: object, *, text: bool = True) -> int:
    """A run seed: an int in ``[0, SEED_LIMIT)``, or (with ``text``) its decimal text.

    The command line, the ini file and the API take the same seeds, so a seed printed in a
    report (``bbi: seed=…``) can always be replayed in either place.

    Args:
        option: how the seed was given, for the message (``"seed"``, ``"--bbi-seed"``).
        value: what was given.
        text: accept a decimal string (the command line and ini give text; the API gives ints).

    Returns:
        The seed.

    Raises:
        SeedError: for anything else: a bool, a float, other text, a negative or too large int.
    """
    seed: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seed = value
    elif text and isinstance(value, str):
        try:
            seed = int(value.strip())
        except ValueError:
            seed = None
    if seed is None or not 0 <= seed < SEED_LIMIT:
        kind = "a non-negative integer" if text else "an int"
        raise SeedError(
            f"{option}={value!r}: the seed must be {kind} in [0, 2**63), the seeds "
            "--bbi-seed and seed= both take."
        )
    return seed


def random_seed() -> int:
    """A fresh run seed for ``--bbi-seed=random``, below :data:`RANDOM_SEED_LIMIT`."""
    return random.SystemRandom().randrange(RANDOM_SEED_LIMIT)
