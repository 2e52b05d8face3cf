"""YAML with positions: parse once, keep the node tree so errors can name file:line:column."""

from __future__ import annotations

from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse(text: str) -> tuple[Any, yaml.Node | None]:
    """Python data and the root node; raises yaml.YAMLError (with a mark) on bad YAML."""
    root = yaml.compose(text, Loader=_UniqueKeyLoader)
    if root is None:
        return None, None
    loader = _UniqueKeyLoader(text)
    try:
        return loader.construct_document(root), root
    finally:
        loader.dispose()


def position(root: yaml.Node | None, path: tuple[str | int, ...]) -> tuple[int, int]:
    """1-based line and column of the deepest node along `path` that exists."""
    node = root
    mark = root.start_mark if root is not None else None
    for step in path:
        child = _child(node, step)
        if child is None:
            break
        node, mark = child[1], child[0]
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _child(node: yaml.Node | None, step: str | int) -> tuple[yaml.Mark, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step):
                return key.start_mark, value
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        item = node.value[step]
        return item.start_mark, item
    return None
