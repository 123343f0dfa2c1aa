"""The ``verl.plugins`` entry point: the one place where verl-videorft registers its pieces.

verl imports this module on ``import verl`` in the driver and in every Ray worker. It must stay
light, so it imports nothing from verl or from this project's heavy modules: each registration is
a post-import hook (``wrapt.when_imported``) that runs the moment verl's own registry module is
imported, wherever that happens. A hook that fails records its error in ``REGISTRATION_ERRORS``
and logs a warning (verl itself would only log a failed plugin at DEBUG level); ``videorft doctor``
reports both.

What registers where is tabled once, in ARCHITECTURE.md ("What registers where").
The dataset class needs no registry: the recipe names it (``data.custom_cls``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

import wrapt

from verl_videorft.names import AGENT_LOOP_NAME, PLATFORM_NAME, REWARD_MANAGER_NAME, ROLLOUT_NAME, TRAINER_MODE

logger = logging.getLogger("verl_videorft")


# Fully qualified names of what gets registered (final names; doctor checks each one imports).
TARGETS = {
    "reward_manager": "verl_videorft.rewards.manager.VideoRFTRewardManager",
    "agent_loop": "verl_videorft.rollout.agent_loop.VideoAgentLoop",
    "rollout_replica": "verl_videorft.rollout.hf_server.HFRolloutReplica",
    "rollout_adapter": "verl_videorft.rollout.hf_server.HFServerAdapter",
    "platform": "verl_videorft.cpu.platform.CPUPlatform",
    "cpu_engine": "verl_videorft.cpu.engines.CPUFSDPEngineWithLMHead",
    "cpu_value_engine": "verl_videorft.cpu.engines.CPUFSDPEngineWithValueHead",
    "trainer": "verl_videorft.trainer.VideoRFTTrainerSync",
    "dataset": "verl_videorft.data.VideoRFTDataset",
}

# registration name -> "ExceptionType: message", filled by hooks that failed.
REGISTRATION_ERRORS: dict[str, str] = {}


def load_target(fqdn: str):
    """Import ``package.module.Attr`` and return the attribute."""
    module_name, attr = fqdn.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), attr)


def _hook(module_name: str, what: str) -> Callable:
    """Decorator: run the registration when ``module_name`` is imported; never break verl's import."""

    def decorator(register: Callable) -> Callable:
        def run(module) -> None:
            try:
                register(module)
                REGISTRATION_ERRORS.pop(what, None)
            except Exception as exc:  # noqa: BLE001 - surfaced by `videorft doctor`
                REGISTRATION_ERRORS[what] = f"{type(exc).__name__}: {exc}"
                logger.warning("verl-videorft: registering %s failed: %s", what, REGISTRATION_ERRORS[what])

        wrapt.when_imported(module_name)(run)
        return register

    return decorator


@_hook("verl.experimental.reward_loop.reward_manager.registry", "reward_manager")
def _register_reward_manager(registry) -> None:
    registry.register(REWARD_MANAGER_NAME)(load_target(TARGETS["reward_manager"]))


@_hook("verl.experimental.agent_loop.agent_loop", "agent_loop")
def _register_agent_loop(agent_loop) -> None:
    # verl's registry stores a Hydra `_target_`; the class is imported only when a trajectory needs it.
    agent_loop._agent_loop_registry[AGENT_LOOP_NAME] = {"_target_": TARGETS["agent_loop"]}


@_hook("verl.workers.rollout.replica", "rollout_replica")
def _register_rollout_replica(replica) -> None:
    replica.RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: load_target(TARGETS["rollout_replica"]))


@_hook("verl.workers.rollout.base", "rollout_adapter")
def _register_rollout_adapter(base) -> None:
    base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = TARGETS["rollout_adapter"]


@_hook("verl.plugin.platform.platform_manager", "platform")
def _register_platform(platform_manager) -> None:
    platform_manager.PlatformRegistry.register(platform=PLATFORM_NAME)(load_target(TARGETS["platform"]))


@_hook("verl.workers.engine.fsdp.transformer_impl", "cpu_engine")
def _register_cpu_engines(transformer_impl) -> None:
    # verl's EngineRegistry is keyed by device; its FSDP engines are registered for cuda/npu only.
    from verl.workers.engine.base import EngineRegistry

    for model_type, what in (("language_model", "cpu_engine"), ("value_model", "cpu_value_engine")):
        cls = load_target(TARGETS[what])
        if EngineRegistry._engines.get(model_type, {}).get("fsdp2", {}).get(PLATFORM_NAME) is not cls:
            EngineRegistry.register(model_type=model_type, backend=["fsdp", "fsdp2"], device=PLATFORM_NAME)(cls)


@_hook("verl.trainer.ppo.v1.trainer_sync", "trainer")  # our subclass needs trainer_sync imported
def _register_trainer(trainer_sync) -> None:
    # trainer.v1.trainer_mode=videorft_sync: verl's sync trainer + per-component reward metrics.
    from verl.trainer.ppo.v1 import trainer_base

    if trainer_base.TRAINER_REGISTRY.get(TRAINER_MODE) is None:
        trainer_base.register_trainer(TRAINER_MODE)(load_target(TARGETS["trainer"]))


@_hook("verl.utils.distributed", "process_group_fix")
def _fix_process_group_backend(distributed) -> None:
    # A run-time replacement (ARCHITECTURE.md lists all three): on the cpu platform verl asks torch
    # for "cpu:gloo,cpu:gloo", which torch rejects; the wrapper drops the repeated pair (a no-op for
    # "cpu:gloo,cuda:nccl").
    load_target("verl_videorft.cpu.platform.install_process_group_fix")()


@_hook("verl.utils.tensordict_utils", "position_ids_fix")
def _fix_equal_length_position_ids(tensordict_utils) -> None:
    # verl's maybe_fix_3d_position_ids breaks batches whose rows are all one length (repeated or
    # equal-length prompts): see verl_videorft/upstream.py and docs/upstream-verl-equal-length-position-ids.md.
    load_target("verl_videorft.upstream.install_position_ids_fix")()


@_hook("verl.models.transformers.qwen2_vl", "visual_calls_fix")
@_hook("verl.models.transformers.qwen3_vl", "visual_calls_fix")
def _fix_visual_calls(module) -> None:
    # verl's _get_input_embeds runs the vision tower twice on a micro-batch of images and videos, once
    # on any other: FSDP ranks then pair different all-gathers (gloo aborts, op.preamble.length). See
    # verl_videorft/upstream.py and docs/upstream-verl-visual-calls.md.
    load_target("verl_videorft.upstream.install_visual_calls_fix")()
