"""``demo_run/report.json``, ``report.md`` and the PNG plots.

``report.json`` (other tools read it)::

    {"wall_s": float, "chance": float, "encoder_auc": float,
     "stages": {"base"|"sft"|"rl"|"blind"|"shuffled": {"accuracy", "format", "n", "by_type": {type: acc}}},
     "steps": [{"step", "reward/score", "reward/acc", "reward/format", "reward/sem", "reward/length_bonus",
                "training/rollout_probs_diff_max"}]}

Accuracies are in [0, 1]; ``chance`` is the expected accuracy of uniform guessing on the held-out set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STAGES = ("base", "sft", "rl", "blind", "shuffled")
# report.json step key → verl metric (the total is verl's own summed score, length bonus included)
STEP_KEYS = {"reward/score": "critic/score/mean", "reward/acc": "reward/acc/mean",
             "reward/format": "reward/format/mean", "reward/sem": "reward/sem/mean",
             "reward/length_bonus": "reward/length_bonus/mean",
             "training/rollout_probs_diff_max": "training/rollout_probs_diff_max"}


def step_rows(metrics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-step part of report.json from verl's metric rows (a missing metric is null)."""
    return [{"step": int(row["step"]), **{k: row.get(src) for k, src in STEP_KEYS.items()}} for row in metrics]


def build_report(*, wall_s: float, chance: float, encoder_auc: float, stages: dict[str, dict[str, Any]],
                 metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"wall_s": wall_s, "chance": chance, "encoder_auc": encoder_auc,
            "stages": {k: {f: stages[k][f] for f in ("accuracy", "format", "n", "by_type")} for k in STAGES
                       if k in stages},
            "steps": step_rows(metrics)}


def quarter_means(values: Sequence[float]) -> tuple[float, float]:
    """Mean of the first and of the last quarter (at least one value each).

    >>> quarter_means([0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    (0.0, 2.0)
    """
    k = max(1, len(values) // 4)
    return sum(values[:k]) / k, sum(values[-k:]) / k


def targets(report: dict[str, Any], order_type: str) -> list[tuple[str, bool, str]]:
    """``(target, met, measured)`` for each of the issue's targets."""
    st, chance = report["stages"], report["chance"]
    scores = [s["reward/score"] for s in report["steps"] if s["reward/score"] is not None]
    first, last = quarter_means(scores) if scores else (0.0, 0.0)
    sem = [s["reward/sem"] or 0.0 for s in report["steps"]]
    gaps = [s["training/rollout_probs_diff_max"] for s in report["steps"]]
    order = lambda k: st[k]["by_type"].get(order_type, 0.0)
    return [
        ("format rate after SFT >= 0.9", st["sft"]["format"] >= 0.9, f"{st['sft']['format']:.3f}"),
        ("held-out accuracy after GRPO >= SFT + 10 points", st["rl"]["accuracy"] >= st["sft"]["accuracy"] + 0.10,
         f"{st['rl']['accuracy']:.3f} vs {st['sft']['accuracy']:.3f}"),
        ("blind <= chance + 10 points", st["blind"]["accuracy"] <= chance + 0.10,
         f"{st['blind']['accuracy']:.3f} vs chance {chance:.3f}"),
        (f"shuffled >= 15 points below GRPO on {order_type}", order("shuffled") <= order("rl") - 0.15,
         f"{order('shuffled'):.3f} vs {order('rl'):.3f}"),
        ("train reward: last quarter >= first quarter + 0.2", last >= first + 0.2, f"{last:.3f} vs {first:.3f}"),
        ("semantic reward nonzero on some step", any(v > 0 for v in sem), f"max {max(sem, default=0.0):.3f}"),
        ("rollout_probs_diff_max <= 1e-3 every step", bool(gaps) and all(g is not None and g <= 1e-3 for g in gaps),
         f"max {max((g for g in gaps if g is not None), default=float('nan')):.2e}"),
    ]


def markdown(report: dict[str, Any], timings: dict[str, float], order_type: str) -> str:
    """The report: per-stage table (accuracy per problem type, format), targets, timings."""
    types = sorted({t for s in report["stages"].values() for t in s["by_type"]})
    lines = [f"# VideoRFT in miniature: {report['wall_s']:.0f} s wall", "",
             f"Held-out benchmark: {report['stages']['base']['n']} questions; chance {report['chance']:.3f}; "
             f"semantic encoder AUC (matching vs mismatching captions, held-out clips) {report['encoder_auc']:.3f}.",
             "", "| stage | accuracy | " + " | ".join(types) + " | format |",
             "|---|---|" + "---|" * len(types) + "---|"]
    for name, s in report["stages"].items():
        lines.append(f"| {name} | {s['accuracy']:.3f} | " + " | ".join(f"{s['by_type'].get(t, 0.0):.3f}" for t in types)
                     + f" | {s['format']:.3f} |")
    lines += ["", f"Order-dependent problem type: `{order_type}`.", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {value} |" for name, ok, value in targets(report, order_type)]
    lines += ["", "| stage | seconds |", "|---|---|"] + [f"| {k} | {v:.0f} |" for k, v in timings.items()]
    lines += ["", "![accuracy](accuracy.png)", "", "![rewards](rewards.png)", "", "![rollout gap](rollout_gap.png)", ""]
    return "\n".join(lines)


def accuracy_plot(report: dict[str, Any], out_png: Path) -> Path:
    """Grouped bars: accuracy per problem type and format rate, one group per stage / control."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    stages = list(report["stages"])
    types = sorted({t for s in report["stages"].values() for t in s["by_type"]})
    series = {t: [report["stages"][s]["by_type"].get(t, 0.0) for s in stages] for t in types}
    series["all"] = [report["stages"][s]["accuracy"] for s in stages]
    series["format rate"] = [report["stages"][s]["format"] for s in stages]
    x, width = np.arange(len(stages)), 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label,
               hatch="//" if label == "format rate" else None)
    ax.axhline(report["chance"], color="0.3", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(x, stages)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out accuracy / format rate")
    ax.legend(fontsize=7, ncols=3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def write_all(workdir: Path, report: dict[str, Any], timings: dict[str, float], metrics: Sequence[dict[str, Any]],
              order_type: str, extra_markdown: str = "") -> Path:
    """report.json, report.md (``extra_markdown`` appended), accuracy.png, rewards.png, rollout_gap.png."""
    from verl_videorft.curves import plot_metrics

    (workdir / "report.json").write_text(json.dumps(report, indent=2))
    accuracy_plot(report, workdir / "accuracy.png")
    keys = [src for k, src in STEP_KEYS.items() if k.startswith("reward/")]
    if metrics:
        plot_metrics(metrics, keys, workdir / "rewards.png", title="GRPO reward components per step")
        plot_metrics(metrics, ["training/rollout_probs_diff_max"], workdir / "rollout_gap.png",
                     title="rollout vs actor probability gap", log_keys=["training/rollout_probs_diff_max"])
    md = workdir / "report.md"
    md.write_text(markdown(report, timings, order_type) + ("\n" + extra_markdown if extra_markdown else ""))
    return md
