"""The pytest11 module must stay light: every pytest run of every user imports it."""

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn", "scipy")


def test_plugin_import_leaves_heavy_libraries_out():
    code = (
        "import json, sys; import pytest_bbi.plugin; import pytest_bbi; pytest_bbi.Budget; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_loading_the_plugin_in_a_pytest_run_imports_no_model_library(pytester):
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy():
            assert not {"torch", "transformers", "sentence_transformers"} & set(sys.modules)
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
