"""A model folder whose config asks for custom code that, if it ever runs, leaves a marker file."""

from __future__ import annotations

import json
import pathlib

PLANTED_CODE = """
import pathlib

pathlib.Path({marker!r}).write_text("the folder's Python code ran")
raise RuntimeError("the planted code stops the load here")
"""


def planted_model(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Write the folder; return it and the marker file its code would write."""
    folder.mkdir(parents=True)
    marker = folder.parent / f"{folder.name}-remote-code-ran"
    config = {
        "model_type": "bbi-planted",
        "architectures": ["PlantedModel"],
        "auto_map": {
            "AutoConfig": "planted.PlantedConfig",
            "AutoModelForCausalLM": "planted.PlantedModel",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "planted.py").write_text(PLANTED_CODE.format(marker=str(marker)))
    # A valid safetensors file holding one float32 zero, written by hand: a little-endian u64
    # header length, the JSON header (padded with spaces to 8 bytes), then the data.
    header = json.dumps({"weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
    header += " " * (-len(header) % 8)
    (folder / "model.safetensors").write_bytes(
        len(header).to_bytes(8, "little") + header.encode() + bytes(4)
    )
    return folder, marker
