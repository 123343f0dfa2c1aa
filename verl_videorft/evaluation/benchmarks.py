"""The paper's six evaluation benchmarks: Video-R1 eval-format readers and the paper's Table 1.

Video-R1 ships one JSON file per benchmark (``eval_vsibench.json``, ``eval_videommmu.json``,
``eval_mmvu.json``, ``eval_mvbench.json``, ``eval_tempcompass.json``, ``eval_videomme.json``), each a
list of records with the training keys (``problem_id``, ``problem``, ``data_type``, ``problem_type``,
``options``, ``solution``, ``path``, ``data_source``). ``path`` is relative (``"./..."``) to a media
root, which defaults to the JSON file's folder. MVBench's TVQA records are ``data_type: "frame"``:
``path`` names a folder of frames and the record carries ``fps`` (and ``start`` / ``end``).

    >>> samples = load_benchmark("eval_mmvu.json", "mmvu", media_root="/data/videos")  # doctest: +SKIP
    >>> samples[0].uid, samples[0].problem_type, samples[0].media_path                 # doctest: +SKIP
    ('mmvu/0', 'multiple choice', '/data/videos/MMVU/videos/0.mp4')

A malformed record does not stop the benchmark: it becomes an :class:`EvalSample` whose ``error``
names the file, the record's line and the field, and the runner lists it as a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_videorft.data.record_check import DATA_TYPES, check_record, resolve_media_path
from verl_videorft.data.records import RecordFile
from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, RecordError, build_question, check_style


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

# MVBench's TVQA records are folders of frames (``data_type: "frame"``), read as videos.
EVAL_DATA_TYPES = (*DATA_TYPES, "frame")

# How MVBench's ``data_type: "frame"`` records (TVQA: a folder of frames, ``fps`` in the record) are
# evaluated. "frames": the folder's sorted frames read as a video (uniform sampling as for files, the
# record's fps). "no_video": the released behaviour, reproduced on purpose only: the released eval
# hands ``{"type": "frame"}`` to qwen-vl-utils, which ignores it, so the model gets the text alone.
FRAME_RECORD_MODES = ("frames", "no_video")


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
    fps: float | None = None  # frame folders: the record's frame rate (MVBench TVQA: 3)


def resolve_benchmark_key(name: str, *, allow_custom: bool = False) -> str:
    """``"VSI-Bench"``, ``"vsibench"`` or ``"eval_vsibench.json"`` → ``"vsibench"``; else ValueError.

    With ``allow_custom`` a name that is none of the paper's six but a plain identifier is a
    benchmark of its own (your own eval file), kept lower-cased:

    >>> resolve_benchmark_key("my_shapes", allow_custom=True)
    'my_shapes'
    """
    stem = Path(name).name
    stem = stem.removeprefix("eval_").removesuffix(".jsonl").removesuffix(".json")
    norm = stem.lower().replace("-", "").replace("_", "")
    for key, bench in BENCHMARKS.items():
        if norm in (key, bench.name.lower().replace("-", "")):
            return key
    if allow_custom and re.fullmatch(r"[A-Za-z0-9_-]+", stem):
        return stem.lower()
    raise ValueError(f"unknown benchmark {name!r}; expected one of {list(BENCHMARKS)}"
                     + (" or a name of letters, digits, '_' and '-'" if allow_custom else ""))


def _frame_fps(record: dict) -> float | None:
    """The ``fps`` a frame-folder record states (MVBench TVQA: 3); None when absent or unusable."""
    fps = record.get("fps")
    return float(fps) if isinstance(fps, (int, float)) and not isinstance(fps, bool) and fps > 0 else None


def make_sample(record: Any, benchmark: str, index: int, media_root: Path, source: str = "",
                prompt_style: str = DEFAULT_PROMPT_STYLE, frame_records: str = "frames",
                training_prompt: bool = False) -> EvalSample:
    """Resolve one record; a bad one yields a sample with ``error`` naming the file, record and field.

    ``data_type`` stays as the record says: ``"video"``, ``"image"``, or ``"frame"`` (a folder of
    frames, read as a video, with :attr:`EvalSample.fps` from the record); with
    ``frame_records="no_video"`` a frame record becomes ``data_type "none"`` (text only).
    ``training_prompt`` words the question as training does (the template's "<think> </think>")
    instead of the released evaluation scripts ("<think> and </think>").
    """
    uid = f"{benchmark}/{index}"
    where = source or f"{benchmark}[{index}]"
    if not isinstance(record, dict):
        return EvalSample(uid, benchmark, index, None, "", "", "", "", "", {}, f"{where}: record is not an object")
    data_type = str(record.get("data_type", "video"))
    base = dict(uid=uid, benchmark=benchmark, index=index, problem_id=record.get("problem_id", index),
                problem_type=str(record.get("problem_type", "")), data_type=data_type, record=record)
    solution = record["solution"] if isinstance(record.get("solution"), str) else ""
    try:
        check_record(record, EVAL_DATA_TYPES)
        question = build_question(record, prompt_style, for_eval=not training_prompt)
    except RecordError as e:
        return EvalSample(**base, question="", solution=solution, media_path="", error=f"{where}: {e}")
    if data_type == "frame" and frame_records == "no_video":
        return EvalSample(**{**base, "data_type": "none"}, question=question, solution=solution, media_path="")
    return EvalSample(**base, question=question, solution=solution,
                      media_path=resolve_media_path(record["path"], media_root),
                      fps=_frame_fps(record) if data_type == "frame" else None)


def load_benchmark(path: str | Path, benchmark: str | None = None, *, media_root: str | Path | None = None,
                   limit: int | None = None, prompt_style: str = DEFAULT_PROMPT_STYLE,
                   frame_records: str = "frames", training_prompt: bool = False) -> list[EvalSample]:
    """Read a Video-R1 eval file into samples (the key is guessed from the file name if not given;
    a ``benchmark`` given explicitly may also name a benchmark of your own).

    Records are read by :class:`~verl_videorft.data.records.RecordFile`, the reader training uses
    (JSON array or JSON Lines, parsed lazily); a record that does not parse fails alone, naming its
    ``file:line``. ``media_root`` defaults to the file's folder; ``limit`` keeps the first N records;
    ``prompt_style`` is ``"videorft"`` or ``"video_r1"`` (:func:`verl_videorft.prompts.build_question`
    with ``for_eval=True``); ``frame_records`` see :data:`FRAME_RECORD_MODES`; ``training_prompt``
    see :func:`make_sample`.
    """
    check_style(prompt_style)
    if frame_records not in FRAME_RECORD_MODES:
        raise ValueError(f"unknown frame_records {frame_records!r}; expected one of {list(FRAME_RECORD_MODES)}")
    p = Path(path)
    key = resolve_benchmark_key(benchmark or p.name, allow_custom=benchmark is not None)
    root = Path(media_root) if media_root is not None else p.parent
    records = RecordFile(p)
    n = len(records) if limit is None else min(limit, len(records))
    samples = []
    for i in range(n):
        try:
            record: Any = records[i]
        except RecordError as e:  # the message already names file:line
            samples.append(EvalSample(f"{key}/{i}", key, i, None, "", "", "", "", "", {}, str(e)))
            continue
        samples.append(make_sample(record, key, i, root, source=records.where(i), prompt_style=prompt_style,
                                   frame_records=frame_records, training_prompt=training_prompt))
    return samples


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
