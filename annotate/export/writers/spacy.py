"""spaCy: a ``DocBin`` per split (``spacy/{split}.spacy``), our tokens as the Doc's words.

Every entity mention is a span of ``doc.spans["entities"]`` (nested and overlapping ones too);
``doc.ents`` holds those BIO holds (``in_bio``), since spaCy's ents cannot overlap; event
triggers are ``doc.spans["triggers"]`` (arguments have no place in a Doc and are left out: the
other formats keep them). ``doc.user_data`` keeps ``article_id``, ``id`` and ``split``. spaCy is an
optional extra (``pip install annotate[spacy]``), imported only by this format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ExportError
from ...models import Schema, Unit
from ..documents import Doc, rows
from . import Writer

SPAN_KEYS = ("entities", "triggers")


def _spacy() -> Any:
    try:
        import spacy
    except ImportError:
        raise ExportError(
            "--format spacy needs spaCy, which is not installed.", "Install it: `pip install 'annotate[spacy]'` (or `pip install spacy`)."
        ) from None
    return spacy


class SpacyWriter(Writer):
    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        super().__init__(out, schema, unit)
        spacy = _spacy()
        from spacy.tokens import DocBin

        self.nlp = spacy.blank("ar")  # the Arabic language class spaCy ships: a vocabulary, no model
        self.bins: dict[str, Any] = {}
        self.doc_bin = lambda: DocBin(store_user_data=True)
        (out / "spacy").mkdir(parents=True)

    def write(self, doc: Doc) -> None:
        from spacy.tokens import Doc as SpacyDoc

        for row in rows(doc, self.schema, self.unit):
            starts, ends = row["token_starts"], row["token_ends"]
            spaces = [end < start for end, start in zip(ends, starts[1:])] + [False]
            made = SpacyDoc(self.nlp.vocab, words=row["tokens"], spaces=spaces)
            entities = [made[e["token_start"] : e["token_end"]] for e in row["entities"]]
            for span, e in zip(entities, row["entities"]):
                span.label_ = e["type"]
            made.spans["entities"] = entities
            made.ents = [span for span, e in zip(entities, row["entities"]) if e["in_bio"]]
            triggers = [made[ev["trigger"]["token_start"] : ev["trigger"]["token_end"]] for ev in row.get("events", [])]
            for span, ev in zip(triggers, row.get("events", [])):
                span.label_ = ev["type"]
            made.spans["triggers"] = triggers
            made.user_data.update({"article_id": row["article_id"], "id": row["id"], "split": doc.split})
            self.bins.setdefault(doc.split, self.doc_bin()).add(made)
            self.rows[doc.split] += 1

    def close(self) -> dict[str, int]:
        for split, doc_bin in self.bins.items():
            doc_bin.to_disk(self.out / "spacy" / f"{split}.spacy")
        return super().close()
