"""Packaging (issue #21): one copy of each shipped data file, compatible ranges in the metadata with a pin in
constraints.txt for each, and a LICENSE the metadata names. The wheel itself is built and installed by
tests/integration/test_wheel.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from hostgate._package_data import host_app, model_schema, sample_model, sample_models

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # one exact pin per line, nothing else
        assert spec.operator == "==", f"constraints.txt pins exactly: {line!r}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{req.name} is pinned twice"
        pins[name] = Version(spec.version)
    return pins


def _requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        listed += extra
    listed += PYPROJECT["build-system"]["requires"]
    return [Requirement(r) for r in listed]


def test_the_repository_copies_are_the_packaged_files() -> None:
    # samples/models/*.yaml and docs/model.schema.json are links to the package data (one copy).
    repo_samples = sorted(p.name for p in (ROOT / "samples" / "models").glob("*.yaml"))
    packaged = sorted(p.name for p in sample_models().glob("*.yaml"))
    assert repo_samples == packaged == ["demo3270.yaml", "demo5250.yaml", "demovt.yaml"]
    for name in packaged:
        assert (ROOT / "samples" / "models" / name).read_bytes() == sample_model(name[:-5]).read_bytes()
    assert (ROOT / "docs" / "model.schema.json").read_bytes() == model_schema().read_bytes()
    assert host_app("vthost.py").is_file() and host_app("mfhost.py").is_file()


def test_every_requirement_is_a_range_with_a_pin_that_satisfies_it() -> None:
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        operators = {s.operator for s in req.specifier}
        assert "==" not in operators, (
            f"{req}: the metadata keeps a compatible range, the pin is in constraints.txt"
        )
        assert operators & {">=", "~="}, f"{req}: give the lowest version known to work"
        assert name in pins, f"{req.name} has no pin in constraints.txt (make constraints)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside {req.specifier}"
        )


def test_the_license_is_shipped_and_named() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


@pytest.mark.parametrize("key", ["readme", "requires-python", "classifiers", "description"])
def test_the_metadata_has(key: str) -> None:
    assert PYPROJECT["project"][key]


def test_the_package_data_rules_name_every_shipped_kind() -> None:
    rules = PYPROJECT["tool"]["setuptools"]["package-data"]["hostgate"]
    for rule in ("py.typed", "samples/models/*.yaml", "model.schema.json", "console/templates/*.html"):
        assert rule in rules
