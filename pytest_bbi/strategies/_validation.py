"""Eager argument checks for the public strategies, raising ``InvalidArgument``."""

from __future__ import annotations

from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy


def check_prompts(function: str, prompts: object) -> None:
    """Check that ``prompts`` is a Hypothesis strategy.

    Args:
        function: the public function's name, for the message.
        prompts: the argument to check.

    Raises:
        InvalidArgument: ``prompts`` is not a ``SearchStrategy``.
    """
    if not isinstance(prompts, SearchStrategy):
        raise InvalidArgument(
            f"{function}(prompts={prompts!r}): prompts must be a Hypothesis strategy that "
            f"generates str, such as factual_prompts() or st.text(); got a "
            f"{type(prompts).__name__}. To perturb fixed prompts, pass st.sampled_from([...])."
        )


def check_int(function: str, name: str, value: object, low: int, high: int) -> None:
    """Check that ``value`` is an int (not a bool) in ``[low, high]``.

    Args:
        function: the public function's name, for the message.
        name: the argument's name, for the message.
        value: the argument to check.
        low: the least allowed value.
        high: the greatest allowed value.

    Raises:
        InvalidArgument: ``value`` is not an int or lies outside ``[low, high]``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(
            f"{function}({name}={value!r}): {name} must be an int from {low} to {high}."
        )


def check_drawn(function: str, prompt: object) -> str:
    """Check that a prompt drawn from the user's strategy is a str.

    Args:
        function: the public function's name, for the message.
        prompt: the drawn value.

    Returns:
        ``prompt``, typed as a str.

    Raises:
        InvalidArgument: the strategy generated something other than a str.
    """
    if not isinstance(prompt, str):
        raise InvalidArgument(
            f"{function}(prompts=...): the prompts strategy generated {prompt!r}, a "
            f"{type(prompt).__name__}; it must generate str."
        )
    return prompt
