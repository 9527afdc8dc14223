"""brat standoff: per split a ``.txt`` and ``.ann`` per article, and one ``annotation.conf`` from the schema."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from ...errors import ExportError
from ...files import safe_name
from ...models import Schema, Unit
from ..documents import Doc
from . import Writer


class BratWriter(Writer):
    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        super().__init__(out, schema, unit)
        (out / "brat").mkdir(parents=True)  # split folders come with their first article: none for an empty split
        (out / "brat" / "annotation.conf").write_text(brat_conf(schema), encoding="utf-8")

    def write(self, doc: Doc) -> None:
        article_id = doc.article["article_id"]
        folder = self.out / "brat" / doc.split
        folder.mkdir(exist_ok=True)
        # safe_name gives different ids different names; only a case-insensitive file system
        # (`A1` and `a1`) can still make two meet, so a file is never opened over another one.
        name = safe_name(article_id, "article")
        try:
            txt = open(folder / f"{name}.txt", "x", encoding="utf-8")
        except FileExistsError:
            name = f"{name}-{hashlib.sha256(article_id.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"
            try:
                txt = open(folder / f"{name}.txt", "x", encoding="utf-8")
            except FileExistsError:
                raise ExportError(f"article {article_id!r}: its brat file {folder / name}.txt exists already.") from None
        with txt:
            txt.write(doc.article["text"])
        with open(folder / f"{name}.ann", "x", encoding="utf-8") as ann:
            ann.write(brat_ann(doc))
        self.rows[doc.split] += 1


def brat_type(name: str) -> str:
    """brat separates a type from its trigger with ':', so event types use '_' there."""
    return name.replace(":", "_")


def brat_ann(doc: Doc) -> str:
    lines = []
    t_ids: dict[str, str] = {}
    for e in doc.gold.entities:
        t_ids[e.id] = f"T{len(t_ids) + 1}"
        lines.append(f"{t_ids[e.id]}\t{e.type} {e.start} {e.end}\t{e.text}")
    for n, ev in enumerate(doc.gold.events, start=1):
        tid = f"T{len(t_ids) + 1}"
        t_ids[f"trigger:{ev.id}"] = tid
        lines.append(f"{tid}\t{brat_type(ev.type)} {ev.start} {ev.end}\t{ev.text}")
        seen: Counter[str] = Counter()
        args = []
        for arg in ev.arguments:
            seen[arg.role] += 1
            suffix = "" if seen[arg.role] == 1 else str(seen[arg.role])  # brat numbers repeated roles
            args.append(f"{arg.role}{suffix}:{t_ids[arg.entity_id]}")
        lines.append(f"E{n}\t{brat_type(ev.type)}:{tid}" + "".join(f" {a}" for a in args))
    return "\n".join(lines) + ("\n" if lines else "")


def brat_cardinality(most: int | None) -> str:
    """brat's role suffix for at most ``most`` arguments: ``?`` (0-1), ``{0-N}``, ``*`` (any number)."""
    if most is None:
        return "*"
    return "?" if most == 1 else f"{{0-{most}}}"


def brat_conf(schema: Schema) -> str:
    out = ["[entities]"] + [e.name for e in schema.entities] + ["", "[relations]", "", "[events]"]
    for ev in schema.events:
        roles = ", ".join(f"{r.name}{brat_cardinality(r.max)}:{'|'.join(r.types)}" for r in ev.roles)
        out.append(f"{brat_type(ev.name)}\t{roles}")
    out += ["", "[attributes]", ""]
    return "\n".join(out)
