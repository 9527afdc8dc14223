"""The labelling schema: read from a YAML file, checked, and turned into Label Studio's config.

The schema file is the single source of truth: the labelling config, the
annotator instructions, validation and export are all generated from it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Any


from .errors import SchemaError
from .labelconfig import (  # noqa: F401  (the schema's Label Studio side, used as schema.label_config(...) everywhere)
    DISPUTES_FIELD,
    DISPUTES_HEADER,
    ENTITY_TAG,
    ROLE_SEPARATOR,
    TEXT_TAG,
    TRIGGER_TAG,
    config_hash,
    instructions_html,
    label_config,
    relation_label,
    review_instructions_html,
    role_of_relation_label,
)
from .strict_yaml import _Source, read_yaml
from .models import Choice, DocumentField, EntityType, EventType, Policy, Problem, Role, Schema

DEFAULT_SCHEMA = Path(__file__).resolve().parent / "schemas" / "ace2005_conflict.yaml"


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_HOTKEY = re.compile(r"^([a-z0-9]|(ctrl|shift|alt)\+[a-z0-9])$")
_ARABIC = re.compile(r"[\u0600-\u06FF]")

_TOP_FIELDS = {"name", "version", "description", "instructions", "policy", "entities", "values", "events", "document"}
_LABEL_FIELDS = {"ar", "description", "color", "hotkey"}
_ROLE_FIELDS = {"ar", "description", "types", "max"}
_DOC_FIELDS = {"ar", "description", "kind", "choices", "required"}
_POLICY_FIELDS = {"allow_overlap", "allow_nested", "labels_per_region"}


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


def _entities(ch: _Checker, top: dict[str, Any], hotkeys: dict[str, str]) -> list[EntityType]:
    """The ``entities`` and ``values`` sections: one type each, names and display names unique."""
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
    return entities


def _events(ch: _Checker, top: dict[str, Any], hotkeys: dict[str, str], type_names: set[str]) -> list[EventType]:
    """The ``events`` section: each type and its roles."""
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
        roles = _roles(ch, entry, field, type_names, role_ar)
        events.append(EventType(roles=tuple(roles), **label))
        displays.append((field, label["ar"]))
    _unique_display(ch, displays, "event")
    return events


def _roles(
    ch: _Checker, entry: dict[str, Any], field: str, type_names: set[str], role_ar: dict[str, tuple[str, str]]
) -> list[Role]:
    """One event type's roles; ``role_ar`` (a role's first Arabic name and where) spans every event type."""
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
    return roles


def _document(ch: _Checker, top: dict[str, Any]) -> list[DocumentField]:
    """The ``document`` section: questions about the whole article."""
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
    return document


def _policy(ch: _Checker, top: dict[str, Any]) -> Policy:
    """The ``policy`` section: what validation allows (overlap, nesting, labels per region)."""
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
    return Policy(**policy_args)


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

    entities = _entities(ch, top, hotkeys)
    type_names = {e.name for e in entities}

    events = _events(ch, top, hotkeys, type_names)
    document = _document(ch, top)
    policy = _policy(ch, top)

    if any(p.severity == "error" for p in ch.problems):
        return None, ch.problems
    schema = Schema(
        name=name,
        version=version,
        description=description,
        entities=tuple(entities),
        events=tuple(events),
        document=tuple(document),
        policy=policy,
        instructions=instructions,
        path=source.path,
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    return schema, ch.problems


def check(path: str | Path) -> list[Problem]:
    """Every problem of a schema file (empty when it is good). Unreadable YAML raises ``SchemaError``."""
    data, source, raw = read_yaml(Path(path))
    return check_data(data, source, raw)[1]


def load(path: str | Path | None = None) -> Schema:
    """Read and check a schema file; raise ``SchemaError`` naming file, line and field when it is bad."""
    path = Path(path) if path is not None else DEFAULT_SCHEMA
    data, source, raw = read_yaml(path)
    schema, problems = check_data(data, source, raw)
    if schema is None:
        listing = "\n".join(f"  {p}" for p in problems)
        raise SchemaError(f"{path}: the schema has {len(problems)} problem(s):\n{listing}", problems)
    return schema
