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


def grpo_stage(workdir: Path, data: dict[str, Path], sft_model: Path, encoder: Path, s: DemoSettings, *,
               tgrpo: bool = False) -> Path:
    """GRPO (or, with ``tgrpo``, its T-GRPO variant) from the SFT model; returns the exported HF model."""
    from verl_videorft.checkpoints import export_hf
    from verl_videorft.demo import grpo
    from verl_videorft.demo.tgrpo import with_tgrpo

    overrides = grpo.pipeline_overrides(train=data["train"], val=data["test"], model=sft_model, encoder=encoder,
                                        workdir=workdir, g=s.grpo, profile_name=PROFILE_NAME,
                                        prompt_style=s.prompt_style, seed=s.seed)
    result = grpo.run_trainer(with_tgrpo(overrides) if tgrpo else overrides, workdir, s.grpo.timeout_s)
    if result.returncode != 0 or not grpo.checkpoints(workdir):
        raise StageError(f"{'T-GRPO' if tgrpo else 'GRPO'} failed (exit {result.returncode}); "
                         f"log: {workdir / 'train.log'}")
    return export_hf(workdir / "checkpoints", workdir / "models" / "rl")


def eval_stage(workdir: Path, data: dict[str, Path], runs: dict[str, tuple[Path, str | None]], s: DemoSettings,
               timings: dict[str, float], echo: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """``videorft eval`` of each ``name -> (model, control)`` (control None, "blank" or "shuffle")."""
    from verl_videorft.demo.evaluate import run_eval

    records = {r["problem_id"]: r for r in map(json.loads, data["test"].read_text().splitlines())}
    stages = {}
    for name, (model, control) in runs.items():
        with timed(f"eval {name}", timings, echo):
            stages[name] = run_eval(model, data["test"], workdir / "eval" / name, records,
                                    prompt_style=s.prompt_style, control=control, batch_size=s.eval_batch_size)
        echo(f"[videorft demo]   {name}: accuracy {stages[name]['accuracy']:.3f} format {stages[name]['format']:.3f}"
             f" {stages[name]['by_task']}")
    return stages


def eval_runs(models: dict[str, Path]) -> dict[str, tuple[Path, str | None]]:
    """The checkpoints and controls to evaluate: base, SFT, GRPO, GRPO blind and shuffled, and the
    T-GRPO checkpoint (plain and shuffled) when there is one.

    >>> list(eval_runs({"base": Path("b"), "sft": Path("s"), "rl": Path("r")}))
    ['base', 'sft', 'rl', 'blind', 'shuffled']
    """
    runs = {"base": (models["base"], None), "sft": (models["sft"], None), "rl": (models["rl"], None),
            "blind": (models["rl"], "blank"), "shuffled": (models["rl"], "shuffle")}
    if "tgrpo" in models:
        runs |= {"tgrpo": (models["tgrpo"], None), "tgrpo_shuffled": (models["tgrpo"], "shuffle")}
    return runs


def run_pipeline(workdir: Path, s: DemoSettings | None = None, echo: Callable[[str], None] = print, *,
                 tgrpo: bool = False) -> dict[str, Any]:
    """Run every stage under ``workdir``; returns report.json's content (also written there).

    With ``tgrpo`` a second RL run, T-GRPO from the same SFT model and seed, goes beside GRPO (its
    files under ``workdir/tgrpo``); both are evaluated and compared in the report.
    """
    from verl_videorft.data.demo_tasks import ORDER_TASK, TASKS
    from verl_videorft.demo import grpo, report, stages
    from verl_videorft.demo.sft import run_sft, write_sft_parquet
    from verl_videorft.demo.tgrpo import tgrpo_report, tgrpo_section

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
    if tgrpo:
        with timed("T-GRPO", timings, echo):
            models["tgrpo"] = grpo_stage(workdir / "tgrpo", data, models["sft"], enc["model"], s, tgrpo=True)
    results = eval_stage(workdir, data, eval_runs(models), s, timings, echo)
    chance = json.loads(data["meta"].read_text())["chance"]
    metrics = grpo.read_metrics(workdir)
    out = report.build_report(wall_s=time.monotonic() - t0, chance=chance, encoder_auc=enc["auc"], stages=results,
                              metrics=metrics)
    section = ""
    if tgrpo:
        t_metrics = grpo.read_metrics(workdir / "tgrpo")
        out["tgrpo"] = tgrpo_report(results, metrics, t_metrics)
        held_out = {"GRPO": "rl", "GRPO, shuffled frames": "shuffled", "T-GRPO": "tgrpo",
                    "T-GRPO, shuffled frames": "tgrpo_shuffled"}
        section = tgrpo_section(metrics, t_metrics, {k: results[v]["by_type"] for k, v in held_out.items()},
                                TASKS[ORDER_TASK])
    timings["total"] = out["wall_s"]
    report.write_all(workdir, out, timings, metrics, TASKS[ORDER_TASK], extra_markdown=section)
    details = {"timings_s": timings, "by_task": {k: v["by_task"] for k, v in results.items()},
               "sft_losses": sft["losses"], "encoder": {k: v for k, v in enc.items() if k != "model"}}
    (workdir / "details.json").write_text(json.dumps(details, indent=2))
    return out
