"""The writers, one per format; each gets documents one at a time and keeps nothing of them.

``WRITERS`` names each format's module and class; ``writer_class`` imports it only
when that format is asked for, so pyarrow is loaded for hf alone.
"""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from typing import IO

from ...models import SPLITS, Format, Schema, Unit
from ..documents import Doc


class Writer:
    """Writes one format; ``rows`` counts rows per split, ``data_files`` names the card's data file per split (hf)."""

    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        self.out, self.schema, self.unit = out, schema, unit
        self.rows: Counter[str] = Counter()
        self.data_files: dict[str, str] = {}
        self.num_bytes: dict[str, int] = {}  # hf: each split's in-memory Arrow size, as `datasets` counts it
        self.file_bytes: dict[str, int] = {}  # hf: each split's parquet file size

    def write(self, doc: Doc) -> None:
        raise NotImplementedError

    def close(self) -> dict[str, int]:
        """Finish every file; the rows per split, every split named (0 for one without rows)."""
        return {s: self.rows[s] for s in SPLITS}


class _TextFiles(Writer):
    """One text file per split, opened on first use (shared by conll and jsonl, so it lives here: no cycle)."""

    folder = ""
    suffix = ""

    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        super().__init__(out, schema, unit)
        (out / self.folder).mkdir(parents=True)
        self.files: dict[str, IO[str]] = {}

    def file(self, split: str) -> IO[str]:
        if split not in self.files:
            self.files[split] = open(self.out / self.folder / f"{split}{self.suffix}", "w", encoding="utf-8")
        return self.files[split]

    def close(self) -> dict[str, int]:
        for f in self.files.values():
            f.close()  # a split without rows has no file, as in hf (the card names the absent splits)
        return super().close()


# format -> (module in this package, class): imported on use, see writer_class.
WRITERS: dict[Format, tuple[str, str]] = {
    "hf": ("hf", "HFWriter"),
    "conll": ("conll", "ConllWriter"),
    "brat": ("brat", "BratWriter"),
    "jsonl": ("jsonl", "JsonlWriter"),
    "wojood": ("wojood", "WojoodWriter"),
    "textee": ("textee", "TexteeWriter"),
    "spacy": ("spacy", "SpacyWriter"),
}


def writer_class(fmt: Format) -> type[Writer]:
    """The writer of ``fmt`` (one of ``WRITERS``), its module imported now."""
    module, name = WRITERS[fmt]
    cls: type[Writer] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls
