"""CoNLL: one token and its NER tag a line, a blank line after each sentence, ``-DOCSTART-`` before each article."""

from __future__ import annotations

from collections.abc import Iterator

from ..documents import Doc
from . import _TextFiles


class ConllWriter(_TextFiles):
    folder, suffix = "conll", ".conll"

    def write(self, doc: Doc) -> None:
        self.file(doc.split).write("\n".join(conll_lines(doc)) + "\n")
        self.rows[doc.split] += 1


def conll_lines(doc: Doc) -> Iterator[str]:
    yield "-DOCSTART-\tO"
    yield ""
    for t0, t1 in doc.sentences:
        for token, tag in zip(doc.tokens.texts(t0, t1), doc.ner_tags[t0:t1]):
            yield f"{token}\t{tag}"
        yield ""
