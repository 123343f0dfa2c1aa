"""Lazy record files: JSON arrays (pretty or not), JSONL, parquet; offsets, lines, bad records."""

from __future__ import annotations

import json
import pickle
import random

import pytest

from verl_videorft.data import json_array
from verl_videorft.data import records as R
from verl_videorft.prompts import RecordError


def _records(n: int = 120) -> list[dict]:
    rng = random.Random(0)
    alphabet = 'ab{}[]"\\ \n,:é\t/'
    out = []
    for i in range(n):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        out.append({"problem_id": i, "problem": s, "options": [s, "B. x"], "nested": {"a": [1, {"b": s}]}})
    return out


@pytest.mark.parametrize("indent", [None, 2, 4])
def test_json_array_offsets_survive_tricky_strings_and_chunk_boundaries(tmp_path, monkeypatch, indent):
    recs = _records()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recs, indent=indent, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(json_array, "CHUNK", 61)  # many chunk boundaries, inside strings and escapes
    rf = R.RecordFile(path)
    assert len(rf) == len(recs)
    assert [rf[i] for i in range(len(rf))] == recs
    raw = path.read_bytes()
    for i in (0, 17, len(recs) - 1):
        assert raw[: rf._offsets[i]].count(b"\n") + 1 == rf.line_of(i)


JSONL = '{"a": 1}\n\n{"a": 2}\n{not json}\n[1, 2]\n'  # a blank line, then two bad records


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(JSONL)
    rf = R.RecordFile(path)
    assert (len(rf), rf[0], rf[1], rf.line_of(1)) == (4, {"a": 1}, {"a": 2}, 3)


@pytest.mark.parametrize("index, message", [
    (2, r"r\.jsonl:4: invalid JSON"),
    (3, r"r\.jsonl:5: record is list"),
])
def test_jsonl_bad_record_names_its_line(tmp_path, index, message):
    path = tmp_path / "r.jsonl"
    path.write_text(JSONL)
    with pytest.raises(RecordError, match=message):
        R.RecordFile(path)[index]


def test_json_extension_holding_jsonl_is_read_as_jsonl(tmp_path):
    lines = tmp_path / "lines.json"
    lines.write_text('{"a": 1}\n{"a": 2}\n')
    assert (R.detect_format(lines), len(R.RecordFile(lines))) == ("jsonl", 2)


@pytest.mark.parametrize("name, content, message", [
    ("broken.json", '[{"a": 1}, {"a": ', "broken.json"),
    ("x.csv", "a", "unsupported"),
])
def test_unreadable_file_is_refused_at_open(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(R.RecordFileError, match=message):
        R.RecordFile(tmp_path / name)


def test_parquet_rows_and_where(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pylist([{"problem": "p0", "x": 1}, {"problem": "p1", "x": 2}]), path)
    rf = R.RecordFile(path)
    assert len(rf) == 2 and rf[1] == {"problem": "p1", "x": 2} and rf.where(1).endswith("row 2")


def test_record_file_survives_pickling(tmp_path):
    jl = tmp_path / "r.jsonl"
    jl.write_text('{"a": 1}\n{"a": 2}\n')
    assert pickle.loads(pickle.dumps(R.RecordFile(jl)))[1] == {"a": 2}
