"""Running verl's trainers as subprocesses: environment, live progress lines, hard deadline.

verl's ``main_ppo`` starts Ray (GCS, raylet, workers) and ``sft_trainer`` runs under ``torchrun``;
both are run in a session of their own, so a deadline kills the whole tree, not just the driver.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

DEFAULT_TIMEOUT_S = 900


def trainer_env(workdir: Path, metrics_file: Path | None = None) -> dict[str, str]:
    """The environment of a CPU trainer run: offline hub, CPU platform, verl's file logger target."""
    env = dict(os.environ)
    env.update({
        "FORCE_QWENVL_VIDEO_READER": "decord", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "VERL_PLATFORM": env.get("VERL_PLATFORM", "cpu"),
        "VERL_FILE_LOGGER_PATH": str(metrics_file or workdir / "metrics.jsonl"),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"), "RAY_DEDUP_LOGS": "0",
        "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled",
    })
    return env


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (driver, Ray's GCS/raylet and workers, torchrun ranks),
    not just the leader's process group: a hung run must not leave processes behind in CI."""
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


def progress_line(line: str) -> str | None:
    """One short console line for the events worth seeing live (the full log goes to the log file)."""
    m = re.search(r"step:(\d+) - .*timing_s/step:([0-9.]+)", line)
    if m:
        return f"[videorft demo] GRPO step {m.group(1)} done in {float(m.group(2)):.1f} s"
    if "videorft: sample" in line or "Error executing job" in line or line.startswith(
            ("Traceback", "RuntimeError", "ValueError")):
        return line.rstrip()[:400]
    return None


def run_logged(cmd: list[str], log_path: Path, *, env: dict[str, str], cwd: Path, timeout_s: int,
               echo: Callable[[str], str | None] | None = progress_line) -> int:
    """Run ``cmd`` with stdout+stderr teed to ``log_path``; return its exit code (124 on timeout).

    ``echo`` turns a log line into a console line (or None to stay quiet).
    """
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=cwd, start_new_session=True)

        def pump() -> None:  # a thread, so a run that hangs silently still meets the deadline
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                note = echo(line) if echo else None
                if note:
                    print(note, flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = 124
        kill_session(proc.pid)  # whatever of Ray / torchrun is still alive in the run's session
        proc.wait()
        reader.join(timeout=10)
        if code == 124:
            log.write(f"\n[videorft demo] killed after {timeout_s} s\n")
    return code


def python_module(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
