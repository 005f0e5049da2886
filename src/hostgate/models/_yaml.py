"""YAML reading that remembers where things were: every mapping and list knows the line of each key/item,
and duplicate keys (which PyYAML silently overwrites) are recorded so the validator can report them."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, SequenceNode

from hostgate.errors import ModelIssue, ModelSyntaxError

__all__ = ["YMap", "YSeq", "parse_yaml"]


class YMap(dict[Any, Any]):
    """A YAML mapping with the 1-based line of the mapping and of each key."""

    line: int
    lines: dict[Any, int]
    duplicates: list[tuple[Any, int]]

    @classmethod
    def empty(cls, line: int = 0) -> YMap:
        made = cls()
        made.line, made.lines, made.duplicates = line, {}, []
        return made


class YSeq(list[Any]):
    """A YAML sequence with the 1-based line of the sequence and of each item."""

    line: int
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: MappingNode) -> YMap:
    loader.flatten_mapping(node)
    result = YMap.empty(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            ) from exc
        line = key_node.start_mark.line + 1
        if key in result:
            result.duplicates.append((key, line))
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _sequence(loader: _Loader, node: SequenceNode) -> YSeq:
    result = YSeq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse_yaml(text: str, source: str) -> object:
    """The document in ``text``; ModelSyntaxError (HG-6002) naming ``source:line:column`` if it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = exc.problem or exc.context or "not YAML"
        where = f"{source}:{line}:{column}" if line is not None else source
        issue = ModelIssue("(document)", f"not well-formed YAML: {problem}", line)
        raise ModelSyntaxError(f"{where}: {problem}", issues=[issue]) from exc
    except yaml.YAMLError as exc:
        raise ModelSyntaxError(f"{source}: not well-formed YAML: {exc}") from exc
