"""``stats.json``, ``cot.jsonl`` and the summary table, all computed from the stage rows.

Every input record ends in exactly one place: ``kept``, or ``dropped[reason]`` for the first stage
that failed it (``unfinished`` when the stages it still needs were not run), so
``kept + sum(dropped.values()) == input`` by construction.

    >>> items = [{"problem_id": "a", "media": "/v.mp4", "record": {}, "rows": {
    ...     "describe": {"status": "ok", "tokens_in": 10, "tokens_out": 5, "seconds": 1.0, "decodes": 1},
    ...     "reason": {"status": "failed", "reason": "reason_failed", "tokens_in": 7, "tokens_out": 3,
    ...                "seconds": 0.5, "decodes": 0}}}]
    >>> s = compute_stats(items)
    >>> s["input"], s["kept"], s["dropped"], s["stages"]["reason"]["failed"]
    (1, 0, {'reason_failed': 1}, 1)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verl_videorft.cot.settings import FRAME_STAGES, STAGES
from verl_videorft.cot.store import write_atomic, write_json_atomic


def disposition(item: dict[str, Any]) -> str:
    """``kept`` or the drop reason of one item."""
    rows = item["rows"]
    final = rows.get("filter")
    if final is not None:
        return "kept" if final.get("status") == "kept" else str(final.get("reason") or "dropped")
    for stage in STAGES[:-1]:
        row = rows.get(stage)
        if row is None:
            return "unfinished"
        if row.get("status") != "ok":
            return str(row.get("reason") or f"{stage}_failed")
    return "unfinished"


def compute_stats(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``stats.json`` dict (plus ``frames``: videos seen by frame stages and decodes)."""
    fates = Counter(disposition(it) for it in items)
    kept = fates.pop("kept", 0)
    stages: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        acc = {"done": 0, "failed": 0, "tokens_in": 0, "tokens_out": 0, "seconds": 0.0}
        for it in items:
            row = it["rows"].get(stage)
            if row is None:
                continue
            acc["failed" if row.get("status") == "failed" else "done"] += 1
            acc["tokens_in"] += int(row.get("tokens_in") or 0)
            acc["tokens_out"] += int(row.get("tokens_out") or 0)
            acc["seconds"] += float(row.get("seconds") or 0.0)
        acc["seconds"] = round(acc["seconds"], 3)
        stages[stage] = acc
    per_video: dict[str, int] = defaultdict(int)
    for it in items:
        for stage in FRAME_STAGES:
            row = it["rows"].get(stage)
            if row is not None and it.get("media"):
                per_video[it["media"]] += int(row.get("decodes") or 0)
    decoded = {v: n for v, n in per_video.items()}
    frames = {"videos": len(decoded), "decodes": sum(decoded.values()),
              "max_decodes_per_video": max(decoded.values(), default=0)}
    return {"input": len(items), "kept": kept, "dropped": dict(sorted(fates.items())), "stages": stages,
            "frames": frames}


def write_outputs(out: Path, items: Sequence[dict[str, Any]], stats: dict[str, Any]) -> None:
    """``cot.jsonl`` (kept records in input order) and ``stats.json``, each replaced atomically."""
    kept = (it["rows"]["filter"]["record"] for it in items
            if (it["rows"].get("filter") or {}).get("status") == "kept")
    write_atomic(Path(out) / "cot.jsonl", kept)
    write_json_atomic(Path(out) / "stats.json", stats)


def summary_table(stats: dict[str, Any]) -> str:
    """A plain-text table: one line per stage, then kept and each drop reason."""
    lines = [f"{'stage':<9}{'done':>8}{'failed':>8}{'tokens in':>12}{'tokens out':>12}{'seconds':>10}{'rec/s':>8}"]
    for stage, s in stats["stages"].items():
        n = s["done"] + s["failed"]
        rate = f"{n / s['seconds']:.2f}" if s["seconds"] > 0 else "-"
        lines.append(f"{stage:<9}{s['done']:>8}{s['failed']:>8}{s['tokens_in']:>12}{s['tokens_out']:>12}"
                     f"{s['seconds']:>10.1f}{rate:>8}")
    lines.append(f"input {stats['input']}, kept {stats['kept']}"
                 + "".join(f", {k} {v}" for k, v in stats["dropped"].items()))
    fr = stats.get("frames") or {}
    if fr.get("videos"):
        lines.append(f"frames: {fr['decodes']} decodes for {fr['videos']} videos "
                     f"(at most {fr['max_decodes_per_video']} per video)")
    return "\n".join(lines)
