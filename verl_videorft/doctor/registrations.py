"""Is the plugin registered with verl, in this process, in a fresh one, and (see :mod:`.ray_worker`)
inside a Ray worker?

verl imports ``verl.plugins`` entry points and swallows their import errors at DEBUG level, so a
broken install looks like "unknown reward manager videorft" deep inside a training job. This
module re-imports the entry point itself when verl did not, and names the cause.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import traceback

from verl_videorft.doctor.check import Check, short

ENTRY_POINT_GROUP = "verl.plugins"
ENTRY_POINT_NAME = "videorft"
# the verl module whose import runs each registration hook of plugin.py
REGISTRIES = {
    "reward_manager": "verl.experimental.reward_loop.reward_manager.registry",
    "agent_loop": "verl.experimental.agent_loop.agent_loop",
    "rollout_replica": "verl.workers.rollout.replica",
    "rollout_adapter": "verl.workers.rollout.base",
    "platform": "verl.plugin.platform.platform_manager",
    "cpu_engine": "verl.workers.engine.fsdp.transformer_impl",
    "trainer": "verl.trainer.ppo.v1.trainer_sync",
}
def entry_point() -> metadata.EntryPoint | None:
    return next((ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == ENTRY_POINT_NAME), None)


def plugin_policy_problem() -> str | None:
    """``VERL_USE_EXTERNAL_PLUGINS`` set so that verl skips this plugin."""
    policy = os.getenv("VERL_USE_EXTERNAL_PLUGINS", "auto").strip().lower()
    if policy == "none" or (policy != "auto" and ENTRY_POINT_NAME not in {p.strip() for p in policy.split(",")}):
        return f"VERL_USE_EXTERNAL_PLUGINS={policy!r} stops verl from loading the '{ENTRY_POINT_NAME}' plugin"
    return None


def entry_point_problem(ep: metadata.EntryPoint) -> tuple[str | None, bool]:
    """``(problem, fatal)`` after ``import verl`` (which loads entry points and hides their errors)."""
    try:
        import verl  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"import verl failed: {short(exc)}", True
    if ep.value in sys.modules:
        return None, False
    try:  # verl hid the error; import it ourselves to show it
        ep.load()
    except Exception as exc:  # noqa: BLE001
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return (f"entry point '{ENTRY_POINT_NAME}' ({ep.value}) failed to import: {short(exc)} "
                f"(at {tb.filename}:{tb.lineno})"), True
    return f"verl did not load entry point {ep.value!r} (it loads now: check VERL_USE_EXTERNAL_PLUGINS)", False


def registration_checks() -> dict:
    """``what -> predicate(registry module)``: is the plugin's name in verl's registry?"""
    from verl_videorft import plugin

    def engine(m) -> bool:
        from verl.workers.engine.base import EngineRegistry

        return plugin.PLATFORM_NAME in EngineRegistry._engines.get("language_model", {}).get("fsdp2", {})

    def trainer(m) -> bool:
        from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

        return plugin.TRAINER_MODE in TRAINER_REGISTRY

    return {
        "reward_manager": lambda m: plugin.REWARD_MANAGER_NAME in m.REWARD_MANAGER,
        "agent_loop": lambda m: plugin.AGENT_LOOP_NAME in m._agent_loop_registry,
        "rollout_replica": lambda m: plugin.ROLLOUT_NAME in m.RolloutReplicaRegistry._registry,
        "rollout_adapter": lambda m: (plugin.ROLLOUT_NAME, "async") in m._ROLLOUT_REGISTRY,
        "platform": lambda m: m.PlatformRegistry.get(plugin.PLATFORM_NAME) is not None,
        "cpu_engine": engine,
        "trainer": trainer,
    }


def registry_problems(registered: dict[str, bool]) -> list[str]:
    """Import each verl registry, fill ``registered`` and return what is missing, and why."""
    from verl_videorft import plugin

    problems = []
    for what, check in registration_checks().items():
        try:
            registered[what] = bool(check(importlib.import_module(REGISTRIES[what])))
        except Exception as exc:  # noqa: BLE001
            registered[what] = False
            problems.append(f"cannot import verl registry {REGISTRIES[what]}: {short(exc)}")
            continue
        if what in plugin.REGISTRATION_ERRORS:
            problems.append(f"{what} registration failed: {plugin.REGISTRATION_ERRORS[what]}")
        elif not registered[what]:
            problems.append(f"{what} is not registered in {REGISTRIES[what]}")
    for what, fqdn in plugin.TARGETS.items():
        try:
            plugin.load_target(fqdn)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{what} target {fqdn} does not import: {short(exc)}")
    return problems


def registration_report() -> dict:
    """Check every registration in *this* process (import verl first, as a training worker does)."""
    ep = entry_point()
    if ep is None:
        return {"ok": False, "problems": [f"no '{ENTRY_POINT_NAME}' entry point in group '{ENTRY_POINT_GROUP}': "
                                          "is verl-videorft installed in this environment?"]}
    problems = [p for p in [plugin_policy_problem()] if p]
    problem, fatal = entry_point_problem(ep)
    if problem:
        problems.append(problem)
    if fatal:
        return {"ok": False, "problems": problems}
    registered: dict[str, bool] = {}
    problems += registry_problems(registered)
    return {"ok": not problems, "problems": problems, "registered": registered,
            "pid": os.getpid(), "python": sys.executable}


def report_check(label: str, report: dict, note: str | None = None) -> Check:
    if report["ok"]:
        return Check(label, True, [(note + "; " if note else "") + ", ".join(k for k, v in report["registered"].items()
                                                                              if v)])
    return Check(label, False, ([note] if note else []) + report["problems"])


def check_fresh_process(timeout: float = 300) -> Check:
    code = ("import json; from verl_videorft.doctor.registrations import registration_report as r; "
            "print('@@' + json.dumps(r()))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Check("fresh process", False, [f"the check did not finish in {timeout:.0f} s"])
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            return report_check("fresh process", json.loads(line[2:]))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return Check("fresh process", False, [f"check process exited {proc.returncode}: {tail[-300:]}"])
