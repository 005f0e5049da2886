"""YAML reading that remembers where things were: every mapping and list knows the line of each key/item,
and duplicate keys (which PyYAML silently overwrites) are recorded so the validator can report them.

Hostile documents are refused while they are composed, before anything is built (issue #15, finding 7):
merge keys (``<<``; PyYAML's safe loader expands ``<<: [*m, *m, ...]`` exponentially: 4.7 KB took 13.8 s and
936 MB), more than :data:`MAX_ALIASES` aliases, more than :data:`MAX_NODES` nodes counting every alias as the
whole subtree it stands for (a "billion laughs" is a small file but a huge tree for anything that walks it),
and nesting deeper than :data:`MAX_DEPTH` (the composer recurses: 20k levels were a RecursionError).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from hostgate.errors import ModelIssue, ModelSyntaxError

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_NODES", "YMap", "YSeq", "parse_yaml"]

MAX_ALIASES = 1000
MAX_NODES = 500_000  # a large real model has a few tens of thousands
MAX_DEPTH = 100  # a model nests about six levels
_MERGE_TAG = "tag:yaml.org,2002:merge"


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
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._expanded = 0  # nodes of the document as a tree: an alias counts as its whole subtree
        self._sizes: dict[int, int] = {}  # id(node) -> its subtree's size, for aliases to it

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        is_alias = self.check_event(AliasEvent)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
        start = self._expanded
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if is_alias:
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name)", mark)
            self._expanded += self._sizes.get(id(node), 1)
        else:
            self._expanded += 1
            if isinstance(node, MappingNode):
                for key_node, _ in node.value:
                    if key_node.tag == _MERGE_TAG:
                        raise ComposerError(
                            None,
                            None,
                            "merge keys (<<) are not accepted in models; write the keys out",
                            key_node.start_mark,
                        )
            if isinstance(node, MappingNode | SequenceNode):
                self._sizes[id(node)] = self._expanded - start
        if self._expanded > MAX_NODES:
            raise ComposerError(None, None, f"more than {MAX_NODES} nodes once aliases are expanded", mark)
        return node


def _mapping(loader: _Loader, node: MappingNode) -> YMap:
    loader.flatten_mapping(node)  # a no-op: compose_node refused merge keys already
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
    except RecursionError:
        raise ModelSyntaxError(f"{source}: not well-formed YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # Scalars the safe loader cannot build (a timestamp like 2001-13-45 raises ValueError).
        raise ModelSyntaxError(f"{source}: not well-formed YAML: {exc}") from None
