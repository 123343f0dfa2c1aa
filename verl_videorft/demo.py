"""``make demo``: a real verl GRPO run on a CPU-only machine, end to end, in a few minutes.

Steps: generate the synthetic demo set (``verl_videorft.data.demo_set``), build a tiny random Qwen2.5-VL
and a tiny random SigLIP locally, then run verl's own trainer::

    python -m verl.trainer.main_ppo +recipe=videorft_cpu  data.train_files=... actor_rollout_ref.model.path=...

(``videorft_cpu`` layers the CPU profile on ``+recipe=videorft``: the project's dataset class, agent
loop ``videorft_agent`` and reward manager ``videorft``). Afterwards it prints each step's metrics with
every reward component and the checkpoint folder.

    $ python -m verl_videorft.demo --workdir demo_run --steps 2        # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_S = 900


def prepare_inputs(workdir: Path, seed: int = 0) -> dict[str, Path]:
    """Demo data + tiny models under ``workdir`` (reused when already there). Returns their paths."""
    from verl_videorft.testing import build_tiny_qwen25vl, build_tiny_siglip

    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    train = data_dir / "train.jsonl"
    if not train.is_file():
        from verl_videorft.data.demo_set import make_demo_data

        make_demo_data(data_dir, n_train=16, n_val=4, seed=seed)
    model = workdir / "models" / "tiny-qwen25vl"
    if not (model / "config.json").is_file():
        build_tiny_qwen25vl(model)
    siglip = workdir / "models" / "tiny-siglip"
    if not (siglip / "config.json").is_file():
        build_tiny_siglip(siglip)
    val = data_dir / "val.jsonl"
    return {"train": train, "val": val if val.is_file() else train, "model": model, "siglip": siglip}


def trainer_overrides(inputs: dict[str, Path], workdir: Path, steps: int = 2) -> list[str]:
    """The Hydra overrides of the demo run (the recipe holds everything else)."""
    return [
        "+recipe=videorft_cpu",
        f"data.train_files={inputs['train']}",
        f"data.val_files={inputs['val']}",
        f"actor_rollout_ref.model.path={inputs['model']}",
        f"++reward.videorft.semantic.encoder={inputs['siglip']}",
        f"trainer.total_training_steps={steps}",
        f"trainer.save_freq={steps}",
        f"trainer.default_local_dir={workdir / 'checkpoints'}",
        "trainer.logger=[console,file]",
    ]


def trainer_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FORCE_QWENVL_VIDEO_READER": "decord", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "VERL_PLATFORM": env.get("VERL_PLATFORM", "cpu"), "VERL_FILE_LOGGER_PATH": str(workdir / "metrics.jsonl"),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"), "RAY_DEDUP_LOGS": "0",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def run_trainer(overrides: list[str], workdir: Path, timeout_s: int = DEFAULT_TIMEOUT_S,
                log_path: Path | None = None, echo: bool = True) -> subprocess.CompletedProcess:
    """``python -m verl.trainer.main_ppo <overrides>`` in a subprocess, log teed to ``log_path``.

    Runs in its own session so a timeout kills Ray's whole process tree, not just the driver.
    """
    log_path = log_path or workdir / "train.log"
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", *overrides]
    metrics = workdir / "metrics.jsonl"
    if metrics.exists():
        metrics.unlink()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=trainer_env(workdir), cwd=workdir, start_new_session=True)

        def pump() -> None:  # a thread, so a run that hangs silently still meets the deadline
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                note = _progress(line) if echo else None
                if note:
                    print(note, flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = 124
        _kill_session(proc.pid)  # whatever of Ray is still alive in the trainer's session
        proc.wait()
        reader.join(timeout=10)
        if code == 124:
            log.write(f"\n[videorft demo] killed after {timeout_s} s\n")
    return subprocess.CompletedProcess(cmd, code)


def _kill_session(sid: int) -> None:
    """SIGKILL every process of the trainer's session (driver, Ray's GCS/raylet and workers),
    not just the driver's process group: a hung run must not leave Ray behind in CI."""
    import signal

    try:
        os.killpg(sid, signal.SIGKILL)  # the session leader's group (all platforms)
    except (ProcessLookupError, PermissionError):
        pass
    for pid_dir in Path("/proc").glob("[0-9]*"):  # the rest of the session (Linux)
        try:
            pid = int(pid_dir.name)
            if pid != os.getpid() and os.getsid(pid) == sid:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError, OSError):
            continue


def _progress(line: str) -> str | None:
    """One short console line for the events worth seeing live (the full log goes to train.log)."""
    import re

    m = re.search(r"step:(\d+) - .*timing_s/step:([0-9.]+)", line)
    if m:
        return f"[videorft demo] GRPO step {m.group(1)} done in {float(m.group(2)):.1f} s"
    if "videorft: sample" in line or "Error executing job" in line or line.startswith(("Traceback", "RuntimeError",
                                                                                        "ValueError")):
        return line.rstrip()[:400]
    return None


def read_metrics(workdir: Path) -> list[dict[str, Any]]:
    """Per-step metric dicts from verl's file logger (``metrics.jsonl``)."""
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append({"step": row.get("step"), **row.get("data", {})})
    return rows


def reward_columns(row: dict[str, Any]) -> list[str]:
    """Metric names of the step's reward: verl's summed score and each component's mean."""
    keys = [k for k in row if k.startswith("reward/") and k.endswith("/mean")]
    return [k for k in ("critic/score/mean",) if k in row] + sorted(keys)


def checkpoints(workdir: Path) -> list[Path]:
    return sorted((workdir / "checkpoints").glob("global_step_*"))


def summarize(workdir: Path) -> str:
    rows = read_metrics(workdir)
    lines = []
    for row in rows:
        lines.append(f"step {row['step']}:")
        for key in ["timing_s/step", "timing_s/gen", "timing_s/update_actor", "actor/pg_loss",
                    "actor/kl_loss", "videorft/bad_samples"] + reward_columns(row):
            if key in row:
                lines.append(f"  {key:<48} {row[key]:.4g}" if isinstance(row[key], (int, float)) else
                             f"  {key:<48} {row[key]}")
    ckpts = checkpoints(workdir)
    lines.append(f"checkpoints: {', '.join(str(c) for c in ckpts) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("demo_run"))
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="hard limit in seconds")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for main_ppo")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    t0 = time.monotonic()
    inputs = prepare_inputs(workdir)
    print(f"[videorft demo] data and tiny models ready in {time.monotonic() - t0:.1f} s under {workdir}")
    result = run_trainer(trainer_overrides(inputs, workdir, args.steps) + args.overrides, workdir, args.timeout)
    print(summarize(workdir))
    print(f"[videorft demo] trainer exit code {result.returncode}; total {time.monotonic() - t0:.0f} s; "
          f"log: {workdir / 'train.log'}")
    return int(result.returncode != 0 or len(read_metrics(workdir)) < args.steps or not checkpoints(workdir))


if __name__ == "__main__":
    sys.exit(main())
