"""Per-benchmark numbers of a run, as a markdown table beside the paper's Table 1 and a bar chart.

    >>> summary = summarize(read_results("out/results.jsonl"))            # doctest: +SKIP
    >>> print(markdown_report(summary, model="my-ckpt"))                  # doctest: +SKIP
    >>> bar_chart(summary, "out/scores.png", model="my-ckpt")             # doctest: +SKIP

A benchmark's score is the mean over all its samples in percent (multiple choice and numerical
count 0/1, regression counts its MRA, a failed sample counts 0). ``acc`` (non-regression) and
``mra`` (regression) are also given apart, as the released eval prints them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from verl_videorft.evaluation.benchmarks import BENCHMARKS, PAPER_TABLE1


def _mean(xs: list[float]) -> float | None:
    return 100.0 * sum(xs) / len(xs) if xs else None


def summarize(rows: Mapping[str, dict] | Iterable[dict]) -> dict[str, dict]:
    """``{benchmark: {n, failed, score, acc, mra, failures}}``; scores in %, None when empty.

    ``failures`` lists ``{uid, path, error}`` of the failed samples.
    """
    items = rows.values() if isinstance(rows, Mapping) else rows
    groups: dict[str, list[dict]] = {}
    for r in items:
        groups.setdefault(r["benchmark"], []).append(r)
    out = {}
    for bench in sorted(groups, key=lambda b: (list(BENCHMARKS).index(b) if b in BENCHMARKS else 99, b)):
        rs = groups[bench]
        scores = [float(r.get("score") or 0.0) for r in rs]
        reg = [float(r.get("score") or 0.0) for r in rs if r.get("problem_type") == "regression"]
        cls = [float(r.get("score") or 0.0) for r in rs if r.get("problem_type") != "regression"]
        failures = [{"uid": r["uid"], "path": r.get("path"), "error": r.get("error")}
                    for r in rs if r.get("status") != "ok"]
        out[bench] = {"n": len(rs), "failed": len(failures), "score": _mean(scores),
                      "acc": _mean(cls), "mra": _mean(reg), "failures": failures}
    return out


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _name(bench: str) -> str:
    return BENCHMARKS[bench].name if bench in BENCHMARKS else bench


def markdown_report(summary: Mapping[str, dict], *, model: str = "this run", max_failures: int = 50) -> str:
    """Markdown: our row under the paper's Table 1 rows, a detail table, and the failed samples."""
    cols = list(BENCHMARKS) + [b for b in summary if b not in BENCHMARKS]
    lines = ["| model | " + " | ".join(_name(b) for b in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for paper_model, row in PAPER_TABLE1.items():
        lines.append(f"| {paper_model} (paper) | " + " | ".join(_fmt(row.get(b)) for b in cols) + " |")
    lines.append(f"| **{model}** (this run) | "
                 + " | ".join(f"**{_fmt(summary[b]['score'])}**" if b in summary else "–" for b in cols) + " |")
    lines += ["", "| benchmark | samples | failed | score % | acc % (MC/numerical) | MRA % (regression) |",
              "|---|---|---|---|---|---|"]
    for b, s in summary.items():
        lines.append(f"| {_name(b)} | {s['n']} | {s['failed']} | {_fmt(s['score'])} | {_fmt(s['acc'])} | "
                     f"{_fmt(s['mra'])} |")
    failures = [f for s in summary.values() for f in s["failures"]]
    if failures:
        lines += ["", f"Failed samples ({len(failures)}; each scored 0):", ""]
        lines += [f"- `{f['uid']}`" + (f" `{f['path']}`" if f.get("path") else "") + f": {f['error']}"
                  for f in failures[:max_failures]]
        if len(failures) > max_failures:
            lines.append(f"- … and {len(failures) - max_failures} more (see the results JSONL)")
    return "\n".join(lines) + "\n"


def bar_chart(summary: Mapping[str, dict], out_png: str | Path, *, model: str = "this run") -> Path:
    """Grouped bars per benchmark: the paper's Table 1 rows and this run. Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on training nodes or CI
    import matplotlib.pyplot as plt
    import numpy as np

    cols = list(BENCHMARKS) + [b for b in summary if b not in BENCHMARKS]
    series = {f"{m} (paper)": [row.get(b) for b in cols] for m, row in PAPER_TABLE1.items()}
    series[f"{model} (this run)"] = [summary[b]["score"] if b in summary else None for b in cols]
    x = np.arange(len(cols))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(cols)), 4.5))
    for i, (label, vals) in enumerate(series.items()):
        heights = [np.nan if v is None else v for v in vals]
        ours = "this run" in label
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=label,
                      color="0.25" if ours else None, hatch="//" if ours else None, edgecolor="white")
        if ours:
            ax.bar_label(bars, labels=[_fmt(v) for v in vals], fontsize=7, padding=2)
    ax.set_xticks(x, [_name(b) for b in cols])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Video reasoning benchmarks: this run vs the paper's Table 1")
    ax.legend(fontsize=7, ncols=3, loc="upper left")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
