"""YAML read strictly, with the line of every field: what schema files are read with.

A key given twice, an alias inside what it refers to, an alias bomb, nesting past any schema's
needs and characters YAML cannot read are problems with file and line, never a traceback or a
silent choice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any

import yaml

from .errors import SchemaError
from .models import Problem


# --- reading YAML with line numbers -------------------------------------------


@dataclass
class _Source:
    """The parsed YAML plus the line of every field, so problems can name both."""

    path: str
    lines: dict[str, int]
    problems: list[Problem] = dataclass_field(default_factory=list)  # found while reading, e.g. duplicate keys

    def where(self, field: str) -> str:
        # A missing field has no line of its own: name the line of the entry that lacks it.
        parent = field
        while parent and parent not in self.lines:
            parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", parent)
        line = self.lines.get(parent)
        place = f"{self.path}:{line}" if line else self.path
        return f"{place}: {field}" if field else place


# A schema needs few aliases or none. Aliases are counted as they are composed,
# before anything expands them, so a "billion laughs" file fails at once instead
# of filling memory; each expansion counts the aliases its target repeats.
MAX_ALIAS_EXPANSIONS = 100
# Far deeper than any schema; keeps PyYAML's recursive composer clear of RecursionError.
MAX_DEPTH = 50


class _YamlRefused(Exception):
    """A YAML construct refused while composing; carries its mark and problem code."""

    def __init__(self, mark: yaml.Mark, message: str, code: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.code = code


class _SchemaLoader(yaml.SafeLoader):
    """SafeLoader's composer, guarded against recursive aliases, alias bombs and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_anchors: dict[str, yaml.Mark] = {}  # anchors of collections still being composed
        self._aliases_within: dict[int, int] = {}  # id(node) -> alias expansions inside it
        self._counts: list[int] = []  # alias expansions of each open collection
        self._expansions = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchor = event.anchor
            if anchor in self._open_anchors:
                line = self._open_anchors[anchor].line + 1
                raise _YamlRefused(
                    event.start_mark,
                    f"the alias *{anchor} refers to the entry that contains it (&{anchor} at line {line}),"
                    " so it never ends; write the entry out instead",
                    "yaml.alias-recursive",
                )
            target = self.anchors.get(anchor)
            if target is not None:  # an undefined alias is left to PyYAML's own error
                added = 1 + self._aliases_within.get(id(target), 0)
                self._expansions += added
                if self._counts:
                    self._counts[-1] += added
                if self._expansions > MAX_ALIAS_EXPANSIONS:
                    raise _YamlRefused(
                        event.start_mark,
                        f"aliases expand to more than {MAX_ALIAS_EXPANSIONS} copies (*{anchor} here adds {added});"
                        " a schema needs few or no aliases: write the entries out",
                        "yaml.alias-limit",
                    )
            return super().compose_node(parent, index)
        event = self.peek_event()
        if len(self._counts) >= MAX_DEPTH:
            raise _YamlRefused(
                event.start_mark,
                f"nested more than {MAX_DEPTH} levels deep; a schema needs only a few levels",
                "yaml.too-deep",
            )
        anchor = event.anchor
        collection = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if anchor is not None and collection and anchor not in self.anchors:
            self._open_anchors[anchor] = event.start_mark
        self._counts.append(0)
        try:
            node = super().compose_node(parent, index)
        finally:
            inside = self._counts.pop()
            if anchor is not None and self._open_anchors.get(anchor) is event.start_mark:
                del self._open_anchors[anchor]
        self._aliases_within[id(node)] = inside
        if self._counts:
            self._counts[-1] += inside
        return node


class _Reader:
    """Turns the composed YAML into plain Python, recording each field's line and duplicate keys."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []

    def value(self, node: yaml.Node, field: str) -> Any:
        self.lines.setdefault(field, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                # Keys stay as written: YAML 1.1 would turn a choice named `no` or `on` into a boolean.
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
                child = f"{field}.{key}" if field else str(key)
                line = key_node.start_mark.line + 1
                if key in first_line:
                    # YAML would let the later entry win silently; keep the first and report the second.
                    self.problems.append(
                        Problem(
                            code="yaml.duplicate-key",
                            location=f"{self.path}:{line}: {child}",
                            message=f"the key {key!r} is given twice (first at line {first_line[key]});"
                            " remove one or merge them",
                        )
                    )
                    continue
                first_line[key] = line
                out[key] = self.value(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{field}[{i}]") for i, item in enumerate(node.value)]
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            # An unknown tag (`!foo`) or a malformed typed scalar (`!!int x`) is the user's to fix.
            problem = getattr(exc, "problem", None) or str(exc)
            place = f"{self.path}:{node.start_mark.line + 1}"
            raise SchemaError(f"{place}: {field}: cannot read the value: {problem}") from None
        finally:
            loader.dispose()


# What YAML refuses outright (its printable set, less NEL), and the line breaks other than
# \n and \r that YAML obeys but editors do not show: a NEL in a name would split a line
# the user sees as one and give a misleading YAML message about the next.
_UNREADABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _refuse_unreadable_characters(path: Path, text: str) -> None:
    found = _UNREADABLE.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    char = found.group()
    name = unicodedata.name(char, "") or (
        "a control character" if unicodedata.category(char) == "Cc" else "not a character"
    )
    code = f"U+{ord(char):04X}"
    problem = Problem(
        code="yaml.character",
        location=f"{path}:{line}:{column}",
        message=f"the character {code} ({name}) cannot be in a schema file; delete it (an editor that shows "
        "invisible characters will find it).",
    )
    raise SchemaError(str(problem), [problem])


def read_yaml(path: Path) -> tuple[Any, _Source, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read the schema file ({exc.strerror}).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: the schema file is not UTF-8 (byte {exc.start}); save it as UTF-8.") from None
    _refuse_unreadable_characters(path, text)
    loader = _SchemaLoader(text)
    try:
        node = loader.get_single_node()
    except _YamlRefused as exc:
        problem = Problem(code=exc.code, location=f"{path}:{exc.mark.line + 1}", message=exc.message)
        raise SchemaError(str(problem), [problem]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SchemaError(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    reader = _Reader(str(path))
    data = reader.value(node, "") if node is not None else None
    return data, _Source(str(path), reader.lines, reader.problems), raw


