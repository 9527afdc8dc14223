"""Wojood's nested layout (SinaLab/ArabicNER): a token a line, then one IOB2 column per nesting level.

Outermost level first; as many columns as the deepest nesting of the whole export (shallower
articles are padded with ``O``, so every line of every split has the same columns); a blank line
after each sentence. Entities only: Wojood has no events. A mention that overlaps another without
either holding the other fits no column; the export counts it (``ExportStats.entities_crossing``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ...models import Schema, Unit
from ..documents import Doc
from . import _TextFiles


class WojoodWriter(_TextFiles):
    folder, suffix = "wojood", ".txt"

    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        super().__init__(out, schema, unit)
        self.depth = 1

    def write(self, doc: Doc) -> None:
        # Written as deep as this article; padded to the deepest when every article is in (close).
        columns = doc.nested_tags
        self.depth = max(self.depth, len(columns))
        lines = []
        for t0, t1 in doc.sentences:
            for t, token in enumerate(doc.tokens.texts(t0, t1), start=t0):
                lines.append("\t".join([token, *(column[t] for column in columns)]))
            lines.append("")
        self.file(doc.split).write("\n".join(lines) + "\n")
        self.rows[doc.split] += 1

    def close(self) -> dict[str, int]:
        rows = super().close()
        for path in (self.out / self.folder).iterdir():
            padded = path.with_name(path.name + ".padded")
            with open(path, encoding="utf-8") as src, open(padded, "w", encoding="utf-8") as dst:
                for line in src:
                    line = line.rstrip("\n")
                    if line:
                        line += "\tO" * (self.depth + 1 - len(line.split("\t")))
                    dst.write(line + "\n")
            os.replace(padded, path)
        return rows
