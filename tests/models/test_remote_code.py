"""Remote code runs only on an explicit true, whatever type or spelling the option comes in."""

from __future__ import annotations

import pytest
from planted import planted_model

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models import load
from pytest_bbi.models.hf_loader import load_hf


@pytest.mark.parametrize("refusal", ["no", "false", "0", "off", "NO", " False ", 0, False])
def test_a_false_spelling_never_runs_the_folders_code(tmp_path, refusal):
    folder, marker = planted_model(tmp_path / "planted")
    with pytest.raises(ModelSpecError, match=r"needs custom model code.*trust_remote_code=True"):
        load_hf(folder, trust_remote_code=refusal)
    assert not marker.exists()


def test_the_spec_api_parses_the_option_too(tmp_path):
    folder, marker = planted_model(tmp_path / "planted")
    with pytest.raises(ModelSpecError, match="needs custom model code"):
        load(f"hf:{folder}", trust_remote_code="false")
    assert not marker.exists()


@pytest.mark.parametrize("unclear", ["maybe", "", "2", 2, None, 1.0, "y"])
def test_an_unclear_value_is_an_error_naming_the_option(tmp_path, unclear):
    folder, marker = planted_model(tmp_path / "planted")
    with pytest.raises(ModelSpecError, match=r"hf: trust_remote_code=.* is not a boolean"):
        load_hf(folder, trust_remote_code=unclear)
    assert not marker.exists()


def test_an_explicit_true_does_run_it(tmp_path):
    # The control: the planted code is reachable, so the refusals above are real refusals.
    folder, marker = planted_model(tmp_path / "planted")
    with pytest.raises(ModelSpecError, match="planted code stops the load"):
        load_hf(folder, trust_remote_code="TRUE")
    assert marker.exists()
