"""The pools file: validated whole, every issue with its path and line, variable lists read from CSV files
whose values (passwords) never appear in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostgate.errors import PoolsFileError
from hostgate.session.pool_config import PoolSizes, load_pools, load_pools_file

GOOD = """\
pools:
  orders:
    model: demo3270
    startup_entity: Menu
    max_concurrent: 4
    initial_idle: 2
    min_idle: 1
    max_idle: 3
    max_pending: 8
    max_wait: 2.5
    recycle_uses: 100
    variables: {language: EN}
    variable_lists:
      credentials: creds.csv
  billing:
    model: demo5250
    startup_entity: CustomerList
    max_concurrent: 1
"""


def test_a_good_file_gives_every_pool_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "creds.csv").write_text("userid,password\nADA,LOVELACE\nBOB,S3CRET\n")
    orders, billing = load_pools(GOOD, "pools.yaml", base=tmp_path)
    assert orders.name == "orders" and orders.sizes == PoolSizes(4, 1, 3)
    assert (orders.initial_idle, orders.max_pending, orders.max_wait, orders.recycle_uses) == (2, 8, 2.5, 100)
    assert orders.variables == {"language": "EN"}
    (creds,) = orders.variable_lists
    assert creds.name == "credentials" and len(creds) == 2 and creds.entries[1]["userid"] == "BOB"
    assert "S3CRET" not in repr(orders)
    assert billing.sizes == PoolSizes(1, 0, 1) and billing.variable_lists == ()
    assert billing.lease == 300.0 and billing.idle_timeout == 600.0


def test_no_file_means_no_pools(tmp_path: Path) -> None:
    assert load_pools_file(tmp_path / "pools.yaml") == ()


def test_every_issue_is_reported_with_path_and_line_and_nothing_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "creds.csv").write_text("userid,password\nADA,LOVELACE,EXTRA\n")
    text = """\
pools:
  orders:
    model: demo3270
    max_concurrent: 2
    min_idle: 3
    max_wait: soon
    colour: blue
    variable_lists:
      credentials: creds.csv
      missing: nowhere.csv
  ok:
    model: m
    startup_entity: Menu
    max_concurrent: 1
"""
    with pytest.raises(PoolsFileError) as caught:
        load_pools(text, "pools.yaml", base=tmp_path)
    error = caught.value
    assert error.code == "HG-4305"
    found = {(i.path, i.line) for i in error.issues}
    assert ("pools.orders.startup_entity", 3) in found  # required: reported where the pool starts
    assert ("pools.orders", 3) in found  # min_idle 3 above max_idle (default: max_concurrent 2)
    assert ("pools.orders.max_wait", 6) in found
    assert ("pools.orders.colour", 7) in found
    assert ("pools.orders.variable_lists.credentials", 9) in found
    assert ("pools.orders.variable_lists.missing", 10) in found
    assert "row 2 has 3 fields" in error.message
    assert "LOVELACE" not in error.message


def test_sizes_that_do_not_fit_together_are_refused(tmp_path: Path) -> None:
    text = """\
pools:
  orders: {model: m, startup_entity: Menu, max_concurrent: 2, min_idle: 1, max_idle: 3, initial_idle: 5}
"""
    with pytest.raises(PoolsFileError) as caught:
        load_pools(text, "pools.yaml", base=tmp_path)
    assert "max_idle (3) must not exceed max_concurrent (2)" in caught.value.message
    assert "initial_idle: 5 exceeds max_concurrent (2)" in caught.value.message


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(PoolsFileError) as caught:
        load_pools("pools:\n  orders: [\n", "pools.yaml", base=tmp_path)
    assert caught.value.code == "HG-4305" and "pools.yaml:" in caught.value.message
