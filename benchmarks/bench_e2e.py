"""Seconds per GRPO step of the demo configuration (CPU profile) and where the time goes.

Runs ``python -m verl.trainer.main_ppo +recipe=videorft_cpu`` on the demo data with the tiny model
(what ``make demo`` runs) for ``--steps`` steps and prints, per step, verl's own timers as a table:
rollout (``gen``: frames, generation and the streamed reward), log-prob recomputation (old / ref),
advantage, actor update, weight sync, checkpoint, each with its share of the step, plus the
per-trajectory generation and reward seconds inside the rollout phase. Step 1 includes warm-up;
the last row is the mean of the others.

    python benchmarks/bench_e2e.py --steps 3 --workdir /tmp/bench_e2e
    python benchmarks/bench_e2e.py --steps 3 --tgrpo    # + the same run with T-GRPO, and its cost

``--tgrpo`` runs the configuration a second time with ``+recipe=[videorft_tgrpo,videorft_cpu]``
(n/2 shuffled-frame rollouts per video prompt) and prints the rollout phase's seconds per step with
and without, the generations per step, and the frame decodes of one group of ``n`` rollouts through
``VideoAgentLoop`` and the HF rollout server in this process (frame-cache misses = decodes; the
shuffled rollouts reuse the frames the loop holds, so the count must not move).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from verl_videorft import demo

PHASES = [  # (column, verl timer): the phases of verl's V1 sync step, in order; they sum to ~the step
    ("rollout", "timing_s/gen"),            # agent loops: decode frames, generate, score (streamed)
    ("old_logp", "timing_s/old_log_prob"),
    ("ref_logp", "timing_s/ref"),
    ("adv", "timing_s/adv"),
    ("update", "timing_s/update_actor"),
    ("sync", "timing_s/update_weights"),    # trainer -> rollout server weights
    ("ckpt", "timing_s/save_checkpoint"),
]
# Inside the rollout phase (per trajectory, logged by the videorft_sync trainer); the reward is
# computed as each trajectory finishes, so it overlaps other trajectories' generation.
INSIDE = [("gen/traj", "timing_s/trajectory/generate/mean"), ("reward/traj", "timing_s/trajectory/reward/mean")]


def table(rows: list[dict]) -> str:
    cols = PHASES + INSIDE
    head = f"{'step':>6} {'total_s':>8} " + " ".join(f"{c:>14}" for c, _ in cols) + f" {'other':>7}"
    out = [head, "-" * len(head)]

    def line(label: str, row: dict) -> str:
        total = float(row.get("timing_s/step", 0.0))
        used = sum(float(row.get(k, 0.0)) for _, k in PHASES)
        cells = []
        for _, key in cols:
            v = float(row.get(key, 0.0))
            cells.append(f"{v:6.2f} ({v / total:4.0%})" if total else f"{v:6.2f}")
        return f"{label:>6} {total:8.2f} " + " ".join(f"{c:>14}" for c in cells) + f" {total - used:7.2f}"

    for row in rows:
        out.append(line(str(row["step"]), row))
    steady = rows[1:] or rows
    keys = ["timing_s/step"] + [k for _, k in cols]
    mean = {k: sum(float(r.get(k, 0.0)) for r in steady) / len(steady) for k in keys}
    out.append(line("mean*", mean))
    out.append("* mean over the steps after the first (step 1 includes warm-up) when there are >= 2 steps;"
               " gen/traj and reward/traj are per-trajectory means inside the rollout phase")
    return "\n".join(out)


TGRPO_RECIPE = "+recipe=[videorft_tgrpo,videorft_cpu]"  # CPU sizes win: videorft_cpu comes last


def steady_mean(rows: list[dict], key: str) -> float:
    """Mean of ``key`` over the steps after the first (all steps when there is one)."""
    steady = rows[1:] or rows
    return sum(float(r.get(key, 0.0)) for r in steady) / len(steady)


def group_decodes(workdir: Path, tgrpo: bool) -> dict[str, float]:
    """One demo prompt's ``n`` sessions through ``VideoAgentLoop`` + the HF rollout server, in this
    process, on a cleared frame cache: decodes (cache misses), cache hits, server requests, seconds."""
    import asyncio

    from hydra import compose, initialize_config_module
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.tokenizer.tokenizer import hf_processor, hf_tokenizer

    from verl_videorft.data.dataset import VideoRFTDataset
    from verl_videorft.rollout.agent_loop import VideoAgentLoop
    from verl_videorft.rollout.hf_server import HFRolloutServer
    from verl_videorft.video import get_frame_cache

    inputs = demo.prepare_inputs(workdir)
    with initialize_config_module("verl.trainer.config", version_base=None):
        cfg = compose("ppo_trainer", overrides=[TGRPO_RECIPE, f"data.train_files={inputs['train']}",
                                                f"++reward.videorft.temporal.enable={tgrpo}"])
    tok, proc = hf_tokenizer(str(inputs["model"])), hf_processor(str(inputs["model"]))
    sample = VideoRFTDataset(data_files=[str(inputs["train"])], tokenizer=tok, config=cfg.data, processor=proc)[0]
    model = SimpleNamespace(path=str(inputs["model"]), local_path=str(inputs["model"]), tokenizer=tok, processor=proc)
    server = HFRolloutServer(cfg.actor_rollout_ref.rollout, model)
    calls = []

    class Client:  # verl's server client for one server, minus Ray
        async def generate(self, request_id, **kw):
            calls.append(request_id)
            keep = ("prompt_ids", "sampling_params", "image_data", "video_data", "mm_processor_kwargs")
            return await server.generate(request_id=request_id, **{k: kw.get(k) for k in keep})

    async def group():
        loops = [VideoAgentLoop(trainer_config=DictConfigWrap(cfg), server_manager=Client(), tokenizer=tok,
                                processor=proc, dataset_cls=VideoRFTDataset, data_config=DictConfigWrap(cfg.data),
                                hf_model_type=proc.config.model_type) for _ in range(cfg.actor_rollout_ref.rollout.n)]
        params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
        return await asyncio.gather(*(loop.run(dict(params), session_id=i, uid="u", global_steps=1, **sample)
                                      for i, loop in enumerate(loops)))

    asyncio.run(group())  # warm-up (first forward passes), not counted
    calls.clear()
    get_frame_cache().clear()
    t0 = time.perf_counter()
    asyncio.run(group())
    stats = get_frame_cache().stats()
    return {"decodes": stats["misses"], "cache_hits": stats["hits"], "requests": len(calls),
            "seconds": time.perf_counter() - t0, "n": int(cfg.actor_rollout_ref.rollout.n)}


def _ratio(a: list[dict], b: list[dict], key: str) -> float:
    den = steady_mean(b, key)
    return steady_mean(a, key) / den if den else float("nan")


def tgrpo_cost(base: list[dict], tgrpo: list[dict], workdir: Path) -> str:
    """Rollout seconds per step and generations with and without T-GRPO, and decodes per group."""
    groups = [group_decodes(workdir / "decodes", on) for on in (False, True)]
    gen0, gen1 = steady_mean(base, "timing_s/gen"), steady_mean(tgrpo, "timing_s/gen")
    ordered = steady_mean(tgrpo, "videorft/groups/groups") * groups[0]["n"]
    shuffled = steady_mean(tgrpo, "tgrpo/shuffled_rollouts")
    out = ["", "T-GRPO cost (CPU profile; mean over the steps after the first):",
           f"  rollout phase (timing_s/gen): {gen0:.2f} s/step without, {gen1:.2f} s/step with "
           f"(x{gen1 / gen0:.2f})" if gen0 else "  rollout phase: no timing",
           f"  generations per step: {ordered:.0f} ordered + {shuffled:.0f} shuffled (tgrpo/shuffled_rollouts; "
           f"missing {steady_mean(tgrpo, 'tgrpo/shuffled_missing'):.0f})",
           f"  step (timing_s/step): {steady_mean(base, 'timing_s/step'):.2f} s without, "
           f"{steady_mean(tgrpo, 'timing_s/step'):.2f} s with",
           # T-GRPO does not touch the update: a ratio far from 1 means the machine's load changed
           f"  load check, update_actor with/without: x{_ratio(tgrpo, base, 'timing_s/update_actor'):.2f}"]
    for on, g in zip((False, True), groups):
        out.append(f"  one group through VideoAgentLoop + HF server, T-GRPO {'on ' if on else 'off'}: "
                   f"{g['decodes']} decode(s), {g['cache_hits']} cache hits, {g['requests']} generations, "
                   f"{g['seconds']:.1f} s")
    return "\n".join(out)


def run_config(args: argparse.Namespace, workdir: Path, extra: list[str], tgrpo: bool = False) -> list[dict]:
    """One trainer run of the demo configuration; its per-step metric rows ([] when it failed)."""
    inputs = demo.prepare_inputs(workdir)
    overrides = demo.trainer_overrides(inputs, workdir, args.steps) + ["trainer.save_freq=-1"] + extra
    if tgrpo:
        overrides = [TGRPO_RECIPE if o == "+recipe=videorft_cpu" else o for o in overrides]
    result = demo.run_trainer(overrides, workdir, args.timeout, echo=False)
    if result.returncode != 0:
        print(f"trainer failed (exit {result.returncode}); see {workdir / 'train.log'}", file=sys.stderr)
        return []
    return demo.read_metrics(workdir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/videorft_bench_e2e"))
    ap.add_argument("--timeout", type=int, default=1200)
    ap.add_argument("--tgrpo", action="store_true", help="also run with T-GRPO and print its cost")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    t0 = time.monotonic()
    rows = run_config(args, workdir, args.overrides)
    if not rows:
        return 1
    print(f"demo configuration: {args.steps} GRPO steps; wall {time.monotonic() - t0:.0f} s incl. start-up")
    print(table(rows))
    if args.tgrpo:
        t1 = time.monotonic()
        with_t = run_config(args, workdir / "tgrpo", args.overrides, tgrpo=True)
        if not with_t:
            return 1
        print(f"\nwith T-GRPO ({TGRPO_RECIPE}): wall {time.monotonic() - t1:.0f} s incl. start-up")
        print(table(with_t))
        print(tgrpo_cost(rows, with_t, workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
