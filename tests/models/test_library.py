"""Deployed models: validated whole before an atomic rename, reloaded when the file changes, the last good
version kept when a changed file no longer validates."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from hostgate.errors import ModelError, ModelNotFound
from hostgate.models import ModelLibrary, deploy_model
from tests.helpers.models import model_text


def _file(tmp_path: Path, text: str, name: str = "source.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _touch_later(path: Path) -> None:
    """Move the mtime on, so a rewrite within the same clock tick still counts as a change."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_deploy_validates_then_places_the_file_atomically(tmp_path: Path) -> None:
    models = tmp_path / "models"
    source = _file(tmp_path, model_text("demo3270", 3270, name="orders"))
    model, target, replaced = deploy_model(source, models)
    assert (model.name, target, replaced) == ("orders", models / "orders.yaml", False)
    assert target.read_bytes() == source.read_bytes()
    assert deploy_model(source, models)[2] is True
    assert [p.name for p in models.iterdir()] == ["orders.yaml"]  # no temporary file left


def test_an_invalid_model_is_refused_whole_and_the_old_version_stays(tmp_path: Path) -> None:
    models = tmp_path / "models"
    deploy_model(_file(tmp_path, model_text("demo3270", 3270, name="orders")), models)
    before = (models / "orders.yaml").read_bytes()

    def off_screen(doc: dict[str, Any]) -> None:
        doc["entities"]["SignOn"]["attributes"]["userid"]["row"] = 40

    broken = model_text("demo3270", 99999, name="orders", extra=off_screen)
    with pytest.raises(ModelError) as caught:
        deploy_model(_file(tmp_path, broken, "broken.yaml"), models)
    paths = {issue.path for issue in caught.value.issues}
    assert "host.port" in paths and "entities.SignOn.attributes.userid.row" in paths
    assert (models / "orders.yaml").read_bytes() == before
    assert [p.name for p in models.iterdir()] == ["orders.yaml"]


def test_a_name_that_cannot_be_a_file_name_is_refused(tmp_path: Path) -> None:
    source = _file(tmp_path, model_text("demo3270", 3270, name="../escape"))
    with pytest.raises(ModelError, match="cannot be deployed"):
        deploy_model(source, tmp_path / "models")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_the_library_reloads_a_changed_file_and_keeps_the_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    library = ModelLibrary(models)
    assert library.names() == []
    with pytest.raises(ModelNotFound, match="models: none"):
        library.get("orders")
    deploy_model(_file(tmp_path, model_text("demo3270", 3270, name="orders")), models)
    first = library.get("orders")
    assert library.get("orders") is first  # unchanged: no reload
    deploy_model(_file(tmp_path, model_text("demo3270", 3271, name="orders")), models)
    second = library.get("orders")
    assert second.model.host.port == 3271 and second.digest != first.digest
    (models / "orders.yaml").write_text("name: [\n")
    _touch_later(models / "orders.yaml")
    with caplog.at_level(logging.ERROR, logger="hostgate.models.library"):
        assert library.get("orders") is second
        assert library.get("orders") is second
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 1 and errors[0].startswith("[HG-6002]") and "keeping the version" in errors[0]
    (models / "orders.yaml").unlink()
    with pytest.raises(ModelNotFound):
        library.get("orders")


def test_a_broken_file_with_no_good_version_and_a_misnamed_file_are_not_served(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "broken.yaml").write_text("format_version: 1\n")
    (models / "other.yaml").write_text(model_text("demo3270", 3270, name="orders"))
    library = ModelLibrary(models)
    assert library.names() == ["broken", "other"]
    with pytest.raises(ModelNotFound, match="does not validate"):
        library.get("broken")
    with pytest.raises(ModelNotFound, match="declares model 'orders'"):
        library.get("other")
    checked = library.check_all()
    assert all(isinstance(v, ModelError) for v in checked.values())
