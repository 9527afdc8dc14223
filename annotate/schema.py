"""The labelling schema: read from a YAML file, checked, and turned into Label Studio's config.

The schema file is the single source of truth: the labelling config, the
annotator instructions, validation and export are all generated from it.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import yaml

from .errors import SchemaError
from .models import Choice, DocumentField, EntityType, EventType, Policy, Problem, Role, Schema

DEFAULT_SCHEMA = Path(__file__).resolve().parent / "schemas" / "ace2005_conflict.yaml"

# Label Studio names of the control tags; annotations and validation refer to them.
ENTITY_TAG = "entity"
TRIGGER_TAG = "trigger"
TEXT_TAG = "text"
# A relation label shows the role and its Arabic name; only the part before the
# separator is read back, so renaming the Arabic never orphans an annotation.
ROLE_SEPARATOR = " · "

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_HOTKEY = re.compile(r"^([a-z0-9]|(ctrl|shift|alt)\+[a-z0-9])$")
_ARABIC = re.compile(r"[\u0600-\u06FF]")

_TOP_FIELDS = {"name", "version", "description", "instructions", "policy", "entities", "values", "events", "document"}
_LABEL_FIELDS = {"ar", "description", "color", "hotkey"}
_ROLE_FIELDS = {"ar", "description", "types", "max"}
_DOC_FIELDS = {"ar", "description", "kind", "choices", "required"}
_POLICY_FIELDS = {"allow_overlap", "allow_nested", "labels_per_region"}


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


def _read_yaml(path: Path) -> tuple[Any, _Source, bytes]:
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


# --- checking -------------------------------------------------------------------


class _Checker:
    def __init__(self, source: _Source) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, field: str, message: str, code: str) -> None:
        self.problems.append(Problem(code=code, location=self.source.where(field), message=message))

    def mapping(self, value: Any, field: str, required: bool = True) -> dict[str, Any]:
        if value is None:
            if required:
                self.add(field, "is missing", "schema.missing")
            return {}
        if not isinstance(value, dict):
            self.add(field, f"must be a mapping of names to fields, not {type(value).__name__}", "schema.type")
            return {}
        return value

    def text(self, entry: dict[str, Any], field: str, key: str, required: bool = True) -> str:
        value = entry.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(f"{field}.{key}", "is missing or empty", "schema.missing")
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.add(f"{field}.{key}", "must be text", "schema.type")
            return ""
        return str(value).strip()

    def display(self, entry: dict[str, Any], field: str) -> str:
        """The Arabic display name ``ar``: what the editor shows, so nothing in it may be invisible."""
        return self.visible(f"{field}.ar", self.text(entry, field, "ar"))

    def visible(self, field: str, ar: str) -> str:
        # Two names that differ only by a bidi control or a zero-width character look the same
        # on every button and in every instruction, yet would count as different labels.
        hidden = sorted({f"U+{ord(c):04X}" for c in ar if unicodedata.category(c) in ("Cf", "Cc")})
        if hidden:
            self.add(
                field,
                f"the display name {ar!r} has the invisible character(s) {', '.join(hidden)}; delete them",
                "schema.invisible",
            )
        return ar

    def unknown(self, entry: dict[str, Any], field: str, known: set[str]) -> None:
        for key in entry:
            if key not in known:
                self.add(
                    f"{field}.{key}" if field else str(key),
                    f"unknown field {key!r} (known: {', '.join(sorted(known))})",
                    "schema.unknown-field",
                )

    def name(self, key: Any, field: str) -> bool:
        if not isinstance(key, str) or not _NAME.match(key):
            self.add(
                field,
                f"the name {key!r} must start with a Latin letter and use only letters, digits and _ . : -",
                "schema.name",
            )
            return False
        return True


def _label(ch: _Checker, key: str, entry: Any, field: str, hotkeys: dict[str, str]) -> dict[str, Any] | None:
    entry = ch.mapping(entry, field)
    if not ch.name(key, field) or not entry:
        return None
    ar = ch.display(entry, field)
    if ar and not _ARABIC.search(ar):
        ch.add(f"{field}.ar", f"the display name {ar!r} has no Arabic letter; annotators read Arabic", "schema.arabic")
    description = ch.text(entry, field, "description")
    color = ch.text(entry, field, "color")
    if color and not _COLOR.match(color):
        ch.add(f"{field}.color", f"{color!r} is not a colour like \"#1f77b4\"", "schema.color")
    hotkey = ch.text(entry, field, "hotkey", required=False) or None
    if hotkey is not None:
        hotkey = hotkey.lower()
        if not _HOTKEY.match(hotkey):
            ch.add(f"{field}.hotkey", f"{hotkey!r} is not a hotkey like \"p\", \"3\" or \"shift+a\"", "schema.hotkey")
        elif hotkey in hotkeys:
            ch.add(f"{field}.hotkey", f"hotkey {hotkey!r} is already used by {hotkeys[hotkey]}", "schema.duplicate")
        else:
            hotkeys[hotkey] = key
    return {"name": key, "ar": ar, "description": description, "color": color, "hotkey": hotkey}


def _unique_display(ch: _Checker, labels: list[tuple[str, str]], what: str) -> None:
    """Arabic names are what Label Studio shows and keys its buttons by: they must differ."""
    seen: dict[str, str] = {}
    for field, ar in labels:
        if ar and ar in seen:
            ch.add(f"{field}.ar", f"{what} display name {ar!r} is also used by {seen[ar]}", "schema.duplicate")
        elif ar:
            seen[ar] = field


def check_data(data: Any, source: _Source, raw: bytes = b"") -> tuple[Schema | None, list[Problem]]:
    """Check parsed schema data; return the schema (when there is no error) and every problem found."""
    ch = _Checker(source)
    ch.problems.extend(source.problems)
    top = ch.mapping(data, "")
    if not top:
        if data is not None and isinstance(data, dict):
            ch.add("", "the schema is empty", "schema.missing")
        return None, ch.problems
    ch.unknown(top, "", _TOP_FIELDS)
    name = ch.text(top, "", "name")
    if name and not _NAME.match(name):
        ch.add("name", f"{name!r} must start with a Latin letter and use only letters, digits and _ . : -", "schema.name")
    version = ch.text(top, "", "version", required=False) or "1"
    description = ch.text(top, "", "description")
    instructions = ch.text(top, "", "instructions", required=False)
    hotkeys: dict[str, str] = {}

    entities: list[EntityType] = []
    displays: list[tuple[str, str]] = []
    for section, kind in (("entities", "entity"), ("values", "value")):
        block = ch.mapping(top.get(section), section, required=section == "entities")
        if section == "entities" and "entities" in top and not block:
            ch.add("entities", "needs at least one entity type", "schema.missing")
        for key, entry in block.items():
            field = f"{section}.{key}"
            if isinstance(entry, dict):
                ch.unknown(entry, field, _LABEL_FIELDS)
            label = _label(ch, key, entry, field, hotkeys)
            if label is None:
                continue
            if any(e.name == key for e in entities):
                ch.add(field, f"type {key!r} is defined twice", "schema.duplicate")
                continue
            entities.append(EntityType(kind=kind, **label))  # type: ignore[arg-type]
            displays.append((field, label["ar"]))
    _unique_display(ch, displays, "entity")
    type_names = {e.name for e in entities}

    events: list[EventType] = []
    role_ar: dict[str, tuple[str, str]] = {}
    displays = []
    for key, entry in ch.mapping(top.get("events"), "events", required=False).items():
        field = f"events.{key}"
        if isinstance(entry, dict):
            ch.unknown(entry, field, _LABEL_FIELDS | {"roles"})
        label = _label(ch, key, entry, field, hotkeys)
        if label is None:
            continue
        if key in type_names:
            ch.add(field, f"{key!r} is already an entity type; event types need their own names", "schema.duplicate")
        roles: list[Role] = []
        for role_key, role_entry in ch.mapping(entry.get("roles"), f"{field}.roles").items():
            role_field = f"{field}.roles.{role_key}"
            role_entry = ch.mapping(role_entry, role_field)
            if not ch.name(role_key, role_field) or not role_entry:
                continue
            ch.unknown(role_entry, role_field, _ROLE_FIELDS)
            ar = ch.display(role_entry, role_field)
            # Relation labels are global in Label Studio: one role, one display name.
            if ar and role_key in role_ar and role_ar[role_key][0] != ar:
                ch.add(
                    f"{role_field}.ar",
                    f"role {role_key} is called {role_ar[role_key][0]!r} in {role_ar[role_key][1]};"
                    " a role must have one Arabic name in every event type",
                    "schema.role-name",
                )
            elif ar:
                role_ar.setdefault(role_key, (ar, field))
            types = role_entry.get("types")
            if not isinstance(types, list) or not types:
                ch.add(f"{role_field}.types", "needs a list of the entity types this role may take", "schema.missing")
                types = []
            for i, t in enumerate(types):
                if t not in type_names:
                    ch.add(
                        f"{role_field}.types[{i}]",
                        f"unknown entity type {t!r} (known: {', '.join(sorted(type_names))})",
                        "schema.unknown-type",
                    )
            max_ = role_entry.get("max")
            if max_ is not None and (not isinstance(max_, int) or isinstance(max_, bool) or max_ < 1):
                ch.add(f"{role_field}.max", f"must be a whole number of at least 1, not {max_!r}", "schema.type")
                max_ = None
            roles.append(
                Role(
                    name=role_key,
                    ar=ar,
                    types=tuple(str(t) for t in types),
                    description=ch.text(role_entry, role_field, "description", required=False),
                    max=max_,
                )
            )
        events.append(EventType(roles=tuple(roles), **label))
        displays.append((field, label["ar"]))
    _unique_display(ch, displays, "event")

    document: list[DocumentField] = []
    for key, entry in ch.mapping(top.get("document"), "document", required=False).items():
        field = f"document.{key}"
        entry = ch.mapping(entry, field)
        if not ch.name(key, field) or not entry:
            continue
        if key in (ENTITY_TAG, TRIGGER_TAG, TEXT_TAG):
            ch.add(field, f"{key!r} is reserved for the text and its labels; choose another name", "schema.name")
        ch.unknown(entry, field, _DOC_FIELDS)
        kind = entry.get("kind", "single")
        if kind not in ("single", "multiple", "text"):
            ch.add(f"{field}.kind", f"must be single, multiple or text, not {kind!r}", "schema.type")
            kind = "single"
        choices: list[Choice] = []
        if kind != "text":
            block = ch.mapping(entry.get("choices"), f"{field}.choices")
            for choice_key, choice_ar in block.items():
                if ch.name(choice_key, f"{field}.choices.{choice_key}"):
                    if not isinstance(choice_ar, str) or not choice_ar.strip():
                        ch.add(f"{field}.choices.{choice_key}", "needs its Arabic display text", "schema.missing")
                        continue
                    choices.append(Choice(name=choice_key, ar=ch.visible(f"{field}.choices.{choice_key}", choice_ar.strip())))
            _unique_display(ch, [(f"{field}.choices.{c.name}", c.ar) for c in choices], "choice")
        required = entry.get("required", False)
        if not isinstance(required, bool):
            ch.add(f"{field}.required", "must be true or false", "schema.type")
            required = False
        document.append(
            DocumentField(
                name=key,
                ar=ch.display(entry, field),
                description=ch.text(entry, field, "description", required=False),
                kind=kind,
                choices=tuple(choices),
                required=required,
            )
        )

    policy_data = ch.mapping(top.get("policy"), "policy", required=False)
    ch.unknown(policy_data, "policy", _POLICY_FIELDS)
    policy_args: dict[str, Any] = {}
    for key in ("allow_overlap", "allow_nested"):
        if key in policy_data:
            if isinstance(policy_data[key], bool):
                policy_args[key] = policy_data[key]
            else:
                ch.add(f"policy.{key}", "must be true or false", "schema.type")
    if "labels_per_region" in policy_data:
        value = policy_data["labels_per_region"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            policy_args["labels_per_region"] = value
        else:
            ch.add("policy.labels_per_region", f"must be a whole number of at least 1, not {value!r}", "schema.type")

    if any(p.severity == "error" for p in ch.problems):
        return None, ch.problems
    schema = Schema(
        name=name,
        version=version,
        description=description,
        entities=tuple(entities),
        events=tuple(events),
        document=tuple(document),
        policy=Policy(**policy_args),
        instructions=instructions,
        path=source.path,
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    return schema, ch.problems


def check(path: str | Path) -> list[Problem]:
    """Every problem of a schema file (empty when it is good). Unreadable YAML raises ``SchemaError``."""
    data, source, raw = _read_yaml(Path(path))
    return check_data(data, source, raw)[1]


def load(path: str | Path | None = None) -> Schema:
    """Read and check a schema file; raise ``SchemaError`` naming file, line and field when it is bad."""
    path = Path(path) if path is not None else DEFAULT_SCHEMA
    data, source, raw = _read_yaml(path)
    schema, problems = check_data(data, source, raw)
    if schema is None:
        listing = "\n".join(f"  {p}" for p in problems)
        raise SchemaError(f"{path}: the schema has {len(problems)} problem(s):\n{listing}", problems)
    return schema


# --- the Label Studio labelling config ------------------------------------------


def _attrs(**attrs: Any) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = {"to_name": "toName", "show_alias": "showAlias", "show_inline": "showInline"}.get(key, key)
        parts.append(f"{name}={quoteattr('true' if value is True else str(value))}")
    return " ".join(parts)


def relation_label(schema: Schema, role: str) -> str:
    """The relation label Label Studio shows and stores for a role."""
    for event in schema.events:
        found = event.role(role)
        if found is not None:
            return f"{found.name}{ROLE_SEPARATOR}{found.ar}"
    raise SchemaError(f"schema {schema.name!r} has no role {role!r}; its roles: {', '.join(schema.role_names)}")


def role_of_relation_label(label: str) -> str:
    """The role name stored in a relation label (inverse of ``relation_label``)."""
    return label.split(ROLE_SEPARATOR, 1)[0].strip()


# Class names of the generated config, for its <Style> and for tests that look at the editor.
_LABEL_BAR_CLASS = "annotate-label-bar"
_ARTICLE_CLASS = "rtl-article"

# Label Studio gives every Choice without a hotkey the first of these keys not yet taken, in
# config order (Hotkey.makeComb in the editor). The config writes those keys out, so what the
# instructions list is what the editor binds.
_AUTO_HOTKEYS = "1234567890qwetasdfgzxcvbyiopjklnm"

# The editor's label CSS is written for left-to-right: in a right-to-left bar the hotkey's
# margin falls on its outer side and the key touches the code ("pPER", "lLOC" read as "ILOC").
# These rules draw the key as a key cap apart from the code (the alias span, isolated so
# "Conflict:Attack" keeps its order). The editor's text box sets its own small font and line
# height over the article's; a taller line leaves room for relation arrows between lines. The
# bar stays in view while a long article scrolls (.lsf-main-content is the editor's scrolling
# box), above the relation arrows (.relations-overlay, z-index 100), and the article keeps room
# above its first line for the arrows drawn there. Label Studio passes this text through an
# HTML sanitizer, which would escape any "<", ">" or "&": none are used.
_EDITOR_CSS = f"""
.{_ARTICLE_CLASS} {{ direction: rtl; text-align: right; padding-top: 24px; }}
.{_ARTICLE_CLASS} .lsf-richtext__container {{ font-size: 18px; line-height: 2.4; }}
.{_LABEL_BAR_CLASS} {{ position: sticky; top: 0; z-index: 150; padding: 6px 0 2px;
  background: var(--color-neutral-surface, #fff); border-bottom: 1px solid rgba(127, 127, 127, 0.4); }}
.{_LABEL_BAR_CLASS} .lsf-labels {{ margin: 0 0 4px; }}
.{_LABEL_BAR_CLASS} .lsf-label {{ margin: 0 0 6px; margin-inline-end: 8px; border-left: 0;
  border-right: 4px solid var(--color); }}
.{_LABEL_BAR_CLASS} .lsf-label__text span {{ font-family: monospace; font-size: 13px; unicode-bidi: isolate; }}
.{_LABEL_BAR_CLASS} .lsf-label__hotkey {{ margin: 0; margin-inline-start: 10px; padding: 0 6px;
  border: 1px solid currentColor; border-radius: 4px; font-family: monospace; font-size: 13px;
  line-height: 18px; text-transform: uppercase; unicode-bidi: isolate; }}
.lsf-choice .lsf-hint {{ margin-inline-start: 4px; font-family: monospace; text-transform: uppercase;
  unicode-bidi: isolate; }}
"""


def _choice_hotkeys(schema: Schema) -> dict[tuple[str, str], str]:
    """(field, choice) -> the key Label Studio gives it: the first free key, in config order."""
    taken = {x.hotkey for x in (*schema.entities, *schema.events) if x.hotkey}
    free = (k for k in _AUTO_HOTKEYS if k not in taken)
    return {(doc.name, c.name): key for doc in schema.document for c, key in zip(doc.choices, free)}


def _label_tag(x: EntityType | EventType, hint: str) -> str:
    attrs = _attrs(value=x.ar, alias=x.name, show_alias=True, hint=hint, background=x.color, hotkey=x.hotkey)
    return f"        <Label {attrs}/>"


# The review project's tasks carry what the annotators did not agree on, one item a line (adjudicate.py).
DISPUTES_FIELD = "disputes"
_DISPUTES_CLASS = "annotate-disputes"
_DISPUTES_STYLE = (
    "direction: ltr; text-align: left; unicode-bidi: isolate; white-space: pre-wrap; margin: 6px 0;"
    " padding: 6px 10px; border: 1px solid rgba(127, 127, 127, 0.6); border-radius: 4px"
)
DISPUTES_HEADER = "ما لم يتفق عليه الموسِّمون (راجِعه في النص، وأبقِ ما سواه كما هو)"


def label_config(schema: Schema, *, review: bool = False) -> str:
    """Label Studio's XML labelling config for the schema; ``review``: the review project's, with the disputes listed.

    Entities and event triggers are two label sets on the same text, so a
    trigger may overlap an entity; arguments are relations from trigger to
    entity labelled with their role. The value shown is Arabic, the alias
    (what annotations store) is the schema name. Both label sets sit in a bar
    that stays at the top while the article scrolls.
    """
    multiple = "multiple" if schema.policy.labels_per_region > 1 else "single"
    lines = [
        "<View>",
        f"  <Style>{_EDITOR_CSS}</Style>",
        '  <View style="direction: rtl; text-align: right">',
        '    <Header value="$title" size="4"/>',
        *(
            [
                f"    <View {_attrs(className=_DISPUTES_CLASS)}>",
                f"      <Header {_attrs(value=DISPUTES_HEADER, size='6')}/>",
                f"      <View {_attrs(style=_DISPUTES_STYLE)}><Text {_attrs(name=DISPUTES_FIELD, value='$' + DISPUTES_FIELD)}/></View>",
                "    </View>",
            ]
            if review
            else []
        ),
        f'    <View className="{_LABEL_BAR_CLASS}">',
        f"      <Labels {_attrs(name=ENTITY_TAG, to_name=TEXT_TAG, choice=multiple, show_inline=True)}>",
    ]
    lines += [_label_tag(e, f"{e.name}: {e.description}") for e in schema.entities]
    lines.append("      </Labels>")
    if schema.events:
        lines.append(f"      <Labels {_attrs(name=TRIGGER_TAG, to_name=TEXT_TAG, choice=multiple, show_inline=True)}>")
        for ev in schema.events:
            roles = ", ".join(f"{r.ar} ({r.name})" for r in ev.roles)
            lines.append(_label_tag(ev, f"{ev.name}: {ev.description} — {roles}"))
        lines.append("      </Labels>")
    lines.append("    </View>")
    if schema.events:
        lines.append('    <Relations choice="single">')
        for role in schema.role_names:
            lines.append(f"      <Relation {_attrs(value=relation_label(schema, role))}/>")
        lines.append("    </Relations>")
    lines.append(f'    <View className="{_ARTICLE_CLASS}">')
    lines.append(f"      <Text {_attrs(name=TEXT_TAG, value='$text', granularity='symbol')}/>")
    lines.append("    </View>")
    keys = _choice_hotkeys(schema)
    for doc in schema.document:
        lines.append(f"    <Header {_attrs(value=doc.ar, size='6')}/>")
        if doc.kind == "text":
            lines.append(
                f"    <TextArea {_attrs(name=doc.name, to_name=TEXT_TAG, required=doc.required, maxSubmissions=1, editable=True)}/>"
            )
            continue
        lines.append(
            f"    <Choices {_attrs(name=doc.name, to_name=TEXT_TAG, choice=doc.kind, required=doc.required, show_inline=True)}>"
        )
        for c in doc.choices:
            lines.append(f"      <Choice {_attrs(value=c.ar, alias=c.name, hotkey=keys.get((doc.name, c.name)))}/>")
        lines.append("    </Choices>")
    lines.append("  </View>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def config_hash(config: str) -> str:
    return hashlib.sha256(config.encode("utf-8")).hexdigest()


# The instructions are shown as raw HTML in Label Studio's modal (about 600 px wide), so they
# bring their own style, scoped to their class: ruled, padded tables and key caps like those of
# the label bar. The colours are translucent greys, readable in the light and the dark theme.
_GUIDE_CLASS = "annotate-guide"
_GUIDE_CSS = f"""<style>
.{_GUIDE_CLASS} {{ direction: rtl; text-align: right; line-height: 1.7; }}
.{_GUIDE_CLASS} table {{ border-collapse: collapse; width: 100%; margin: 6px 0 14px; }}
.{_GUIDE_CLASS} th, .{_GUIDE_CLASS} td {{ border: 1px solid rgba(127, 127, 127, 0.6); padding: 5px 8px;
  text-align: right; vertical-align: top; }}
.{_GUIDE_CLASS} th {{ background: rgba(127, 127, 127, 0.15); }}
.{_GUIDE_CLASS} td table {{ margin: 4px 0 0; }}
.{_GUIDE_CLASS} kbd {{ display: inline-block; min-width: 1em; padding: 0 6px; border: 1px solid currentColor;
  border-radius: 4px; font-family: monospace; font-size: 0.9em; line-height: 1.5; text-align: center; }}
.{_GUIDE_CLASS} ol {{ list-style: decimal; padding-inline-start: 1.6em; margin: 4px 0 10px; }}
.{_GUIDE_CLASS} li {{ margin-bottom: 4px; }}
.{_GUIDE_CLASS} h3 {{ margin: 14px 0 4px; }}
</style>"""
# A code, a list of codes or an English UI name inside Arabic text ("ACE 2005", "GPE, LOC, FAC",
# "Conflict:Attack"): isolated left to right, or the bidi algorithm reorders it with its neighbours.
_LATIN_RUN = re.compile(r"[A-Za-z][\w.:+\-]*(?:[ ,·]+[A-Za-z0-9][\w.:+\-]*)*", re.ASCII)


def _ltr(text: str) -> str:
    return f'<bdi dir="ltr">{html.escape(text)}</bdi>'


def _rtl(text: str) -> str:
    """Escaped Arabic text whose Latin runs are isolated left to right."""
    out: list[str] = []
    last = 0
    for m in _LATIN_RUN.finditer(text):
        out += [html.escape(text[last : m.start()]), _ltr(m.group())]
        last = m.end()
    return "".join(out) + html.escape(text[last:])


def _key_name(hotkey: str) -> str:
    """A hotkey as printed on the keyboard: "l" -> "L", "shift+a" -> "Shift+A", "backspace" -> "Backspace"."""
    return "+".join(part.upper() if len(part) == 1 else part.capitalize() for part in hotkey.split("+"))


def _kbd(hotkey: str | None) -> str:
    return f'<kbd dir="ltr">{html.escape(_key_name(hotkey))}</kbd>' if hotkey else ""


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>"


def _table(head: list[str], rows: list[str]) -> str:
    """A ruled table: Arabic head cells, rows already HTML (see ``_row``)."""
    return "\n".join([f"<table>{_row([html.escape(h) for h in head], 'th')}", *rows, "</table>"])


def _steps(items: list[str]) -> str:
    return "<ol>" + "".join(f"<li>{item}</li>" for item in items) + "</ol>"


def _roles_row(schema: Schema, event: EventType) -> str:
    """The roles of an event under its row: as the relation list shows them, and the types they take."""
    rows = []
    for role in event.roles:
        at_most = " (مرة واحدة على الأكثر)" if role.max == 1 else (f" (على الأكثر {role.max})" if role.max else "")
        rows.append(_row([_ltr(relation_label(schema, role.name)) + at_most, _ltr(", ".join(role.types))]))
    title = f"أدوار «{html.escape(event.ar)}»: الدور كما في قائمة {_ltr('Select labels')}، والأنواع التي يأخذها"
    return f'<tr><td colspan="4">{title}<table>{"".join(rows)}</table></td></tr>'


def instructions_html(schema: Schema) -> str:
    """Annotator instructions (shown by Label Studio before and during labelling), from the schema.

    Every step is what Label Studio 1.23's editor does (tests/test_browser.py follows them); in
    particular a label is chosen before the text is selected, never after.
    """
    out = [f'<div class="{_GUIDE_CLASS}" dir="rtl" lang="ar">', _GUIDE_CSS, f"<h2>{_rtl(schema.description)}</h2>"]
    if schema.instructions:
        out.append("".join(f"<p>{_rtl(p)}</p>" for p in schema.instructions.split("\n\n")))
    keyed = next((x for x in schema.entities if x.hotkey), None)
    key_example = f" (مثل {_kbd(keyed.hotkey)} لتسمية {html.escape(keyed.ar)})" if keyed else ""
    out.append("<h3>طريقة الوسم</h3>")
    out.append(
        _steps(
            [
                "<b>التسمية أولاً ثم التظليل:</b> انقر التسمية في الشريط أعلى المقال أو اضغط مفتاحها،"
                " ثم ظلّل الكلمات بالفأرة. أما تظليل الكلمات قبل اختيار التسمية فلا يُنشئ شيئاً.",
                "تُلغى التسمية بعد كل تظليل، فاخترها من جديد قبل كل ذكر.",
                f"على كل زر في الشريط الاسمُ العربي ثم الرمز اللاتيني ثم المفتاح في مربع{key_example}."
                f" اضغط المفتاح وحده بلا {_ltr('Shift')}؛ ويعمل كذلك والتخطيط العربي مفعّل (المفتاح نفسه على"
                " لوحة المفاتيح).",
                "يبقى شريط التسميات ظاهراً أعلى المقال مهما نزلت في المقال الطويل.",
                "لتغيير تسمية ذكرٍ انقره في النص ثم انقر التسمية الصحيحة. ولحذفه انقره ثم اضغط"
                f" {_kbd('backspace')}.",
                "يجوز أن تتداخل الكيانات ومحفِّزات الأحداث، وأن يقع ذكر داخل ذكر: اختر التسمية ثم ظلّل"
                " داخل الذكر الموجود.",
                "لا تُدخل في التظليل المسافات ولا علامات الترقيم في الطرفين؛ أما السوابق المتصلة"
                " (و، ف، ب، ل، ك، ال) فتبقى خارج الكيان إلا إذا كانت جزءاً من الاسم.",
            ]
        )
    )
    out.append("<h3>الكيانات والقيم</h3>")
    rows = [_row([html.escape(e.ar), _ltr(e.name), _kbd(e.hotkey), _rtl(e.description)]) for e in schema.entities]
    out.append(_table(["التسمية", "الرمز", "المفتاح", "الوصف"], rows))
    if schema.events:
        relations = _ltr("Relations")
        out.append("<h3>الأحداث ومشاركوها</h3>")
        out.append(
            _steps(
                [
                    "اختر نوع الحدث ثم ظلّل الكلمة التي تدل على وقوعه (المحفِّز).",
                    f"لكل مشارك: انقر المحفِّز في النص (أو في لسان {_ltr('Regions')} على اليمين)، ثم اضغط"
                    f" {_kbd('alt+r')} أو انقر زر الربط في لسان {_ltr('Info')} (أقصى اليسار تحت المحفِّز،"
                    f" وتلميحه {_ltr('Create relation between regions')})، ثم انقر الكيان. يظهر سهم من المحفِّز"
                    " إلى الكيان.",
                    f"ثم حدّد دوره: افتح لسان {relations} على اليمين، ومرّر الفأرة فوق العلاقة وانقر زر «…»"
                    f" الذي يظهر، واختر الدور من قائمة {_ltr('Select labels')}. يظهر الدور في القائمة برمزه"
                    " ثم باسمه العربي كما في الجدول أدناه.",
                    "إذا كان للمحفِّز مشاركان متقاربان تراكبت أسماء أدوارهما فوق النص، ولا تغيّر ذلك إعدادات"
                    f" المشروع. اقرأ الأدوار عندئذ في لسان {relations}: كل مشارك في سطر وتحته دوره، وزر العين"
                    " بجانبه يُخفي سهمه.",
                ]
            )
        )
        rows = []
        for ev in schema.events:
            rows.append(_row([html.escape(ev.ar), _ltr(ev.name), _kbd(ev.hotkey), _rtl(ev.description)]))
            rows.append(_roles_row(schema, ev))
        out.append(_table(["الحدث", "الرمز", "المفتاح", "الوصف"], rows))
    if schema.document:
        keys = _choice_hotkeys(schema)
        out.append("<h3>أسئلة عن المقال كله</h3>")
        if keys:
            example = f" (مثل [{html.escape(_key_name(next(iter(keys.values()))))}])"
            out.append(
                f"<p>تحت المقال. انقر الجواب أو اضغط مفتاحه، ويظهر المفتاح بين قوسين بعد الجواب{example}؛"
                " ويعمل المفتاح دون النزول إلى السؤال.</p>"
            )
        rows = []
        for doc in schema.document:
            if doc.kind == "text":
                answers = "نص حر يُكتب في المربع"
            else:
                how = "جواب واحد" if doc.kind == "single" else "كل ما ينطبق"
                answers = f"{how}:<br>" + "<br>".join(
                    f"{html.escape(c.ar)} {_kbd(keys.get((doc.name, c.name)))}" for c in doc.choices
                )
            required = " <b>(إلزامي)</b>" if doc.required else ""
            rows.append(_row([html.escape(doc.ar) + required, answers, _rtl(doc.description)]))
        out.append(_table(["السؤال", "الأجوبة ومفاتيحها", "ملاحظة"], rows))
    out.append(
        f"<p>حين تنتهي انقر {_ltr('Submit')} أسفل الصفحة. وهذه التعليمات متاحة أثناء الوسم من زر"
        f" {_ltr('Instructions')} أعلى الصفحة.</p>"
    )
    out.append("</div>")
    return "\n".join(out)


def review_instructions_html(schema: Schema) -> str:
    """The review project's instructions: what a reviewer does, then the annotators' guide they judge by.

    What it says is what annotate does with the result: a reviewer's submitted annotation in
    the review project is the decision (gold) by itself, so no star (ground truth) is asked for.
    """
    steps = _steps([
        f"تبدأ من نتيجة الدمج ({_ltr('annotate: majority merge')}): ما اتفقت عليه أغلبية الموسِّمين موسوم مسبقاً.",
        "فوق المقال قائمة بما لم يتفق عليه الموسِّمون، بنداً في كل سطر: راجع كل بند في النص.",
        f"نسخة كل موسِّم في قائمة {_ltr('Predictions')} باسمه المستعار ({_ltr('annotator A')}،"
        f" {_ltr('annotator B')}...): اخترها لتراها، ثم عد إلى نتيجة الدمج لتصححها.",
        "صحِّح البنود المختلف فيها فقط، وأبقِ ما سواها كما هو.",
        f"انقر {_ltr('Submit')}: ما ترسله هو القرار، ويصبح البيانات الذهبية لهذا المقال. لا حاجة إلى النجمة"
        f" ({_ltr('ground truth')}). ولا يُحتسب ما يرسله في هذا المشروع أحد غير المراجعين.",
    ])
    guide = instructions_html(schema)
    return f'<div class="{_GUIDE_CLASS}" dir="rtl" lang="ar"><h2>تعليمات المراجعة</h2>{steps}</div>\n{guide}'
