"""Model files for tests: a sample model pointed at a test host's real port, optionally renamed or extended.

    path = write_model(tmp_path, "demo3270", host.port, name="orders", extra=FAULTS)
    inst.deploy_model(session_server, path)      # hostgate model deploy, as a user would

``FAULTS`` adds what the mock 3270/5250 host can do wrong (src/hostgate/testhosts/mfhost.py): an operation whose
declared destination is not where the host goes, one that leads to a screen no entity recognises (SLOW), and
a screen on which Enter makes the host drop the connection (DROP).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.hosts import SAMPLES

__all__ = ["FAULTS", "model_text", "write_model"]

Document = dict[str, Any]


def _faults(doc: Document) -> None:
    menu = doc["entities"]["Menu"]["operations"]
    menu["open_form_as_list"] = {
        "description": "wrong on purpose: option 1 opens the form, not the list",
        "steps": [{"fill": {"option": "1"}}, {"key": "Enter"}],
        "destinations": ["CustomerList"],
    }
    menu["open_slow"] = {
        "description": "the SLOW screen is no entity of this model",
        "steps": [{"fill": {"option": "3"}}, {"key": "Enter"}],
        "destinations": ["CustomerList"],
        "timeout": 1,
    }
    menu["open_drop"] = {
        "steps": [{"fill": {"option": "5"}}, {"key": "Enter"}],
        "destinations": ["Drop"],
    }
    doc["entities"]["Drop"] = {
        "rules": [{"text": "DROPPING SCREEN", "row": 1}],
        "operations": {"press": {"steps": [{"key": "Enter"}], "destinations": ["Menu"], "timeout": 5}},
    }


FAULTS: Callable[[Document], None] = _faults


def model_text(
    sample: str,
    port: int,
    *,
    name: str | None = None,
    extra: Callable[[Document], None] | None = None,
) -> str:
    doc: Document = yaml.safe_load((SAMPLES / f"{sample}.yaml").read_text())
    doc["host"]["address"] = "127.0.0.1"
    doc["host"]["port"] = port
    if name is not None:
        doc["name"] = name
    if extra is not None:
        extra(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def write_model(
    directory: Path,
    sample: str,
    port: int,
    *,
    name: str | None = None,
    extra: Callable[[Document], None] | None = None,
) -> Path:
    text = model_text(sample, port, name=name, extra=extra)
    path = directory / f"{name or sample}-{port}.yaml"
    path.write_text(text)
    return path
