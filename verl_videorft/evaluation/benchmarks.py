"""The paper's six evaluation benchmarks: Video-R1 eval-format readers and the paper's Table 1.

Video-R1 ships one JSON file per benchmark (``eval_vsibench.json``, ``eval_videommmu.json``,
``eval_mmvu.json``, ``eval_mvbench.json``, ``eval_tempcompass.json``, ``eval_videomme.json``), each a
list of records with the training keys (``problem_id``, ``problem``, ``data_type``, ``problem_type``,
``options``, ``solution``, ``path``, ``data_source``). ``path`` is relative (``"./..."``) to a media
root, which defaults to the JSON file's folder.

    >>> samples = load_benchmark("eval_mmvu.json", "mmvu", media_root="/data/videos")  # doctest: +SKIP
    >>> samples[0].uid, samples[0].problem_type, samples[0].media_path                 # doctest: +SKIP
    ('mmvu/0', 'multiple choice', '/data/videos/MMVU/videos/0.mp4')

A malformed record does not stop the benchmark: it becomes an :class:`EvalSample` whose ``error``
names the file, the record index and the field, and the runner lists it as a failure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_videorft.prompts import RecordError, build_question, question_text


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: CLI key, display name (the paper's column) and Video-R1's file name."""

    key: str
    name: str

    @property
    def filename(self) -> str:
        return f"eval_{self.key}.json"


# Order of the paper's Table 1 columns.
BENCHMARKS: dict[str, Benchmark] = {
    b.key: b
    for b in (
        Benchmark("vsibench", "VSI-Bench"),
        Benchmark("videommmu", "VideoMMMU"),
        Benchmark("mmvu", "MMVU"),
        Benchmark("mvbench", "MVBench"),
        Benchmark("tempcompass", "TempCompass"),
        Benchmark("videomme", "VideoMME"),
    )
}

# Paper Table 1 (accuracy %), columns in BENCHMARKS order.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    model: dict(zip(BENCHMARKS, row))
    for model, row in {
        "Qwen2.5-VL-7B": (31.8, 47.4, 61.3, 59.4, 69.2, 52.8),
        "Video-R1-7B": (35.8, 52.3, 63.8, 63.9, 73.2, 59.3),
        "VideoRFT-7B": (36.8, 51.1, 68.5, 62.1, 73.7, 59.8),
        "VideoRFT-3B": (32.5, 41.1, 55.1, 59.5, 61.0, 45.4),
    }.items()
}

REQUIRED_FIELDS = ("problem", "problem_type", "solution", "path")

PROMPT_STYLES = ("paper", "released")


def build_eval_question(record: dict, style: str = "paper") -> str:
    """The user text for a record.

    ``"paper"``: the training prompt (:func:`verl_videorft.prompts.build_question`).
    ``"released"``: the wording of Video-R1's released eval script, which differs in two ways:
    every option line ends with a newline (a blank line before the instructions), and the tags are
    written "between the <think> and </think> tags" / "<answer> and </answer> tags".

    >>> rec = {"problem": "Q?", "problem_type": "multiple choice", "options": ["A. x", "B. y"]}
    >>> build_eval_question(rec, "released").startswith("Q?Options:\\nA. x\\nB. y\\n\\nPlease think")
    True
    """
    if style == "paper":
        return build_question(record)
    if style != "released":
        raise ValueError(f"unknown prompt style {style!r}; expected one of {PROMPT_STYLES}")
    text = build_question(record)
    if record.get("options"):
        head = question_text(record)
        text = head + "\n" + text[len(head):]
    return (text.replace("between the <think> </think> tags", "between the <think> and </think> tags")
                .replace("between the <answer> </answer> tags", "between the <answer> and </answer> tags"))


@dataclass
class EvalSample:
    """One evaluation record, resolved: prompt text, media file, and the raw record for the log.

    ``uid`` is ``"<benchmark>/<index in file>"``: stable across runs of the same file, which is
    what resuming keys on. ``error`` is set (and ``question`` empty) for a malformed record.
    """

    uid: str
    benchmark: str
    index: int
    problem_id: Any
    problem_type: str
    data_type: str
    question: str
    solution: str
    media_path: str
    record: dict = field(repr=False, default_factory=dict)
    error: str | None = None


def resolve_benchmark_key(name: str) -> str:
    """``"VSI-Bench"``, ``"vsibench"`` or ``"eval_vsibench.json"`` → ``"vsibench"``; else ValueError."""
    stem = Path(name).name
    stem = stem.removeprefix("eval_").removesuffix(".jsonl").removesuffix(".json")
    norm = stem.lower().replace("-", "").replace("_", "")
    for key, bench in BENCHMARKS.items():
        if norm in (key, bench.name.lower().replace("-", "")):
            return key
    raise ValueError(f"unknown benchmark {name!r}; expected one of {list(BENCHMARKS)}")


def read_records(path: str | Path) -> list[Any]:
    """The records of a ``.json`` (a list, or ``{"data": [...]}``) or ``.jsonl`` file.

    Raises ``ValueError`` naming the file (and line, for JSONL) when it cannot be parsed.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{p}:{n}: invalid JSON ({e.msg})") from None
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: invalid JSON at line {e.lineno} ({e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ValueError(f"{p}: expected a JSON list of records")
    return data


def _media_path(root: Path, rel: str) -> str:
    # Video-R1 writes "./Folder/clip.mp4"; an absolute path is taken as it is.
    return os.path.normpath(rel if os.path.isabs(rel) else os.path.join(root, rel))


def make_sample(record: Any, benchmark: str, index: int, media_root: Path, source: str = "",
                prompt_style: str = "paper") -> EvalSample:
    """Resolve one record; a bad one yields a sample with ``error`` naming file, index and field."""
    uid = f"{benchmark}/{index}"
    where = f"{source or benchmark}[{index}]"
    if not isinstance(record, dict):
        return EvalSample(uid, benchmark, index, None, "", "", "", "", "", {}, f"{where}: record is not an object")
    pid = record.get("problem_id", index)
    missing = [k for k in REQUIRED_FIELDS if not isinstance(record.get(k), str)]
    base = dict(uid=uid, benchmark=benchmark, index=index, problem_id=pid,
                problem_type=str(record.get("problem_type", "")),
                data_type=str(record.get("data_type", "video")), record=record)
    if missing:
        return EvalSample(**base, question="", solution="", media_path="",
                          error=f"{where}: missing or non-string field(s) {missing}")
    try:
        question = build_eval_question(record, prompt_style)
    except RecordError as e:
        return EvalSample(**base, question="", solution=record["solution"], media_path="",
                          error=f"{where}: {e}")
    if base["data_type"] not in ("video", "image"):
        return EvalSample(**base, question=question, solution=record["solution"], media_path="",
                          error=f"{where}: field 'data_type' must be 'video' or 'image', got {base['data_type']!r}")
    return EvalSample(**base, question=question, solution=record["solution"],
                      media_path=_media_path(media_root, record["path"]))


def load_benchmark(path: str | Path, benchmark: str | None = None, *, media_root: str | Path | None = None,
                   limit: int | None = None, prompt_style: str = "paper") -> list[EvalSample]:
    """Read a Video-R1 eval file into samples (the key is guessed from the file name if not given).

    ``media_root`` defaults to the file's folder; ``limit`` keeps the first N records;
    ``prompt_style`` see :func:`build_eval_question`.
    """
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {prompt_style!r}; expected one of {PROMPT_STYLES}")
    p = Path(path)
    key = resolve_benchmark_key(benchmark or p.name)
    root = Path(media_root) if media_root is not None else p.parent
    records = read_records(p)
    if limit is not None:
        records = records[:limit]
    return [make_sample(r, key, i, root, source=str(p), prompt_style=prompt_style) for i, r in enumerate(records)]


def find_benchmark_files(data_dir: str | Path, keys: list[str] | None = None) -> dict[str, Path]:
    """``{key: data_dir/eval_<key>.json}`` for the requested keys (all six by default).

    Raises ``FileNotFoundError`` listing the missing files when an explicitly requested one is
    absent; with ``keys=None`` the absent ones are skipped.
    """
    d = Path(data_dir)
    wanted = keys or list(BENCHMARKS)
    found, missing = {}, []
    for key in wanted:
        key = resolve_benchmark_key(key)
        candidates = [d / f"eval_{key}.json", d / f"eval_{key}.jsonl"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit:
            found[key] = hit
        else:
            missing.append(str(candidates[0]))
    if missing and keys:
        raise FileNotFoundError(f"benchmark file(s) not found: {missing}")
    if not found:
        raise FileNotFoundError(f"no eval_<benchmark>.json files in {d} (expected e.g. eval_mmvu.json)")
    return found
