"""The evaluation stage: ``videorft eval --backend hf`` on the held-out benchmark, per checkpoint and control.

Each run is the product's own command (``verl_videorft.cli.main(["eval", ...])``) into its own folder;
its ``results.jsonl`` is then summarised per problem type, with the format rate of the outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verl_videorft.demo.settings import DEMO_PROFILE

BENCH_KEY = "shapes"  # the held-out synthetic benchmark's name in the eval reports


def eval_args(model: Path, bench: Path, out: Path, *, prompt_style: str, control: str | None = None,
              batch_size: int = 32, max_new_tokens: int = 48) -> list[str]:
    """``videorft eval`` arguments: the demo's frame size (the eval path, the ``eval`` profile's
    sampler, with 4 frames of 56 x 56 as in training), the released decoding (temperature 0.1,
    top_p 0.001), the training prompt's wording (module doc of :mod:`verl_videorft.demo.settings`)."""
    args = ["eval", "--model", str(model), "--bench-file", f"{BENCH_KEY}={bench}", "--backend", "hf",
            "--out", str(out), "--profile", "eval", "--nframes", str(DEMO_PROFILE["nframes"]),
            "--min-pixels", str(DEMO_PROFILE["min_pixels"]), "--max-pixels", str(DEMO_PROFILE["max_pixels"]),
            "--prompt-style", prompt_style, "--training-prompt", "--batch-size", str(batch_size),
            "--max-new-tokens", str(max_new_tokens), "--device", "cpu", "--dtype", "float32", "--no-progress",
            "--prepare-workers", "1"]
    if control == "blank":
        args.append("--blank-frames")
    elif control == "shuffle":
        args.append("--shuffle-frames")
    return args


def summarize_results(results: Path, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"accuracy", "format", "n", "by_type", "by_task"}`` of a ``results.jsonl`` (accuracies in [0, 1]).

    ``records`` maps ``problem_id`` to the benchmark record (for the task name).
    """
    from verl_videorft.evaluation.runner import read_results
    from verl_videorft.rewards.text import format_reward

    rows = list(read_results(results).values())
    by_type: dict[str, list[float]] = {}
    by_task: dict[str, list[float]] = {}
    fmt = []
    for row in rows:
        score = float(row.get("score") or 0.0)
        by_type.setdefault(row["problem_type"], []).append(score)
        by_task.setdefault(records.get(str(row["problem_id"]), {}).get("task", "?"), []).append(score)
        fmt.append(format_reward(row.get("output") or ""))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    return {"accuracy": mean([x for xs in by_type.values() for x in xs]), "format": mean(fmt), "n": len(rows),
            "by_type": {k: mean(v) for k, v in sorted(by_type.items())},
            "by_task": {k: mean(v) for k, v in sorted(by_task.items())}}


def run_eval(model: Path, bench: Path, out: Path, records: dict[str, dict[str, Any]], *, prompt_style: str,
             control: str | None = None, batch_size: int = 32) -> dict[str, Any]:
    """One ``videorft eval`` run and its summary; raises ``RuntimeError`` when the command fails."""
    from verl_videorft.cli import main as videorft

    code = videorft(eval_args(model, bench, out, prompt_style=prompt_style, control=control, batch_size=batch_size))
    if code != 0:
        raise RuntimeError(f"videorft eval exited {code} for {model} (see {out})")
    return summarize_results(out / "results.jsonl", records)
