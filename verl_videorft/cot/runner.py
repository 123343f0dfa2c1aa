"""``videorft cot build``: records in, stage files, ``cot.jsonl`` and ``stats.json`` out; resumable.

    >>> stats = build(CotJob(["train.jsonl"], "out/", media_root="/data",                # doctest: +SKIP
    ...                      engines={s: EngineSpec("hf", "/models/qwen") for s in MODEL_STAGES}))
    >>> stats["kept"] + sum(stats["dropped"].values()) == stats["input"]                  # doctest: +SKIP
    True

Order of work (this process; ``ray=True`` runs the same stages on Ray Data, :mod:`.ray_runner`):
records are sorted by video and taken ``chunk_size`` at a time through every selected stage, so a
video's frames are decoded once and still in memory for revise and filter. Each stage appends one
row per record to ``<stage>.jsonl`` (flushed and fsynced per batch). A rerun reads those files
and does only what is missing; ``cot.jsonl`` and ``stats.json`` are rewritten from the stage files
at the end of every run, so they never hold a record twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_videorft.cot import stages as st
from verl_videorft.cot.batch import attach_frames, chunks, stage_rows
from verl_videorft.cot.engines import EngineCache
from verl_videorft.cot.filtering import SemanticJudge
from verl_videorft.cot.frames import FrameSource
from verl_videorft.cot.requests import Engine
from verl_videorft.cot.settings import FRAME_STAGES, MODEL_STAGES, STAGES, CotSettings, EngineSpec
from verl_videorft.cot.stats import compute_stats, write_outputs
from verl_videorft.cot.store import StageFile


@dataclass
class CotJob:
    """One ``cot build``: inputs, output folder, stages to run, engine per model stage."""

    records: Sequence[str]
    out: str | Path
    media_root: str | None = None
    stages: Sequence[str] = STAGES
    engines: dict[str, EngineSpec] = field(default_factory=dict)
    settings: CotSettings = field(default_factory=CotSettings)
    frame_cache_dir: str | None = None
    progress: bool = True
    ray: bool = False
    ray_address: str | None = None
    ray_workers: int = 1
    ray_gpus: float = 0.0
    ray_cpus: float = 1.0

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; known: {list(STAGES)}")
        self.stages = [s for s in STAGES if s in self.stages]  # always in pipeline order
        self.out = Path(self.out)


def stage_file(out: Path, stage: str) -> StageFile:
    return StageFile(out / f"{stage}.jsonl")


def load_items(files: Sequence[str], media_root: str | None) -> list[st.Item]:
    """Every record as a work item; a record that cannot be used gets ``bad_record`` (its error
    names file and line). Raises ``ValueError`` naming both lines when a ``problem_id`` repeats."""
    from verl_videorft.data.record_check import check_record, resolve_media_path
    from verl_videorft.data.records import RecordFile
    from verl_videorft.prompts import RecordError

    items: list[st.Item] = []
    seen: dict[str, str] = {}
    for file in files:
        rf = RecordFile(file)
        root = os.path.abspath(media_root) if media_root else os.path.dirname(rf.path)
        for i in range(len(rf)):
            where = rf.where(i)
            item: st.Item = {"problem_id": where, "record": {}, "media": "", "where": where, "rows": {}}
            try:
                rec = rf[i]
                item["record"] = rec
                if rec.get("problem_id") is not None:
                    item["problem_id"] = str(rec["problem_id"])
                check_record(rec)
                item["media"] = resolve_media_path(rec["path"], root)
            except RecordError as err:
                item["bad_record"] = f"{where}: {str(err).removeprefix(where + ': ')}"
            pid = item["problem_id"]
            if pid in seen:
                raise ValueError(f"{where}: problem_id {pid!r} already used at {seen[pid]}; "
                                 "the CoT stage files are keyed by problem_id")
            seen[pid] = where
            items.append(item)
    return items


def attach_rows(items: list[st.Item], out: Path) -> None:
    for stage in STAGES:
        done = stage_file(out, stage).rows()
        for item in items:
            item["rows"][stage] = done.get(item["problem_id"])


def bad_record_rows(items: list[st.Item]) -> list[dict]:
    """Describe rows for unusable records (written once, so the stats count them)."""
    rows = []
    for item in items:
        if item.get("bad_record") and item["rows"].get("describe") is None:
            rows.append(st.failed(st.base_row(item, "describe"), "bad_record", item["bad_record"]))
    return rows


class LocalRunner:
    """Runs stages in this process (``EngineCache``: one engine per model, shared by stages)."""

    def __init__(self, job: CotJob, engines: dict[str, Engine] | None = None):
        self.job = job
        self.engines = EngineCache(job.settings, engines)
        self.frames = FrameSource(job.settings, job.frame_cache_dir)
        self._judge: SemanticJudge | None = None

    def run_stage(self, stage: str, batch: list[st.Item]) -> list[dict]:
        if stage == "filter":
            if self._judge is None:
                self._judge = SemanticJudge(self.job.settings.filter)
            return stage_rows(stage, batch, self._judge, self.job.settings)
        return stage_rows(stage, batch, self.engines.get(stage, self.job.engines.get(stage)), self.job.settings)

    def run(self, items: list[st.Item], files: dict[str, StageFile], bars: dict[str, Any]) -> None:
        job = self.job
        for chunk in chunks(sorted(items, key=lambda it: it["media"]), job.settings.chunk_size):
            for stage in job.stages:
                todo = [it for it in chunk if st.needs(stage, it)]
                if not todo:
                    continue
                if stage in FRAME_STAGES:
                    attach_frames(todo, self.frames)
                for batch in chunks(todo, job.settings.batch_size):
                    rows = self.run_stage(stage, batch)
                    files[stage].append(rows)
                    for item, row in zip(batch, rows):
                        item["rows"][stage] = row
                        # counted once, in the row of the stage that decoded
                        item["decodes"], item["decode_s"] = 0, 0.0
                    bars[stage].update(len(batch))
            for item in chunk:  # frames of a finished chunk leave memory (the cache may keep them)
                item.pop("frames", None)
                item.pop("meta", None)


def make_bars(job: CotJob, items: list[st.Item]) -> dict[str, Any]:
    from tqdm.auto import tqdm

    bars = {}
    for pos, stage in enumerate(job.stages):
        done = sum(1 for it in items if it["rows"].get(stage) is not None)
        bars[stage] = tqdm(total=len(items), initial=done, desc=f"{stage:>8}", unit="rec", position=pos,
                           disable=not job.progress, dynamic_ncols=True, leave=True)
    return bars


def build(job: CotJob, engines: dict[str, Engine] | None = None) -> dict[str, Any]:
    """Run the job's stages (skipping finished records), then write ``cot.jsonl`` and ``stats.json``.

    ``engines`` (stage -> engine object) overrides the specs, for tests and embedding.
    Raises :class:`~verl_videorft.cot.engines.AuthError` when an endpoint refuses the credentials.
    """
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    items = load_items(job.records, job.media_root)  # bad data fails before any model loads
    missing = [s for s in job.stages if s in MODEL_STAGES and s not in job.engines and s not in (engines or {})]
    if missing:
        raise ValueError(f"no engine for stage(s) {missing}: give --engine and --model "
                         "(for all stages, or per stage as STAGE=VALUE)")
    attach_rows(items, out)
    files = {s: stage_file(out, s).open() for s in STAGES}
    try:
        rows = bad_record_rows(items)
        if rows:
            files["describe"].append(rows)
            attach_rows(items, out)
        bars = make_bars(job, items)
        try:
            if job.ray:
                from verl_videorft.cot.ray_runner import run_ray

                run_ray(job, items, files, bars, engines)
            else:
                LocalRunner(job, engines).run(items, files, bars)
        finally:
            for bar in bars.values():
                bar.close()
    finally:
        for f in files.values():
            f.close()
    attach_rows(items, out)
    stats = compute_stats(items)
    write_outputs(out, items, stats)
    return stats
