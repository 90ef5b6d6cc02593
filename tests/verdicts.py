"""Reading verdicts back from test runs: junit properties, with run-to-run timings removed."""

import json
import xml.etree.ElementTree as ET

TIMINGS = {"seconds", "generation_seconds"}


def without_timings(value):
    """A verdict dict (or any nested value) without its timing fields, which vary per run."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key not in TIMINGS}
    return value


def junit_verdicts(junit_path):
    """Test name → the verdict it recorded (as ``bbi_verdict`` user property), timings dropped."""
    verdicts = {}
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        for prop in case.iter("property"):
            if prop.get("name") == "bbi_verdict":
                verdicts[case.get("name")] = without_timings(json.loads(prop.get("value")))
    return verdicts
