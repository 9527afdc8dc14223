"""TextEE's JSON lines (the unified event-extraction toolkit; OneIE and DEGREE files derive from it).

One line per window: the article (``--unit document``) or each sentence (``--unit sentence``),
with ``doc_id``, ``wnd_id``, ``text``, ``lang`` and ``tokens``. Mentions are in tokens, ``end``
exclusive as TextEE has them: ``entity_mentions`` ``{id, entity_type, text, start, end}`` and
``event_mentions`` ``{id, event_type, trigger {text, start, end}, arguments [{entity_id, role,
text, start, end}]}``; an argument points at an entity of its window (a sentence never cuts an
event from its arguments).
"""

from __future__ import annotations

import json
from typing import Any

from ..documents import Doc, rows
from . import _TextFiles


def window(row: dict[str, Any], n: int) -> dict[str, Any]:
    """One hf row (an article or a sentence) as a TextEE window."""
    entities = {
        e["id"]: {"id": e["id"], "entity_type": e["type"], "text": e["text"], "start": e["token_start"], "end": e["token_end"]}
        for e in row["entities"]
    }
    events = [
        {
            "id": ev["id"],
            "event_type": ev["type"],
            "trigger": {"text": ev["trigger"]["text"], "start": ev["trigger"]["token_start"], "end": ev["trigger"]["token_end"]},
            "arguments": [
                {"entity_id": arg["entity_id"], "role": arg["role"], "text": entities[arg["entity_id"]]["text"],
                 "start": entities[arg["entity_id"]]["start"], "end": entities[arg["entity_id"]]["end"]}
                for arg in ev["arguments"]
            ],
        }
        for ev in row.get("events", [])
    ]
    return {
        "doc_id": row["article_id"],
        "wnd_id": f"{row['article_id']}_{n}",
        "text": row["text"],
        "lang": "ar",
        "tokens": row["tokens"],
        "entity_mentions": list(entities.values()),
        "event_mentions": events,
    }


class TexteeWriter(_TextFiles):
    folder, suffix = "textee", ".jsonl"

    def write(self, doc: Doc) -> None:
        f = self.file(doc.split)
        for n, row in enumerate(rows(doc, self.schema, self.unit)):
            f.write(json.dumps(window(row, n), ensure_ascii=False) + "\n")
            self.rows[doc.split] += 1
