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

from verl_videorft.prompts import RecordError

_CHUNK = 8 << 20  # bytes scanned per numpy pass: bounds the scanner's memory
_QUOTE, _BACKSLASH, _NL = ord('"'), ord("\\"), ord("\n")
_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))
_INTERESTING = np.zeros(256, dtype=bool)
_INTERESTING[[_QUOTE, _BACKSLASH, *_OPEN, *_CLOSE]] = True


class RecordFileError(RecordError):
    """A file that cannot be indexed at all (not JSON / JSONL / parquet, unbalanced brackets)."""


def _escaped_positions(idx: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """Positions escaped by a preceding odd-length run of backslashes (``\\"`` but not ``\\\\"``)."""
    bs = idx[arr[idx] == _BACKSLASH]
    if bs.size == 0:
        return bs
    new_run = np.empty(bs.size, dtype=bool)
    new_run[0] = True
    new_run[1:] = np.diff(bs) != 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], bs.size) - 1
    odd = ((ends - starts + 1) % 2) == 1
    return bs[ends[odd]] + 1


def _scan_json_array(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, lengths and 1-based start lines of the top-level elements of a JSON array file.

    Vectorised per chunk: find quotes, backslashes and brackets; a bracket is structural when an
    even number of unescaped quotes precedes it; nesting depth is a cumulative sum.
    """
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    in_string, depth, base, line_base = False, 0, 0, 1
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(_CHUNK)
            data = carry + block
            if not data:
                break
            if block:
                # never split a backslash run between chunks: escapes are decided within one chunk
                cut = len(data)
                while cut > 0 and data[cut - 1] == _BACKSLASH:
                    cut -= 1
                if cut == 0:
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            else:
                carry = b""
            arr = np.frombuffer(data, dtype=np.uint8)
            idx = np.flatnonzero(_INTERESTING[arr])
            chars = arr[idx]
            quotes = idx[chars == _QUOTE]
            escaped = _escaped_positions(idx, arr)
            if escaped.size:
                quotes = quotes[~np.isin(quotes, escaped)]
            brackets = idx[np.isin(chars, (*_OPEN, *_CLOSE))]
            n_before = np.searchsorted(quotes, brackets)
            outside = ((n_before + int(in_string)) % 2) == 0
            brackets = brackets[outside]
            bvals = arr[brackets]
            delta = np.where(np.isin(bvals, _OPEN), 1, -1)
            after = depth + np.cumsum(delta)
            opens = brackets[(delta == 1) & (after == 2)]
            closes = brackets[(delta == -1) & (after == 1)]
            if (after < 0).any() or (base == 0 and bvals.size and bvals[0] != ord("[")):
                raise RecordFileError(f"{path}: not a JSON array of records")
            if opens.size:
                newlines = np.flatnonzero(arr == _NL)
                lines.append(line_base + np.searchsorted(newlines, opens))
            starts.append(opens + base)
            ends.append(closes + base)
            line_base += int(np.count_nonzero(arr == _NL))
            in_string = bool((quotes.size + int(in_string)) % 2)
            depth = int(after[-1]) if after.size else depth
            base += len(data)
            if not block:
                break
    s = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    e = np.concatenate(ends) if ends else np.zeros(0, np.int64)
    if depth != 0 or s.size != e.size:
        raise RecordFileError(f"{path}: unbalanced brackets or truncated JSON (depth {depth} at end of file)")
    return s.astype(np.int64), (e - s + 1).astype(np.int64), (np.concatenate(lines) if lines else s).astype(np.int64)


def _scan_jsonl(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, lengths and 1-based line numbers of the non-empty lines of a JSONL file."""
    newline_chunks = []
    base = 0
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
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
            self._offsets, self._lengths, self._lines = _scan_json_array(self.path)
        else:
            self._offsets, self._lengths, self._lines = _scan_jsonl(self.path)

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
