"""JSON Lines: the hf rows as they are, labels as names (no features to encode them)."""

from __future__ import annotations

import json

from ..documents import Doc, rows
from . import _TextFiles


class JsonlWriter(_TextFiles):
    folder, suffix = "jsonl", ".jsonl"

    def write(self, doc: Doc) -> None:
        f = self.file(doc.split)
        for row in rows(doc, self.schema, self.unit):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.rows[doc.split] += 1
