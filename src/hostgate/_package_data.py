"""Files that ship inside the hostgate package (issue #21: `pipx install hostgate-*.whl` then `hostgate demo`).

The sample models, the model JSON Schema and the demo's host applications are package data, so nothing that a
user runs reads a source checkout. The repository's ``samples/models/*.yaml`` and ``docs/model.schema.json`` are
symbolic links to these files (one copy; ``tests/unit/test_packaging.py`` holds them identical).

Paths, not ``Traversable``: a wheel installed by pip or pipx is a directory on disk, and the host applications
are run by path as separate processes (``hostgate.testhosts``). A zipped install is refused here with a clear
message rather than half-working.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["host_app", "model_schema", "sample_model", "sample_models"]


def _path(*parts: str) -> Path:
    found = resources.files("hostgate").joinpath(*parts)
    if not isinstance(found, Path):
        raise RuntimeError(f"hostgate's package data must be on disk, not in an archive ({found})")
    return found


def sample_models() -> Path:
    """The directory of the sample models (``demo3270.yaml``, ``demo5250.yaml``, ``demovt.yaml``)."""
    return _path("samples", "models")


def sample_model(name: str) -> Path:
    """The packaged sample model ``name`` (without ``.yaml``), e.g. ``sample_model("demovt")``."""
    return sample_models() / f"{name}.yaml"


def model_schema() -> Path:
    """The model format's JSON Schema (draft 2020-12), the same file as the repository's docs/model.schema.json."""
    return _path("model.schema.json")


def host_app(name: str) -> Path:
    """A demo host application of ``hostgate.testhosts`` (``mfhost.py``, ``vthost.py``), run by path."""
    return _path("testhosts", name)
