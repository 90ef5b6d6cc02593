"""registry.py: the one registry behind model backends and adversaries."""

import sys

import pytest

from pytest_bbi import adversaries
from pytest_bbi.errors import AdversaryError, BbiError, ModelSpecError
from pytest_bbi.models import registry as models
from pytest_bbi.registry import Registry


class Unknown(BbiError):
    pass


def make():
    return Registry(
        "pytest_bbi.test-registry",
        {"heavy": "json:dumps", "missing": "no_such_module_for_bbi:thing"},
        unknown=lambda name, known, close: Unknown(f"{name}|{','.join(known)}|{close}"),
    )


def test_names_come_from_builtins_registrations_and_entry_points(monkeypatch):
    registry = make()
    registry.register("mine", len)

    class Point:
        name, value = "plugged", "json:loads"

    monkeypatch.setattr(
        "pytest_bbi.registry.entry_points",
        lambda group: [Point()] if group == "pytest_bbi.test-registry" else [],
    )
    assert registry.available() == ["heavy", "mine", "missing", "plugged"]
    import json

    assert registry.get("heavy") is json.dumps
    assert registry.get("mine") is len
    assert registry.get("plugged") is json.loads


def test_listing_and_checking_names_import_nothing():
    registry = make()
    assert registry.check("missing") == "missing"
    assert "no_such_module_for_bbi" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        registry.get("missing")


def test_an_unknown_name_suggests_the_closest():
    with pytest.raises(Unknown, match=r"^haevy\|heavy,missing\|heavy$"):
        make().check("haevy")
    with pytest.raises(Unknown, match=r"\|None$"):
        make().get("zzz")


def test_a_registration_overrides_a_builtin():
    registry = make()
    registry.register("heavy", repr)
    assert registry.get("heavy") is repr


def test_models_and_adversaries_use_it():
    assert isinstance(models.BACKENDS, Registry)
    assert isinstance(adversaries.ADVERSARIES, Registry)
    assert models.known_schemes() == models.BACKENDS.available()
    assert adversaries.available() == adversaries.ADVERSARIES.available()
    with pytest.raises(AdversaryError, match="Did you mean 'stylometric'"):
        adversaries.resolve(["stylometrc"])
    with pytest.raises(ModelSpecError, match=r"names an unknown backend 'hff'.*Did you mean 'hf:'"):
        models.parse_spec("hff:model")
