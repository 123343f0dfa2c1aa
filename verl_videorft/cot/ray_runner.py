"""The stages on Ray Data: one streaming pipeline, one actor pool per stage, the driver writes.

    ray.data.from_items(records) -> map_batches(StageWorker "describe") -> ... "filter" -> driver

Each selected stage is a ``map_batches`` over a pool of ``ray_workers`` actors (``ray_gpus`` GPUs
each for the model stages; an actor loads its engine once), on the project's shared runner
(:mod:`verl_videorft.offline.ray_data`, which ``data precompute --ray`` and ``eval --ray`` use too).
Records stream through all stages, so on a cluster describe, reason and revise run side by side
on different GPUs. The first stage that looks at a video decodes it (the project's sampler) and
the frames ride along in the row to revise and filter: one decode per video, no shared disk
needed. The driver is the only writer: it appends each row to its stage file (fsync per batch)
as batches come out, so a run that dies keeps what was written, and a rerun sends only the
unfinished records into the pipeline.

``ray.data.llm`` (importable with Ray 2.60) is not used: its HTTP processor retries only 408, 429
and 502-504, has no bound on requests in flight (a QPS limit only) and returns a 401 body as a
response; and the describe/revise retry-with-feedback loop needs the reply validated between
calls, which a fixed processor chain does not do. The actors run the project's own engines
instead (vLLM through ``vllm.LLM`` on the actor's GPUs).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from verl_videorft.cot import stages as st
from verl_videorft.cot.batch import attach_frames, chunks, stage_rows
from verl_videorft.cot.engines import make_engine
from verl_videorft.cot.requests import AuthError, Engine
from verl_videorft.cot.settings import FRAME_STAGES, CotSettings, EngineSpec

FRAMES_COL, META_COL, ITEM_COL = "frames_npy", "frame_meta", "item"
TRANSIENT = ("frames", "meta", "new", "fatal")


def pack(item: st.Item, keep_frames: bool) -> dict[str, Any]:
    """A Ray row: the item as JSON, its frames as ``.npy`` bytes (empty when not needed later)."""
    data = b""
    if keep_frames and item.get("frames") is not None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(item["frames"]), allow_pickle=False)
        data = buf.getvalue()
    plain = {k: v for k, v in item.items() if k not in ("frames", "meta")}
    return {ITEM_COL: json.dumps(plain), FRAMES_COL: data, META_COL: json.dumps(item.get("meta") or {})}


def unpack(item_json: str, frames: bytes, meta: str) -> st.Item:
    item = json.loads(item_json)
    if frames:
        item["frames"] = np.load(io.BytesIO(frames), allow_pickle=False)
        item["meta"] = json.loads(meta)
    return item


class StageWorker:
    """A Ray Data actor running one stage on batches of rows."""

    def __init__(self, stage: str, spec: EngineSpec | None, settings: CotSettings, frame_cache_dir: str | None,
                 last_frame_stage: str | None, engine: Engine | None = None):
        from verl_videorft.cot.filtering import SemanticJudge
        from verl_videorft.cot.frames import FrameSource

        self.stage, self.settings, self.last_frame_stage = stage, settings, last_frame_stage
        if stage == "filter":
            self.worker: Any = SemanticJudge(settings.filter)
        else:
            self.worker = engine if engine is not None else make_engine(spec, settings)
        self.frames = FrameSource(settings, frame_cache_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        items = [unpack(i, f, m) for i, f, m in zip(batch[ITEM_COL], batch[FRAMES_COL], batch[META_COL])]
        todo = [it for it in items if not it.get("fatal") and st.needs(self.stage, it)]
        if todo and self.stage in FRAME_STAGES:
            attach_frames(todo, self.frames)
        try:
            for part in chunks(todo, self.settings.batch_size):
                for item, row in zip(part, stage_rows(self.stage, part, self.worker, self.settings)):
                    item["rows"][self.stage] = row
                    item.setdefault("new", []).append(self.stage)
                    item["decodes"], item["decode_s"] = 0, 0.0
        except AuthError as err:  # every request would fail: tell the driver, which stops the run
            for item in items:
                item["fatal"] = str(err)
        keep = self.last_frame_stage is not None and self.stage != self.last_frame_stage
        rows = [pack(it, keep) for it in items]
        return {k: [r[k] for r in rows] for k in (ITEM_COL, FRAMES_COL, META_COL)}


def run_ray(job, items: list[st.Item], files: dict, bars: dict, engines: dict[str, Engine] | None = None) -> None:
    """Run ``job.stages`` for the unfinished ``items`` on Ray Data; rows go to ``files`` as they come."""
    from verl_videorft.offline.ray_data import RayOptions, Step, run_pipeline

    todo = [it for it in items if any(st.needs(s, it) for s in job.stages)]
    frame_stages = [s for s in job.stages if s in FRAME_STAGES]
    last = frame_stages[-1] if frame_stages else None
    steps = [Step(StageWorker, model=stage != "filter",
                  kwargs={"stage": stage, "spec": job.engines.get(stage), "settings": job.settings,
                          "frame_cache_dir": job.frame_cache_dir, "last_frame_stage": last,
                          "engine": (engines or {}).get(stage)})
             for stage in job.stages]
    by_id = {it["problem_id"]: it for it in items}

    def write(batch: dict[str, np.ndarray]) -> None:
        new: dict[str, list[dict]] = {}
        for text in batch[ITEM_COL]:
            item = json.loads(text)
            if item.get("fatal"):
                raise AuthError(item["fatal"])
            for stage in item.get("new", []):
                new.setdefault(stage, []).append(item["rows"][stage])
                by_id[item["problem_id"]]["rows"][stage] = item["rows"][stage]
        for stage, rows in new.items():
            files[stage].append(rows)
            bars[stage].update(len(rows))

    options = RayOptions(address=job.ray_address, workers=job.ray_workers, gpus=job.ray_gpus, cpus=job.ray_cpus)
    rows = [pack(it, False) for it in sorted(todo, key=lambda it: it["media"])]
    run_pipeline(rows, steps, options, job.settings.batch_size, write)
