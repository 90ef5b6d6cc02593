"""Unit tests run off the generation cache, so no run depends on what an earlier one stored."""

import dataclasses

import pytest

from pytest_bbi import context


@pytest.fixture(autouse=True)
def _off_the_generation_cache():
    """Under the plugin every model would go through the repository's ``.bbi_cache``.

    Unit tests call the engine with scripted models and count their calls, and a warm cache
    would answer for them. The plugin's caching is tested as a user meets it, through pytester
    (tests/plugin/test_every_model_cached.py); a unit test that wants a cache activates one.
    """
    restore = context.activate(dataclasses.replace(context.current(), cache=lambda model: model))
    yield
    restore()
