"""Seconds per GRPO step of the demo configuration (CPU profile) and where the time goes.

Runs ``python -m verl.trainer.main_ppo +recipe=videorft_cpu`` on the demo data with the tiny model
(what ``make demo`` runs) for ``--steps`` steps and prints, per step, verl's own timers as a table:
rollout (``gen``: frames, generation and the streamed reward), log-prob recomputation (old / ref),
advantage, actor update, weight sync, checkpoint, each with its share of the step, plus the
per-trajectory generation and reward seconds inside the rollout phase. Step 1 includes warm-up;
the last row is the mean of the others.

    python benchmarks/bench_e2e.py --steps 3 --workdir /tmp/bench_e2e
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/videorft_bench_e2e"))
    ap.add_argument("--timeout", type=int, default=1200)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    t0 = time.monotonic()
    inputs = demo.prepare_inputs(workdir)
    overrides = demo.trainer_overrides(inputs, workdir, args.steps) + ["trainer.save_freq=-1"] + args.overrides
    result = demo.run_trainer(overrides, workdir, args.timeout, echo=False)
    rows = demo.read_metrics(workdir)
    if result.returncode != 0 or not rows:
        print(f"trainer failed (exit {result.returncode}); see {workdir / 'train.log'}", file=sys.stderr)
        return 1
    print(f"demo configuration: {args.steps} GRPO steps; wall {time.monotonic() - t0:.0f} s incl. start-up")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
