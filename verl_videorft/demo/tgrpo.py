"""T-GRPO in the miniature: the trainer overrides of the variant and its part of the demo report.

    python -m verl_videorft.demo --tgrpo                          # the pipeline, GRPO and T-GRPO
    python -m verl_videorft.demo --grpo-only --steps 2 --tgrpo    # a quick T-GRPO run

:func:`with_tgrpo` turns a demo GRPO run's overrides into the T-GRPO variant (Video-R1's temporal
contrast: ``+recipe=[videorft_tgrpo,videorft_cpu]``, n/2 shuffled-frame rollouts per video prompt).
:func:`tgrpo_summary` reads one run's metric rows (verl's file logger, ``demo.read_metrics``);
:func:`tgrpo_section` writes the report's markdown section from the plain and T-GRPO runs' rows
(and, when the caller evaluated both checkpoints, their held-out accuracy per problem type).

    >>> with_tgrpo(["+recipe=videorft_cpu", "trainer.total_training_steps=2"])[0]
    '+recipe=[videorft_tgrpo,videorft_cpu]'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TGRPO_RECIPE = "+recipe=[videorft_tgrpo,videorft_cpu]"  # the CPU recipe last: its sizes win
STEP_KEYS = ("reward/acc/mean", "critic/score/mean", "tgrpo/ordered_acc", "tgrpo/shuffled_acc",
             "tgrpo/bonus_rate", "reward/temporal_bonus/mean", "timing_s/gen")


def with_tgrpo(overrides: Sequence[str]) -> list[str]:
    """The overrides with T-GRPO on: the CPU recipe swapped for the T-GRPO + CPU pair, else the switch."""
    out = [TGRPO_RECIPE if o == "+recipe=videorft_cpu" else o for o in overrides]
    return out if TGRPO_RECIPE in out else out + ["++reward.videorft.temporal.enable=true"]


def _mean(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    return sum(vals) / len(vals) if vals else None


def tgrpo_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Means over a run's steps, and the train accuracy over its first and last quarter of steps.

    >>> tgrpo_summary([{"reward/acc/mean": 0.0}, {"reward/acc/mean": 1.0}])["acc_last_quarter"]
    1.0
    """
    quarter = max(1, len(rows) // 4)
    out: dict[str, float | None] = {k: _mean(rows, k) for k in STEP_KEYS}
    out["acc_first_quarter"] = _mean(rows[:quarter], "reward/acc/mean")
    out["acc_last_quarter"] = _mean(rows[-quarter:], "reward/acc/mean")
    out["steps"] = float(len(rows))
    return out


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def tgrpo_section(grpo_rows: Sequence[Mapping[str, Any]], tgrpo_rows: Sequence[Mapping[str, Any]],
                  held_out: Mapping[str, Mapping[str, float]] | None = None, order_type: str | None = None) -> str:
    """Markdown: GRPO vs T-GRPO, run means and per-step T-GRPO curves; ``held_out`` maps a row label
    (a checkpoint, or a checkpoint under a control) to its accuracy by problem type, in table order
    (``order_type`` marks the order-dependent one)."""
    plain, temporal = tgrpo_summary(grpo_rows), tgrpo_summary(tgrpo_rows)
    lines = ["## GRPO with and without T-GRPO", "",
             "T-GRPO (Video-R1's temporal contrast, `+recipe=videorft_tgrpo`): n/2 extra rollouts per video "
             "prompt on shuffled frames, scored for accuracy only and never trained on; +0.3 to the accuracy of "
             "right ordered rollouts when ordered accuracy ≥ 0.8 × shuffled accuracy.", "",
             "| run | steps | train acc (first ¼) | train acc (last ¼) | score | ordered acc | shuffled acc "
             "| bonus rate | temporal bonus | rollout s/step |", "|" + "---|" * 10]
    for name, s in (("GRPO", plain), ("T-GRPO", temporal)):
        lines.append(f"| {name} | {s['steps']:.0f} | {_cell(s['acc_first_quarter'])} | {_cell(s['acc_last_quarter'])}"
                     f" | {_cell(s['critic/score/mean'])} | {_cell(s['tgrpo/ordered_acc'])} "
                     f"| {_cell(s['tgrpo/shuffled_acc'])} | {_cell(s['tgrpo/bonus_rate'])} "
                     f"| {_cell(s['reward/temporal_bonus/mean'])} | {_cell(s['timing_s/gen'])} |")
    if held_out:
        types = sorted({t for acc in held_out.values() for t in acc})
        note = f" (order-dependent: `{order_type}`)" if order_type else ""
        lines += ["", f"Held-out accuracy by problem type{note}",
                  "", "| checkpoint | " + " | ".join(types) + " |", "|---|" + "---|" * len(types)]
        for name, acc in held_out.items():
            lines.append(f"| {name} | " + " | ".join(_cell(acc.get(t)) for t in types) + " |")
    lines += ["", "T-GRPO per step:", "", "| step | ordered acc | shuffled acc | bonus rate | temporal bonus |",
              "|---|---|---|---|---|"]
    for r in tgrpo_rows:
        lines.append(f"| {r.get('step')} | {_cell(r.get('tgrpo/ordered_acc'))} | {_cell(r.get('tgrpo/shuffled_acc'))}"
                     f" | {_cell(r.get('tgrpo/bonus_rate'))} | {_cell(r.get('reward/temporal_bonus/mean'))} |")
    return "\n".join(lines) + "\n"


def tgrpo_report(stages: Mapping[str, Mapping[str, Any]], grpo_rows: Sequence[Mapping[str, Any]],
                 tgrpo_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """report.json's ``"tgrpo"`` part: the T-GRPO checkpoint's held-out results (plain and shuffled
    frames, as ``stages``), both runs' summaries and T-GRPO's per-step metrics.

    >>> part = tgrpo_report({"tgrpo": {"accuracy": 0.5}}, [], [{"step": 1, "tgrpo/bonus_rate": 0.25}])
    >>> part["stages"], part["steps"][0]["tgrpo/bonus_rate"]
    ({'tgrpo': {'accuracy': 0.5}}, 0.25)
    """
    return {"stages": {k: dict(stages[k]) for k in ("tgrpo", "tgrpo_shuffled") if k in stages},
            "summary": {"grpo": tgrpo_summary(grpo_rows), "tgrpo": tgrpo_summary(tgrpo_rows)},
            "steps": [{"step": r.get("step"), **{k: r.get(k) for k in STEP_KEYS}} for r in tgrpo_rows]}


def step_lines(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per step of a T-GRPO run's ``tgrpo/*`` metrics (the quick run's printout)."""
    keys = [k for k in STEP_KEYS if k.startswith(("tgrpo/", "reward/temporal"))]
    return "\n".join(f"step {r.get('step')}: " + ", ".join(f"{k} {_cell(r.get(k))}" for k in keys) for r in rows)
