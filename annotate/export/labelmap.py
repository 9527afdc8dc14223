"""``export --label-map FILE``: the schema's entity types mapped to another label set, in every format.

The file is a YAML mapping of each of the schema's entity types to a label of the other set
(``GPE: LOC``), or to ``O`` to leave that type's mentions out (``TIME: O``); arguments that point
at a mention left out go with it. Every type must be mapped, so that nothing changes by omission.
Events keep their types. The export's features, tags and card then speak of the mapped labels;
agreement figures stay in the schema's types (they measure how the gold was made).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from ..errors import ExportError
from ..models import Annotation, EntityType, Schema

OUTSIDE = "O"
LABEL = re.compile(r"[^\s]+")  # a label is one token of a tag column: no white space


@dataclass(frozen=True)
class LabelMap:
    path: str
    sha256: str
    mapping: dict[str, str]  # schema entity type -> label, or OUTSIDE

    def describe(self) -> str:
        return ", ".join(f"{ours} → {theirs}" for ours, theirs in self.mapping.items())


def read_label_map(path: str | Path, schema: Schema) -> LabelMap:
    """The label map in ``path`` for ``schema``; refused with a message naming what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"--label-map {path}: cannot read it ({exc.strerror}).") from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExportError(f"--label-map {path}: not a YAML file annotate can read ({str(exc).splitlines()[0]}).",
                          "Write one line per entity type, like `GPE: LOC`.") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ExportError(f"--label-map {path}: give a mapping of entity types to labels, one per line, like `GPE: LOC`.")
    types = [e.name for e in schema.entities]
    unknown = [k for k in data if k not in types]
    if unknown:
        raise ExportError(f"--label-map {path}: {', '.join(unknown)} is not an entity type of schema {schema.name!r}"
                          f" (its types: {', '.join(types)}).")
    unmapped = [t for t in types if t not in data]
    if unmapped:
        raise ExportError(f"--label-map {path}: no label for {', '.join(unmapped)}; map every entity type"
                          f" (to {OUTSIDE} to leave its mentions out).")
    bad = [v for v in data.values() if not LABEL.fullmatch(v)]
    if bad:
        raise ExportError(f"--label-map {path}: {bad[0]!r} cannot be a label (empty, or with white space).")
    return LabelMap(str(path), hashlib.sha256(raw).hexdigest(), {t: data[t] for t in types})


def map_schema(schema: Schema, labels: LabelMap) -> Schema:
    """The schema with the mapped labels as its entity types, each once, in the order first mapped to."""
    mapped: dict[str, list[EntityType]] = {}
    for e in schema.entities:
        if labels.mapping[e.name] != OUTSIDE:
            mapped.setdefault(labels.mapping[e.name], []).append(e)
    entities = tuple(
        EntityType(name=label, ar=" / ".join(e.ar for e in sources), description="from " + ", ".join(e.name for e in sources),
                   color=sources[0].color, kind=sources[0].kind)
        for label, sources in mapped.items()
    )
    events = tuple(
        replace(ev, roles=tuple(replace(r, types=_mapped_types(r.types, labels)) for r in ev.roles)) for ev in schema.events
    )
    return replace(schema, entities=entities, events=events)


def _mapped_types(types: tuple[str, ...], labels: LabelMap) -> tuple[str, ...]:
    mapped = [labels.mapping.get(t, t) for t in types]
    return tuple(dict.fromkeys(t for t in mapped if t != OUTSIDE))


def map_annotation(annotation: Annotation, labels: LabelMap) -> tuple[Annotation, int]:
    """The annotation in the mapped labels, and how many entity mentions it left out (mapped to ``O``)."""
    kept = [e for e in annotation.entities if labels.mapping.get(e.type, e.type) != OUTSIDE]
    ids = {e.id for e in kept}
    events = tuple(replace(ev, arguments=tuple(a for a in ev.arguments if a.entity_id in ids)) for ev in annotation.events)
    entities = tuple(replace(e, type=labels.mapping.get(e.type, e.type)) for e in kept)
    return replace(annotation, entities=entities, events=events), len(annotation.entities) - len(kept)
