"""The whole miniature pipeline, stage by stage, timed: what ``make demo`` runs.

data → tiny models → semantic encoder (SigLIP loss on the clips' captions) → SFT (verl's
``sft_trainer``) → GRPO (verl's ``main_ppo +recipe=videorft_cpu``) → ``videorft eval`` of the base,
SFT and GRPO checkpoints plus blind and shuffled controls → ``report.md`` / ``report.json`` / plots.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from verl_videorft.demo.settings import DEMO_PROFILE, PROFILE_NAME, DemoSettings


class StageError(RuntimeError):
    """A stage failed; the message names it and where its log is."""


@contextmanager
def timed(name: str, timings: dict[str, float], echo: Callable[[str], None]):
    echo(f"[videorft demo] {name} ...")
    t0 = time.monotonic()
    yield
    timings[name] = time.monotonic() - t0
    echo(f"[videorft demo] {name} done in {timings[name]:.0f} s")


def grpo_stage(workdir: Path, data: dict[str, Path], sft_model: Path, encoder: Path, s: DemoSettings) -> Path:
    from verl_videorft.checkpoints import export_hf
    from verl_videorft.demo import grpo

    overrides = grpo.pipeline_overrides(train=data["train"], val=data["test"], model=sft_model, encoder=encoder,
                                        workdir=workdir, g=s.grpo, profile_name=PROFILE_NAME,
                                        prompt_style=s.prompt_style, seed=s.seed)
    result = grpo.run_trainer(overrides, workdir, s.grpo.timeout_s)
    if result.returncode != 0 or not grpo.checkpoints(workdir):
        raise StageError(f"GRPO failed (exit {result.returncode}); log: {workdir / 'train.log'}")
    return export_hf(workdir / "checkpoints", workdir / "models" / "rl")


def eval_stage(workdir: Path, data: dict[str, Path], models: dict[str, Path], s: DemoSettings,
               timings: dict[str, float], echo: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    from verl_videorft.demo.evaluate import run_eval

    records = {r["problem_id"]: r for r in map(json.loads, data["test"].read_text().splitlines())}
    runs = {"base": (models["base"], None), "sft": (models["sft"], None), "rl": (models["rl"], None),
            "blind": (models["rl"], "blank"), "shuffled": (models["rl"], "shuffle")}
    stages = {}
    for name, (model, control) in runs.items():
        with timed(f"eval {name}", timings, echo):
            stages[name] = run_eval(model, data["test"], workdir / "eval" / name, records,
                                    prompt_style=s.prompt_style, control=control, batch_size=s.eval_batch_size)
        echo(f"[videorft demo]   {name}: accuracy {stages[name]['accuracy']:.3f} format {stages[name]['format']:.3f}"
             f" {stages[name]['by_task']}")
    return stages


def run_pipeline(workdir: Path, s: DemoSettings | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage under ``workdir``; returns report.json's content (also written there)."""
    from verl_videorft.data.demo_tasks import ORDER_TASK, TASKS
    from verl_videorft.demo import grpo, report, stages
    from verl_videorft.demo.sft import run_sft, write_sft_parquet

    s = s or DemoSettings()
    workdir.mkdir(parents=True, exist_ok=True)
    t0, timings = time.monotonic(), {}
    with timed("data", timings, echo):
        data = stages.make_data(workdir, s)
    with timed("tiny models", timings, echo):
        models = stages.build_models(workdir, s)
    with timed("semantic encoder", timings, echo):
        enc = stages.train_semantic_encoder(workdir, data, models["siglip_random"], s)
    echo(f"[videorft demo]   encoder AUC on held-out clips: {enc['auc_before']:.3f} -> {enc['auc']:.3f}")
    with timed("SFT", timings, echo):
        parquet = write_sft_parquet(data["cot"], workdir / "data" / "sft.parquet", media_root=None,
                                    profile=DEMO_PROFILE, prompt_style=s.prompt_style)
        sft = run_sft(parquet, models["base"], workdir, s.sft)
        if sft["model"] is None:
            raise StageError(f"SFT failed (exit {sft['returncode']}); log: {workdir / 'sft.log'}")
    models["sft"] = sft["model"]
    with timed("GRPO", timings, echo):
        models["rl"] = grpo_stage(workdir, data, models["sft"], enc["model"], s)
    results = eval_stage(workdir, data, models, s, timings, echo)
    chance = json.loads(data["meta"].read_text())["chance"]
    metrics = grpo.read_metrics(workdir)
    out = report.build_report(wall_s=time.monotonic() - t0, chance=chance, encoder_auc=enc["auc"], stages=results,
                              metrics=metrics)
    timings["total"] = out["wall_s"]
    report.write_all(workdir, out, timings, metrics, TASKS[ORDER_TASK])
    details = {"timings_s": timings, "by_task": {k: v["by_task"] for k, v in results.items()},
               "sft_losses": sft["losses"], "encoder": {k: v for k, v in enc.items() if k != "model"}}
    (workdir / "details.json").write_text(json.dumps(details, indent=2))
    return out
