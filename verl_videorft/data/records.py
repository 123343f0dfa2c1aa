"""Lazy random access to record files (JSON array, JSONL, parquet) without one dict per record.

A 310K-record VideoRFT file must not become 310K Python dicts in every process that opens it (the
trainer and each agent-loop worker build the dataset). So a JSON / JSONL file is scanned once into
an index of byte offsets (two int64 numpy arrays); a record is parsed only when asked for. Parquet
files stay a pyarrow table (columnar buffers, no per-row objects).

    >>> import json, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "r.json")
    >>> _ = open(p, "w").write(json.dumps([{"problem": "a {"}, {"problem": "b \\" }"}], indent=2))
    >>> rf = RecordFile(p)
    >>> len(rf), rf[1]["problem"], rf.line_of(1)
    (2, 'b " }', 5)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.data.json_array import CHUNK, JsonArrayError, scan_json_array
from verl_videorft.prompts import RecordError

RECORD_SUFFIXES = (".json", ".jsonl", ".parquet")
_NL = ord("\n")


class RecordFileError(RecordError):
    """A file that cannot be indexed at all (not JSON / JSONL / parquet, malformed array, no records)."""


def _scan_jsonl(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, lengths and 1-based line numbers of the non-empty lines of a JSONL file."""
    newline_chunks = []
    base = 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            newline_chunks.append(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == _NL) + base)
            base += len(block)
    nl = np.concatenate(newline_chunks) if newline_chunks else np.zeros(0, np.int64)
    line_starts = np.concatenate(([0], nl + 1))
    line_ends = np.concatenate((nl, [base]))  # exclusive
    lengths = line_ends - line_starts
    keep = lengths > 0  # whitespace-only lines other than "" are reported at read time
    numbers = np.arange(1, line_starts.size + 1)
    return line_starts[keep].astype(np.int64), lengths[keep].astype(np.int64), numbers[keep].astype(np.int64)


def detect_format(path: str | Path) -> str:
    """``"json"`` (array), ``"jsonl"`` or ``"parquet"``, from the extension and the first byte."""
    p = str(path)
    if p.endswith(".parquet"):
        return "parquet"
    if p.endswith(".jsonl"):
        return "jsonl"
    if not p.endswith(".json"):
        raise RecordFileError(f"{p}: unsupported record file (expected .json, .jsonl or .parquet)")
    with open(p, "rb") as f:
        head = f.read(4096).lstrip()
    # some released ".json" files are really JSON Lines
    return "json" if head[:1] == b"[" else "jsonl"


class RecordFile:
    """Records of one file, parsed on access. Picklable: the file handle reopens in each process.

    ``rf[i]`` → dict (raises :class:`RecordError` naming file and line when the text is not a JSON
    object); ``rf.line_of(i)`` → 1-based line where record ``i`` starts (row number for parquet).
    """

    def __init__(self, path: str | Path):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.isdir(self.path):
            raise RecordFileError(f"{self.path}: is a directory, expected a record file")
        if not os.path.isfile(self.path):
            raise RecordFileError(f"{self.path}: record file not found")
        self.format = detect_format(self.path)
        self._table = None
        self._fd: int | None = None
        self._fd_pid = -1
        if self.format == "parquet":
            import pyarrow.parquet as pq

            self._table = pq.read_table(self.path, memory_map=True)
            self._offsets = self._lengths = self._lines = None
        elif self.format == "json":
            try:
                self._offsets, self._lengths, self._lines = scan_json_array(self.path)
            except JsonArrayError as e:
                raise RecordFileError(str(e)) from None
        else:
            self._offsets, self._lengths, self._lines = _scan_jsonl(self.path)
        if len(self) == 0:  # fail here, not ~50 s into training with a ZeroDivisionError inside verl
            what = {"parquet": "0 rows", "json": "an empty JSON array", "jsonl": "an empty file"}[self.format]
            raise RecordFileError(f"{self.path}: no records ({what})")

    def __len__(self) -> int:
        return self._table.num_rows if self._table is not None else int(self._offsets.size)

    def line_of(self, i: int) -> int:
        return i + 1 if self._table is not None else int(self._lines[i])

    def where(self, i: int) -> str:
        """``"file:line"`` of record ``i``, for error messages."""
        kind = "row" if self._table is not None else "line"
        return f"{self.path}:{self.line_of(i)}" if kind == "line" else f"{self.path} row {i + 1}"

    def raw(self, i: int) -> bytes:
        """The undecoded bytes of record ``i`` (JSON / JSONL only)."""
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd, self._fd_pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return os.pread(self._fd, int(self._lengths[i]), int(self._offsets[i]))

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self._table is not None:
            return self._table.slice(i, 1).to_pylist()[0]
        text = self.raw(i)
        try:
            rec = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RecordError(f"{self.where(i)}: invalid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
        if not isinstance(rec, dict):
            raise RecordError(f"{self.where(i)}: record is {type(rec).__name__}, expected an object")
        return rec

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fd"], state["_fd_pid"] = None, -1
        return state

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._fd_pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass
