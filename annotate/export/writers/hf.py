"""Hugging Face: a parquet file per split with the features in its metadata (``datasets`` reads them back)."""

from __future__ import annotations

import ctypes
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ...models import ORIGINS, SPLITS, Schema, Unit
from ..documents import Doc, rows
from ..features import event_names, features, ner_names
from . import Writer


class HFWriter(Writer):
    """Parquet per split with the features in its metadata (``datasets`` reads them back).

    Rows are encoded here (label names to ClassLabel ids) and written in batches
    straight to Arrow: far faster than encoding example by example.
    """

    batch = 1000

    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        super().__init__(out, schema, unit)
        self.features = features(schema)
        self.arrow_schema = self.features.arrow_schema
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.buffers: dict[str, list[dict[str, Any]]] = {}
        self.held: dict[str, pa.Table] = {}  # encoded rows short of a whole row group, per split
        self.ids = {
            "ner": {n: i for i, n in enumerate(ner_names(schema))},
            "event_tags": {n: i for i, n in enumerate(event_names(schema))},
            "entity": {e.name: i for i, e in enumerate(schema.entities)},
            "event": {e.name: i for i, e in enumerate(schema.events)},
            "role": {r: i for i, r in enumerate(schema.role_names)},
            "origin": {o: i for i, o in enumerate(ORIGINS)},
        }
        self.choices = {d.name: {c.name: i for i, c in enumerate(d.choices)} for d in schema.document}
        (out / "data").mkdir(parents=True)

    def encode(self, row: dict[str, Any]) -> dict[str, Any]:
        ids = self.ids
        row["ner_tags"] = [ids["ner"][t] for t in row["ner_tags"]]
        for e in row["entities"]:
            e["type"] = ids["entity"][e["type"]]
            e["origin"] = ids["origin"][e["origin"]]
        if "events" in row:
            row["event_tags"] = [ids["event_tags"][t] for t in row["event_tags"]]
            for ev in row["events"]:
                ev["type"] = ids["event"][ev["type"]]
                ev["origin"] = ids["origin"][ev["origin"]]
                for arg in ev["arguments"]:
                    arg["role"] = ids["role"][arg["role"]]
        for spec in self.schema.document:
            value = row["document"][spec.name]
            if spec.kind == "single":
                row["document"][spec.name] = None if value is None else self.choices[spec.name][value]
            elif spec.kind == "multiple":
                row["document"][spec.name] = [self.choices[spec.name][v] for v in value or []]
        return row

    def write(self, doc: Doc) -> None:
        buffer = self.buffers.setdefault(doc.split, [])
        for row in rows(doc, self.schema, self.unit):
            buffer.append(self.encode(row))
            self.rows[doc.split] += 1
        if len(buffer) >= self.batch:
            self.flush(doc.split)

    def flush(self, split: str) -> None:
        buffer = self.buffers.pop(split, [])
        if buffer:
            self.emit(split, pa.Table.from_pylist(buffer, schema=self.arrow_schema))

    def emit(self, split: str, table: pa.Table) -> None:
        """Encoded rows, after those before: written in row groups of exactly ``batch`` rows (a split's last may be
        shorter), so the file is the same however the rows came (``absorb``)."""
        held = self.held.pop(split, None)
        if held is not None:
            table = pa.concat_tables([held, table])
        whole = len(table) - len(table) % self.batch
        for start in range(0, whole, self.batch):
            self._file(split).write_table(table.slice(start, self.batch).combine_chunks())
        if whole < len(table):
            self.held[split] = table.slice(whole)

    def absorb(self, part: Path, rows: dict[str, int]) -> None:
        """The rows an ``HFPart`` wrote in ``part`` (``rows`` of them per split), after every row written here."""
        for split in rows:
            stream = part / f"{split}.arrow"
            if not rows[split]:
                continue
            self.flush(split)
            # Read, not mapped (rows held here outlive the file), batch by batch, from the system's allocator; what each
            # batch freed is given back to the system (and Arrow's own pool's): else the process kept about 50 MB more
            # at 25,000 rows.
            with pa.OSFile(str(stream)) as source:
                for batch in pa.ipc.open_stream(source, memory_pool=pa.system_memory_pool()):
                    self.emit(split, pa.Table.from_batches([batch], schema=self.arrow_schema))
                    del batch
                    _give_back()
                    pa.default_memory_pool().release_unused()
            self.rows[split] += rows[split]

    def _file(self, split: str) -> pq.ParquetWriter:
        if split not in self.writers:
            # Opened on the first row: `datasets` cannot load an empty split, so none is written.
            self.writers[split] = pq.ParquetWriter(self.out / "data" / f"{split}.parquet", self.arrow_schema)
        return self.writers[split]

    def close(self) -> dict[str, int]:
        for split in list(self.buffers):
            self.flush(split)
        for split, held in list(self.held.items()):
            self._file(split).write_table(held.combine_chunks())
        self.held = {}
        for split, writer in self.writers.items():
            writer.close()
            # `datasets` keys its cache on the folder's name and the card alone (load.py,
            # LocalDatasetModuleFactory.get_module: Hasher.hash of the card's dataset_info and the
            # configs' unresolved data_files patterns; builder.py, _relative_data_dir), never on
            # the files' contents or times. A hash of the bytes in the file name, named in the
            # card, gives every different export its own cache entry.
            path = self.out / "data" / f"{split}.parquet"
            self.num_bytes[split] = arrow_size(path)
            self.file_bytes[split] = path.stat().st_size
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            name = f"{split}-{digest.hexdigest()[:16]}.parquet"
            path.rename(path.with_name(name))
            self.data_files[split] = f"data/{name}"
        return super().close()


def _give_back() -> None:
    """Return the heap's freed memory to the system, where the C library can (glibc's ``malloc_trim``)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _libc() -> Any:
    return ctypes.CDLL(None)  # this process's own symbols: the C library it runs on


class HFPart(HFWriter):
    """Some of the articles' rows, encoded as ``HFWriter`` encodes them, in an Arrow stream per split in ``out``: a
    second process writes them, and the ``HFWriter`` of the export adds them after its own (``absorb``)."""

    def __init__(self, out: Path, schema: Schema, unit: Unit | str) -> None:
        super().__init__(out, schema, unit)
        self.streams: dict[str, pa.ipc.RecordBatchStreamWriter] = {}

    def emit(self, split: str, table: pa.Table) -> None:
        if split not in self.streams:
            self.streams[split] = pa.ipc.new_stream(str(self.out / f"{split}.arrow"), self.arrow_schema)
        self.streams[split].write_table(table)

    def close(self) -> dict[str, int]:
        for split in list(self.buffers):
            self.flush(split)
        for stream in self.streams.values():
            stream.close()
        return {s: self.rows[s] for s in SPLITS}


def arrow_size(path: Path) -> int:
    """The split's size as `datasets` records it (the card's ``num_bytes``): the Arrow size in memory, not the file's.

    Read back one row group at a time, as datasets' parquet builder reads it (one row group
    per batch, packaged_modules/parquet, ``_generate_tables``), and summed as its ArrowWriter
    sums ``pa_table.nbytes``. Each group is dropped before the next, and Arrow's pool gives back what
    it freed (its peak at 50,000 articles fell by 45 MiB): a pyarrow dataset scan of the file kept
    about 4 KB an article (185 MiB more at 50,000 articles).
    """
    pool = pa.default_memory_pool()
    total = 0
    with pq.ParquetFile(path) as parquet:
        for i in range(parquet.num_row_groups):
            total += parquet.read_row_group(i).nbytes
            pool.release_unused()
    return total
