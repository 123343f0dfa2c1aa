"""``videorft doctor``: is the plugin really registered, here and inside a Ray worker?

verl imports ``verl.plugins`` entry points and swallows their import errors at DEBUG level, so a
broken install looks like "unknown reward manager videorft" deep inside a training job. The doctor
runs the registration check in a fresh interpreter and inside a Ray worker, re-imports the entry
point itself when verl did not, and exits 1 naming the cause.

    $ videorft doctor
    versions: verl 0.9.1 | torch 2.13.0+cpu | transformers 5.10.4 | vllm - | decord 0.6.0 ...
    video backend: decord (fallback: pyav)
    [ok] fresh process: entry point, reward_manager, agent_loop, rollout_replica, ...
    [ok] ray worker: ...
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import traceback

ENTRY_POINT_GROUP = "verl.plugins"
ENTRY_POINT_NAME = "videorft"
VERSION_PACKAGES = ("verl", "torch", "transformers", "vllm", "decord", "av", "qwen-vl-utils",
                    "sentence-transformers", "ray", "verl-videorft")


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _entry_point():
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == ENTRY_POINT_NAME:
            return ep
    return None


def _engine_registered(device: str) -> bool:
    from verl.workers.engine.base import EngineRegistry

    return device in EngineRegistry._engines.get("language_model", {}).get("fsdp2", {})


def _trainer_registered(mode: str) -> bool:
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    return mode in TRAINER_REGISTRY


def registration_report() -> dict:
    """Check every registration in *this* process (import verl first, as a training worker does)."""
    problems: list[str] = []
    ep = _entry_point()
    if ep is None:
        return {"ok": False, "problems": [f"no '{ENTRY_POINT_NAME}' entry point in group "
                                          f"'{ENTRY_POINT_GROUP}': is verl-videorft installed in this environment?"]}
    policy = os.getenv("VERL_USE_EXTERNAL_PLUGINS", "auto").strip().lower()
    if policy == "none" or (policy != "auto" and ENTRY_POINT_NAME not in {p.strip() for p in policy.split(",")}):
        problems.append(f"VERL_USE_EXTERNAL_PLUGINS={policy!r} stops verl from loading the '{ENTRY_POINT_NAME}' plugin")
    try:
        import verl  # noqa: F401 - loads the entry points, swallowing their errors
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "problems": [f"import verl failed: {_short(exc)}"]}
    if ep.value not in sys.modules:
        try:  # verl hid the error; import it ourselves to show it
            ep.load()
            problems.append(f"verl did not load entry point {ep.value!r} "
                            "(it loads now: check VERL_USE_EXTERNAL_PLUGINS)")
        except Exception as exc:  # noqa: BLE001
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            return {"ok": False, "problems": [
                f"entry point '{ENTRY_POINT_NAME}' ({ep.value}) failed to import: {_short(exc)} "
                f"(at {tb.filename}:{tb.lineno})"]}

    from verl_videorft import plugin

    # Import verl's registry modules so the plugin's post-import hooks run.
    registries = {
        "reward_manager": "verl.experimental.reward_loop.reward_manager.registry",
        "agent_loop": "verl.experimental.agent_loop.agent_loop",
        "rollout_replica": "verl.workers.rollout.replica",
        "rollout_adapter": "verl.workers.rollout.base",
        "platform": "verl.plugin.platform.platform_manager",
        "cpu_engine": "verl.workers.engine.fsdp.transformer_impl",
        "trainer": "verl.trainer.ppo.v1.trainer_sync",
    }
    modules = {}
    for what, name in registries.items():
        try:
            modules[what] = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"cannot import verl registry {name}: {_short(exc)}")
    present = {
        "reward_manager": lambda m: plugin.REWARD_MANAGER_NAME in m.REWARD_MANAGER,
        "agent_loop": lambda m: plugin.AGENT_LOOP_NAME in m._agent_loop_registry,
        "rollout_replica": lambda m: plugin.ROLLOUT_NAME in m.RolloutReplicaRegistry._registry,
        "rollout_adapter": lambda m: (plugin.ROLLOUT_NAME, "async") in m._ROLLOUT_REGISTRY,
        "platform": lambda m: m.PlatformRegistry.get(plugin.PLATFORM_NAME) is not None,
        "cpu_engine": lambda m: _engine_registered(plugin.PLATFORM_NAME),
        "trainer": lambda m: _trainer_registered(plugin.TRAINER_MODE),
    }
    registered = {}
    for what, check in present.items():
        registered[what] = what in modules and bool(check(modules[what]))
        if what in plugin.REGISTRATION_ERRORS:
            problems.append(f"{what} registration failed: {plugin.REGISTRATION_ERRORS[what]}")
        elif what in modules and not registered[what]:
            problems.append(f"{what} is not registered in {registries[what]}")
    for what, fqdn in plugin.TARGETS.items():
        try:
            plugin.load_target(fqdn)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{what} target {fqdn} does not import: {_short(exc)}")
    return {"ok": not problems, "problems": problems, "registered": registered,
            "pid": os.getpid(), "python": sys.executable}


def versions() -> dict[str, str]:
    out = {}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def video_backend() -> str:
    try:
        from verl_videorft.video import backend_order

        order = backend_order()
    except Exception as exc:  # noqa: BLE001
        return f"unavailable ({_short(exc)})"
    return f"{order[0]}" + (f" (fallback: {', '.join(order[1:])})" if len(order) > 1 else "")


def check_fresh_process(timeout: float = 300) -> dict:
    code = "import json; from verl_videorft.cli.doctor import registration_report as r; print('@@' + json.dumps(r()))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    return {"ok": False, "problems": [f"check process exited {proc.returncode}: {proc.stderr.strip()[-800:]}"]}


def check_ray_worker(timeout: float = 300) -> dict:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        return ray.get(ray.remote(num_cpus=0)(registration_report).remote(), timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "problems": [f"ray worker check failed: {_short(exc)}"]}
    finally:
        if started:
            ray.shutdown()


def run(args: argparse.Namespace) -> int:
    print("versions: " + " | ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"video backend: {video_backend()}")
    checks = [("fresh process", check_fresh_process)]
    if not args.no_ray:
        checks.append(("ray worker", check_ray_worker))
    failed = False
    for label, check in checks:
        report = check()
        if report["ok"]:
            print(f"[ok] {label}: " + ", ".join(k for k, v in report["registered"].items() if v))
        else:
            failed = True
            for problem in report["problems"]:
                print(f"[FAIL] {label}: {problem}")
    print("doctor: " + ("problems found" if failed else "all registrations present"))
    return 1 if failed else 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("doctor", help="check the plugin's registrations, versions, video backend")
    parser.add_argument("--no-ray", action="store_true", help="skip the check inside a Ray worker")
    parser.set_defaults(func=run)
    return parser
