"""Hostile YAML is refused with HG-6002 while it is composed, quickly and in little memory (issue #15, 7)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hostgate.errors import ModelSyntaxError
from hostgate.models import load_model
from hostgate.models.library import ModelLibrary


def merge_bomb(levels: int, width: int = 9) -> str:
    """``<<: [*m0, *m0, ...]`` nested ``levels`` deep: each level multiplies the merged keys by ``width``."""
    lines = ["m0: &m0 {a: 1, b: 2}"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*m{i - 1}"] * width)
        lines.append(f"m{i}: &m{i}\n  <<: [{refs}]\n  k{i}: {i}")
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs": no merge keys, but each level is ``width`` aliases of the one before."""
    lines = ["l0: &l0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_merge_key_is_refused_naming_its_line() -> None:
    with pytest.raises(ModelSyntaxError) as caught:
        load_model(merge_bomb(3))
    assert caught.value.code == "HG-6002"
    assert "merge keys (<<)" in caught.value.message
    assert "<model>:3:" in caught.value.message  # the first "<<" is on line 3


def test_merge_bomb_is_refused_fast() -> None:
    started = time.monotonic()
    with pytest.raises(ModelSyntaxError):
        load_model(merge_bomb(6))
    assert time.monotonic() - started < 5.0


def test_alias_expansion_is_capped() -> None:
    started = time.monotonic()
    with pytest.raises(ModelSyntaxError) as caught:
        load_model(alias_bomb(12))  # 9**12 leaves once expanded
    assert "nodes once aliases are expanded" in caught.value.message
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    "text", ["a: " + "[" * 20_000 + "]" * 20_000, "a:\n" + "".join(f"{' ' * i}- \n" for i in range(1, 3000))]
)
def test_deep_nesting_is_a_coded_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(ModelSyntaxError) as caught:
        load_model(text)
    assert caught.value.code == "HG-6002"


def test_library_refuses_a_bomb_without_raising_anything_else(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(merge_bomb(6))
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 20_000 + "]" * 20_000)
    library = ModelLibrary(tmp_path)
    checked = library.check_all()
    assert {name: type(v).__name__ for name, v in checked.items()} == {
        "bomb": "ModelSyntaxError",
        "deep": "ModelSyntaxError",
    }
