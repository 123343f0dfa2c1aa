"""The four stages, as functions from work items to stage rows (no I/O, no scheduling).

A work item is one record on its way through the pipeline::

    {"problem_id": str, "record": dict, "media": absolute path, "where": "file:line",
     "rows": {stage: row or None},                   # what earlier runs/stages wrote
     "frames": array, "meta": dict, "decodes": int,   # attached by the runner for frame stages
     "media_error": str}                              # instead of frames, when decoding failed

Every row has ``problem_id``, ``status`` (``ok`` | ``failed``; filter: ``kept`` | ``dropped``),
``reason`` (why it failed or was dropped, else None), ``error``, ``attempts``, ``tokens_in``,
``tokens_out``, ``seconds``, ``decodes``, ``engine`` and ``prompts`` (the prompts' VERSION).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from verl_videorft.cot import prompts
from verl_videorft.cot.frames import frame_info, timestamps
from verl_videorft.cot.requests import Engine, Reply, Request
from verl_videorft.cot.schema import OutputError, parse_chain, parse_description
from verl_videorft.cot.settings import CotSettings

Item = dict[str, Any]


def needs(stage: str, item: Item) -> bool:
    """Whether ``stage`` still has to run for this item (not done, and its input is ready)."""
    rows = item["rows"]
    if rows.get(stage) is not None:
        return False
    before = {"describe": None, "reason": "describe", "revise": "reason", "filter": "revise"}[stage]
    return before is None or (rows.get(before) or {}).get("status") == "ok"


def base_row(item: Item, stage: str, engine: str = "") -> dict[str, Any]:
    return {"problem_id": item["problem_id"], "stage": stage, "status": "ok", "reason": None, "error": None,
            "attempts": 0, "tokens_in": 0, "tokens_out": 0, "seconds": float(item.get("decode_s", 0.0)),
            "decodes": int(item.get("decodes", 0)), "engine": engine, "prompts": prompts.VERSION}


def failed(row: dict[str, Any], reason: str, error: str) -> dict[str, Any]:
    row.update(status="failed", reason=reason, error=error[:1000])
    return row


def call_model(engine: Engine, requests: Sequence[Request], parse: Callable[[str], Any],
               feedback: Callable[[OutputError], str], max_attempts: int) -> list[dict[str, Any]]:
    """Run requests; a reply that ``parse`` rejects is asked again (with ``feedback``) up to
    ``max_attempts`` calls in all. Returns per request ``{value, text, error, kind, attempts,
    tokens_in, tokens_out}``; ``kind`` is ``invalid`` (never parsed) or ``engine`` (the engine
    failed it), ``value`` the parsed result when it succeeded."""
    results = [{"value": None, "text": "", "error": None, "kind": None, "attempts": 0, "tokens_in": 0,
                "tokens_out": 0} for _ in requests]
    pending = list(range(len(requests)))
    current = list(requests)
    for _ in range(max_attempts):
        if not pending:
            break
        replies: list[Reply] = engine.generate([current[i] for i in pending])
        still = []
        for i, rep in zip(pending, replies):
            res = results[i]
            res["attempts"] += 1
            res["tokens_in"] += rep.tokens_in
            res["tokens_out"] += rep.tokens_out
            res["text"] = rep.text
            if rep.error is not None:
                res.update(error=rep.error, kind="engine")
                continue
            try:
                res.update(value=parse(rep.text), error=None, kind=None)
            except OutputError as err:
                res.update(error=str(err), kind="invalid")
                req = current[i]
                current[i] = Request(prompts.retry_messages(requests[i].messages, rep.text, feedback(err)),
                                     req.gen, req.frames, req.meta, req.timestamps, retry=True)
                still.append(i)
        pending = still
    return results


def _model_stage(stage: str, items: Sequence[Item], engine: Engine, settings: CotSettings,
                 build: Callable[[Item], Request], parse: Callable[[str], Any],
                 feedback: Callable[[OutputError], str], fill: Callable[[dict, Any, Item], None]) -> list[dict]:
    t0 = time.perf_counter()
    rows: list[dict | None] = [None] * len(items)
    ready, requests = [], []
    for k, item in enumerate(items):
        row = base_row(item, stage, getattr(engine, "name", ""))
        if item.get("media_error"):
            rows[k] = failed(row, "media_error", item["media_error"])
            continue
        rows[k] = row
        ready.append(k)
        requests.append(build(item))
    results = call_model(engine, requests, parse, feedback, settings.max_attempts) if requests else []
    per = (time.perf_counter() - t0) / max(1, len(items))
    for k, res in zip(ready, results):
        row = rows[k]
        row.update(attempts=res["attempts"], tokens_in=res["tokens_in"], tokens_out=res["tokens_out"])
        if res["value"] is None:
            failed(row, f"{stage}_failed", res["error"] or "no reply")
            row["raw"] = res["text"][:2000]
        else:
            fill(row, res["value"], items[k])
    for row in rows:
        row["seconds"] = round(row["seconds"] + per, 4)  # decoding (when this stage decoded) + model
    return rows


def describe(items: Sequence[Item], engine: Engine, settings: CotSettings) -> list[dict]:
    """Structured description of each clip (frames attached), validated against the schema."""
    def build(item: Item) -> Request:
        ts = timestamps(item["meta"])
        return Request(prompts.describe_messages(ts, settings.fps), settings.stage_gen("describe"),
                       item["frames"], item["meta"], ts)

    def fill(row: dict, value: dict, item: Item) -> None:
        row.update(description=value, frames=frame_info(item["meta"], settings))

    return _model_stage("describe", items, engine, settings, build, parse_description,
                        lambda err: prompts.RETRY_JSON.format(error=err), fill)


def reason(items: Sequence[Item], engine: Engine, settings: CotSettings) -> list[dict]:
    """Blind chain of thought from the description and the question (text only)."""
    def build(item: Item) -> Request:
        msgs = prompts.reason_messages(item["record"], item["rows"]["describe"]["description"])
        return Request(msgs, settings.stage_gen("reason"))

    def fill(row: dict, chain, item: Item) -> None:
        row.update(chain=chain.text, answer=chain.answer)

    return _model_stage("reason", items, engine, settings, build, parse_chain,
                        lambda err: prompts.RETRY_CHAIN, fill)


def revise(items: Sequence[Item], engine: Engine, settings: CotSettings) -> list[dict]:
    """The chain checked against the frames and corrected where they contradict it."""
    def build(item: Item) -> Request:
        ts = timestamps(item["meta"])
        msgs = prompts.revise_messages(item["record"], item["rows"]["reason"]["chain"], ts)
        return Request(msgs, settings.stage_gen("revise"), item["frames"], item["meta"], ts)

    def fill(row: dict, chain, item: Item) -> None:
        row.update(chain=chain.text, answer=chain.answer,
                   changed=chain.text != item["rows"]["reason"]["chain"])

    return _model_stage("revise", items, engine, settings, build, parse_chain,
                        lambda err: prompts.RETRY_CHAIN, fill)
