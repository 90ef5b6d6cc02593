"""Sections ``imports`` and ``collection``: what the plugin costs a run that uses none of it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from sections.common import (
    HEAVY_MODULES,
    Row,
    Section,
    Settings,
    Target,
    child_env,
    interleaved_medians,
    status,
)

# ---------------------------------------------------------------------------------------------
# imports and collection
# ---------------------------------------------------------------------------------------------


def section_imports(settings: Settings) -> Section:
    """Median wall time of a fresh interpreter importing pytest alone vs pytest + the plugin."""
    rounds = 3 if settings.quick else 9
    env = child_env()

    def run(code: str) -> Callable[[], object]:
        return lambda: subprocess.run([sys.executable, "-c", code], check=True, env=env)

    run("import pytest, pytest_bbi.plugin")()  # warm the file system cache once
    bare, plugin = interleaved_medians(
        run("import pytest"), run("import pytest, pytest_bbi.plugin"), rounds
    )
    probe = (
        "import json, sys, pytest_bbi.plugin; "
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], check=True, env=env, capture_output=True, text=True
        ).stdout
    )
    heavy = ", ".join(loaded) if loaded else "none"
    imports_ml = [name for name in loaded if name in ("torch", "transformers")]
    return Section(
        "imports",
        rows=[
            Row("import pytest (fresh interpreter)", f"{bare * 1000:.0f} ms", ""),
            Row(
                "import pytest + pytest_bbi.plugin",
                f"{plugin * 1000:.0f} ms",
                f"{(plugin - bare) * 1000:+.0f} ms",
            ),
            Row(
                "heavy modules loaded by `import pytest_bbi.plugin` "
                f"(of {', '.join(HEAVY_MODULES)})",
                heavy,
                "",
            ),
        ],
        targets=[
            Target(
                "the pytest11 plugin module imports no torch / transformers",
                "3, DESIGN",
                f"loads {heavy}; import overhead {(plugin - bare) * 1000:+.0f} ms",
                status(not imports_ml),
            )
        ],
        notes=[f"Medians of {rounds} fresh interpreters each, the two commands alternating."],
    )


def section_collection(settings: Settings) -> Section:
    """Median wall time of collecting plain tests without and with the plugin active."""
    modules, per_module, rounds = (5, 10, 2) if settings.quick else (10, 50, 7)
    count = modules * per_module
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="bbi-bench-collect-") as directory:
        suite = Path(directory)
        (suite / "pytest.ini").write_text("[pytest]\n")
        for module in range(modules):
            tests = "".join(f"def test_{index}():\n    pass\n\n" for index in range(per_module))
            (suite / f"test_module_{module}.py").write_text(tests)

        def collect(*extra: str) -> Callable[[], object]:
            command = [sys.executable, "-m", "pytest", "--collect-only", "-q"]
            command += ["-p", "no:cacheprovider", *extra]
            return lambda: subprocess.run(
                command, cwd=suite, check=True, stdout=subprocess.DEVNULL, env=env
            )

        collect()()  # warm the file system cache once
        without, with_plugin = interleaved_medians(collect("-p", "no:bbi"), collect(), rounds)
    return Section(
        "collection",
        rows=[
            Row(f"pytest --collect-only, {count} tests, -p no:bbi", f"{without * 1000:.0f} ms"),
            Row(
                f"pytest --collect-only, {count} tests, plugin active",
                f"{with_plugin * 1000:.0f} ms",
                f"{(with_plugin - without) * 1000:+.0f} ms "
                f"({with_plugin / without:.2f}× the run without the plugin)",
            ),
        ],
        notes=[
            f"Medians of {rounds} runs each, alternating, of {modules} modules of "
            f"{per_module} empty tests in a temporary folder."
        ],
    )
