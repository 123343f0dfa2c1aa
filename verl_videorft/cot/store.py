"""Stage files: one JSON line per record, keyed by ``problem_id``, durable before the run goes on.

A stage appends a batch of rows, flushes and fsyncs, then moves on; a killed run leaves every
finished row on disk. Reading keeps the last row per ``problem_id`` and skips a torn last line
(the process died mid-write), so that record is simply redone. A new writer first ends a torn
line, so the next row starts on a line of its own.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.jsonl")
    >>> with StageFile(p) as f:
    ...     f.append([{"problem_id": "a", "status": "ok"}])
    >>> StageFile(p).rows()
    {'a': {'problem_id': 'a', 'status': 'ok'}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class StageFile:
    """Append-only JSONL of one stage (one writer at a time: the driver)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._f = None

    def rows(self) -> dict[str, dict[str, Any]]:
        """The last row per ``problem_id``; torn or foreign lines are skipped."""
        out: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return out
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and "problem_id" in row:
                    out[str(row["problem_id"])] = row
        return out

    def open(self) -> StageFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        self._f = self.path.open("a", encoding="utf-8")
        if torn:
            self._f.write("\n")
        return self

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write rows and make them durable (flush + fsync) before returning."""
        if self._f is None:
            self.open()
        for row in rows:
            self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> StageFile:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_atomic(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write a whole JSONL file at once (temp file, fsync, rename); return the row count."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def write_json_atomic(path: str | Path, value: Any) -> None:
    """``json.dump`` to a temp file, then rename (readers never see half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
