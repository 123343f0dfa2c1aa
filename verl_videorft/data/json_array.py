"""Where the records of a JSON array file start and end, found with numpy, without parsing them.

Vectorised per chunk: find quotes, backslashes and brackets; a bracket is structural when an even
number of unescaped quotes precedes it; nesting depth is a cumulative sum. Each top-level element
is an ``{...}`` (or ``[...]``) at depth 2. Everything between elements must be whitespace and one
comma, so a scalar among the records (``[{...}, 3]``), a trailing comma, a missing comma or a
second array after the first fails naming its line instead of being dropped silently.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> _ = open(p, "w").write('[{"a": "x ]"},\\n {"b": 2}]')
    >>> offsets, lengths, lines = scan_json_array(p)
    >>> offsets.tolist(), lengths.tolist(), lines.tolist()
    ([1, 16], [12, 8], [1, 2])
    >>> _ = open(p, "w").write('[{"a": 1},\\n 7]')
    >>> scan_json_array(p)
    Traceback (most recent call last):
    ...
    verl_videorft.data.json_array.JsonArrayError: ...r.json:2: a non-object value '7' among the records
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from verl_videorft.prompts import RecordError

CHUNK = 8 << 20  # bytes scanned per numpy pass: bounds the scanner's memory
_QUOTE, _BACKSLASH, _NL, _COMMA = ord('"'), ord("\\"), ord("\n"), ord(",")
_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))
_INTERESTING = np.zeros(256, dtype=bool)
_INTERESTING[[_QUOTE, _BACKSLASH, *_OPEN, *_CLOSE]] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[ord(" "), ord("\t"), ord("\n"), ord("\r")]] = True


class JsonArrayError(RecordError):
    """The file is not one JSON array of records; the message names ``file:line``."""


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


def _chunks(path: str, size: int) -> Iterator[bytes]:
    """The file in chunks that never split a run of backslashes (escapes are decided within one)."""
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(size)
            data = carry + block
            if not block:
                if data:
                    yield data
                return
            cut = len(data)
            while cut > 0 and data[cut - 1] == _BACKSLASH:
                cut -= 1
            data, carry = data[:cut], data[cut:]
            if data:
                yield data


class _Scanner:
    """State carried from chunk to chunk; :meth:`feed` each chunk in order, then :meth:`result`."""

    def __init__(self, path: str):
        self.path = path
        self.in_string, self.depth, self.base, self.line_base, self.arrays = False, 0, 0, 1, 0
        self.gap_commas, self.gap_after_element = 0, False  # the depth-1 gap still open at chunk end
        self.starts: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []

    def error(self, arr: np.ndarray, pos: int, reason: str) -> JsonArrayError:
        line = self.line_base + int(np.count_nonzero(arr[:pos] == _NL))
        return JsonArrayError(f"{self.path}:{line}: {reason}")

    def feed(self, data: bytes) -> None:
        arr = np.frombuffer(data, dtype=np.uint8)
        idx = np.flatnonzero(_INTERESTING[arr])
        chars = arr[idx]
        quotes = idx[chars == _QUOTE]
        escaped = _escaped_positions(idx, arr)
        if escaped.size:
            quotes = quotes[~np.isin(quotes, escaped)]
        brackets = idx[np.isin(chars, (*_OPEN, *_CLOSE))]
        outside = ((np.searchsorted(quotes, brackets) + int(self.in_string)) % 2) == 0
        brackets = brackets[outside]
        opening = np.isin(arr[brackets], _OPEN)
        after = self.depth + np.cumsum(np.where(opening, 1, -1))
        self.check_top_level(arr, brackets, opening, after)
        self.check_gaps(arr, brackets, opening, after)
        opens = brackets[opening & (after == 2)]
        if opens.size:
            self.lines.append(self.line_base + np.searchsorted(np.flatnonzero(arr == _NL), opens))
        self.starts.append(opens + self.base)
        self.ends.append(brackets[~opening & (after == 1)] + self.base)
        self.line_base += int(np.count_nonzero(arr == _NL))
        self.in_string = bool((quotes.size + int(self.in_string)) % 2)
        self.depth = int(after[-1]) if after.size else self.depth
        self.base += len(data)

    def check_top_level(self, arr: np.ndarray, brackets: np.ndarray, opening: np.ndarray, after: np.ndarray) -> None:
        """Exactly one top-level value, and it is an array."""
        if (after < 0).any():
            raise self.error(arr, int(brackets[np.argmax(after < 0)]), "closing bracket without an opening one")
        tops = brackets[opening & (after == 1)]
        if tops.size and self.arrays == 0 and arr[tops[0]] != ord("["):
            raise self.error(arr, int(tops[0]), "not a JSON array of records")
        if self.arrays + tops.size > 1:
            raise self.error(arr, int(tops[1 - self.arrays]), "a second JSON value after the array "
                                                               "(two arrays concatenated?)")
        self.arrays += int(tops.size)

    def check_gaps(self, arr: np.ndarray, brackets: np.ndarray, opening: np.ndarray, after: np.ndarray) -> None:
        """Between records: whitespace and exactly one comma; outside the array: whitespace only."""
        starts = np.concatenate(([0], brackets + 1))  # region r runs up to bracket r (the last: to the end)
        ends = np.concatenate((brackets, [arr.size]))
        depth = np.concatenate(([self.depth], after))
        regions = np.flatnonzero(depth <= 1)
        lens = ends[regions] - starts[regions]
        offsets = np.repeat(starts[regions] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(lens.sum())
        values, owner = arr[offsets], np.repeat(regions, lens)
        bad = np.flatnonzero(~(_SPACE[values] | ((values == _COMMA) & (depth[owner] == 1))))
        if bad.size:
            pos, char = int(offsets[bad[0]]), chr(values[bad[0]])
            raise self.error(arr, pos, f"a non-object value {char!r} among the records" if depth[owner[bad[0]]] == 1
                             else f"unexpected {char!r} outside the JSON array")
        commas = np.bincount(owner[values == _COMMA], minlength=depth.size)
        commas[0] += self.gap_commas
        after_element = np.concatenate(([self.gap_after_element], ~opening))  # region r follows a closed record
        # a depth-1 region ending at a bracket: one comma before a record that follows a record, else none
        wrong = np.flatnonzero((depth[:-1] == 1) & (commas[:-1] != (opening & after_element[:-1])))
        if wrong.size:
            r = wrong[0]
            self.check_commas(arr, int(brackets[r]), bool(opening[r]), bool(after_element[r]), int(commas[r]))
        self.gap_commas = int(commas[-1]) if depth[-1] == 1 else 0
        self.gap_after_element = bool(after_element[-1]) if depth[-1] == 1 else False

    def check_commas(self, arr: np.ndarray, pos: int, record_starts: bool, after_record: bool, commas: int) -> None:
        """One depth-1 gap ending at ``pos`` (a record's ``{`` or the array's ``]``)."""
        expected = int(record_starts and after_record)
        if commas == expected:
            return
        if record_starts and commas == 0:
            raise self.error(arr, pos, "missing comma between records")
        if not record_starts and after_record and commas == 1:
            raise self.error(arr, pos, "trailing comma after the last record")
        raise self.error(arr, pos, "extra comma (an empty element) between records")

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = np.concatenate(self.starts) if self.starts else np.zeros(0, np.int64)
        e = np.concatenate(self.ends) if self.ends else np.zeros(0, np.int64)
        if self.depth != 0 or s.size != e.size:
            raise JsonArrayError(f"{self.path}: unbalanced brackets or truncated JSON "
                                 f"(depth {self.depth} at end of file)")
        lines = np.concatenate(self.lines) if self.lines else s
        return s.astype(np.int64), (e - s + 1).astype(np.int64), lines.astype(np.int64)


def scan_json_array(path: str, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte offsets, byte lengths and 1-based start lines of the top-level elements of a JSON array."""
    scanner = _Scanner(path)
    for data in _chunks(path, chunk or CHUNK):
        scanner.feed(data)
    return scanner.result()
