"""JSON / JSONL record files → parquet with the record columns (``videorft data convert``).

    >>> convert_file("train.jsonl", "train.parquet")      # doctest: +SKIP
    PosixPath('train.parquet')
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from verl_videorft.data.items import iter_items, progress
from verl_videorft.data.outputs import atomic_output, check_output

# record columns written by `convert` (VideoRFT / Video-R1 keys); other keys go to `extra` as JSON
COLUMNS = ("problem_id", "problem", "data_type", "problem_type", "options", "solution", "process", "path",
           "data_source")


def normalise_record(rec: dict[str, Any], media: str | None, absolute: bool) -> dict[str, Any]:
    """One parquet row: the record columns as strings (options as a list), the rest in ``extra``.

    >>> normalise_record({"problem_id": 7, "problem": "Q", "k": 1}, None, False)["problem_id"]
    '7'
    """
    row = {k: rec.get(k) for k in COLUMNS}
    row["problem_id"] = None if row["problem_id"] is None else str(row["problem_id"])
    row["options"] = [str(o) for o in row["options"]] if isinstance(row["options"], list) else None
    for k in COLUMNS:
        if k != "options" and row[k] is not None and not isinstance(row[k], str):
            row[k] = json.dumps(row[k])
    if absolute and media:
        row["path"] = media
    extra = {k: v for k, v in rec.items() if k not in COLUMNS}
    row["extra"] = json.dumps(extra) if extra else None
    return row


def convert_file(src: str | Path, dst: str | Path, *, media_root: str | None = None, absolute_paths: bool = False,
                 batch_size: int = 20000, quiet: bool = True, force: bool = False) -> Path:
    """Write ``dst`` (parquet) from the records of ``src``, streamed in batches of ``batch_size``.

    Bad records are skipped and printed to stderr as ``file:line: reason`` (``validate`` gives the
    full report). ``dst`` may not be ``src``, nor an existing file unless ``force``; it appears only
    once complete. Returns ``dst``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    dst = check_output(dst, [src], force)
    schema = pa.schema([(k, pa.list_(pa.string()) if k == "options" else pa.string()) for k in COLUMNS]
                       + [("extra", pa.string())])
    items = progress(iter_items([str(src)], media_root), desc=f"convert {Path(src).name}", unit="rec", quiet=quiet)
    with atomic_output(dst) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        batch: list[dict] = []
        for item in items:
            if item.error:
                print(f"{item.where}: {item.error} (skipped)", file=sys.stderr)
                continue
            batch.append(normalise_record(item.record, item.media, absolute_paths))
            if len(batch) >= batch_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return dst
