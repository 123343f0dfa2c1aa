"""Where the semantic encoder runs: one named Ray actor that Ray accounts for, or the reward worker.

verl's reward workers are CPU-only Ray actors, ``reward.num_workers`` of them: loading so400m in
each would cost ~3.5 GB of RAM per worker. With ``reward.videorft.semantic.ray_actor.enable``
(``auto``: whenever Ray runs) every reward worker sends its sample (think text + media path + frame
profile) to one actor named ``videorft_semantic_encoder``, which holds the encoder and the
frame-embedding cache. Its device follows what Ray gave it, never what the process happens to see:

- ``num_gpus: 0`` (default): CPU; the actor reserves ``num_cpus`` cores (>= 1) and runs that many
  torch threads, and the GPUs are hidden from it (Ray 2.60 no longer hides them by itself).
- ``num_gpus > 0``: cuda, on a GPU Ray assigned to it *outside* verl's resource pools, so the
  cluster needs that GPU spare (start Ray with more GPUs than ``trainer.n_gpus_per_node *
  trainer.nnodes``); when none is free the first reward call fails at once, naming the fix.

    >>> semantic_encoder_placement({"reward": {"videorft": {}}})
    "Ray actor 'videorft_semantic_encoder' (when Ray runs) on cpu: 1 CPU reserved, 1 torch thread"
    >>> semantic_encoder_placement({"reward": {"videorft": {"semantic": {"ray_actor": {"num_gpus": 1}}}}})
    "Ray actor 'videorft_semantic_encoder' (when Ray runs) on cuda: 1 GPU outside verl's pools"

The first worker to call :func:`get_encoder_actor` creates the actor (``get_if_exists``); later
callers get the same one. It lives as long as its creator (a reward worker, i.e. the run) unless
``lifetime="detached"``, in which case remove it with ``ray.kill(ray.get_actor(name, namespace))``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from verl_videorft.config import ConfigError, RayActorConfig, SemanticConfig, SemanticRewardConfig, reward_config
from verl_videorft.rewards.semantic import get_scorer

_HANDLES: dict[tuple[str, str], Any] = {}


def actor_device(opts: RayActorConfig, device: str) -> str:
    """The actor's device: what Ray gives it. An explicit device must agree with the allocation.

    >>> actor_device(RayActorConfig(num_gpus=0), "auto"), actor_device(RayActorConfig(num_gpus=1), "auto")
    ('cpu', 'cuda')
    """
    allocated = "cuda" if opts.num_gpus > 0 else "cpu"
    if device not in ("auto", allocated):
        raise ConfigError(f"reward.videorft.semantic.device={device!r} but ray_actor.num_gpus="
                          f"{opts.num_gpus} gives the encoder actor {allocated}: set device: auto")
    return allocated


def cpu_threads(opts: RayActorConfig) -> int:
    """Torch threads of a CPU encoder: the cores Ray reserved for it."""
    return max(1, int(opts.num_cpus))


def local_device(device: str) -> str:
    """The device for an encoder inside this process (no actor): inside a Ray worker that Ray gave
    no GPU, cpu whatever CUDA shows; elsewhere (a script, the precompute CLI) ``auto`` as usual."""
    try:
        import ray

        in_gpu_less_worker = ray.is_initialized() and not ray.get_gpu_ids()
    except ImportError:
        in_gpu_less_worker = False
    if not in_gpu_less_worker:
        return device
    if device not in ("auto", "cpu"):
        raise ConfigError(f"reward.videorft.semantic.device={device!r} in a reward worker Ray gave no "
                          f"GPU: use ray_actor.enable with num_gpus > 0 for a GPU encoder")
    return "cpu"


class SemanticEncoderActor:
    """Body of the Ray actor: a process-wide :class:`SemanticScorer` behind a remote call."""

    def __init__(self, config: SemanticConfig, num_threads: int):
        if config.device == "cpu":
            # Ray may leave every GPU visible to a num_gpus=0 actor: hide them, so nothing in this
            # process can touch a device Ray did not give it.
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
            import torch

            torch.set_num_threads(num_threads)
        self.config = config
        # Load the encoder now, so the readiness check covers it.
        _ = get_scorer(self.config).encoder

    def score_texts(self, texts: Sequence[str], media_path: str | None,
                    profile: Any = None) -> dict[str, Any]:
        return dataclasses.asdict(get_scorer(self.config).score_texts(list(texts), media_path, profile))

    def counters(self) -> dict[str, int]:
        return dict(get_scorer(self.config).counters)

    def placement(self) -> dict[str, Any]:
        import torch

        enc = get_scorer(self.config).encoder
        device = getattr(enc, "device", None) or getattr(enc.model, "device", "?")
        return {"device": str(device), "threads": torch.get_num_threads(),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def _check_resources(opts: RayActorConfig) -> None:
    """Fail now, not after ``ready_timeout_s``, when the GPU the actor asks for is not free."""
    import ray

    free = ray.available_resources().get("GPU", 0.0)
    if opts.num_gpus > 0 and free < opts.num_gpus:
        raise RuntimeError(
            f"semantic encoder actor asks Ray for num_gpus={opts.num_gpus:g} outside verl's resource "
            f"pools, but only {free:g} GPU is free. Start Ray with spare GPUs, or set "
            f"reward.videorft.semantic.ray_actor.num_gpus=0 (CPU).")


def get_encoder_actor(config: SemanticRewardConfig):
    """Get (or create) the named encoder actor. Needs ``ray`` initialised (it is, in verl)."""
    import ray

    opts = config.ray_actor
    # Keep the handle: a non-detached actor dies when its last handle is dropped.
    if (opts.name, opts.namespace) in _HANDLES:
        return _HANDLES[(opts.name, opts.namespace)]
    try:
        handle = ray.get_actor(opts.name, namespace=opts.namespace)
    except ValueError:  # nobody created it yet
        _check_resources(opts)
        scorer = dataclasses.replace(SemanticConfig(**config.scorer_fields()),
                                     device=actor_device(opts, config.device))
        options: dict[str, Any] = dict(name=opts.name, namespace=opts.namespace, get_if_exists=True,
                                       num_gpus=opts.num_gpus, num_cpus=opts.num_cpus,
                                       max_concurrency=opts.max_concurrency)
        if opts.lifetime:
            options["lifetime"] = opts.lifetime
        handle = ray.remote(SemanticEncoderActor).options(**options).remote(scorer, cpu_threads(opts))
    _HANDLES[(opts.name, opts.namespace)] = handle
    return handle


def forget_encoder_actor() -> None:
    """Drop cached actor handles (after the actor died); the next call recreates or re-attaches."""
    _HANDLES.clear()


async def ensure_ready(handle: Any, opts: RayActorConfig) -> None:
    """Fail loudly, not hang, when the actor never starts (e.g. its encoder cannot load)."""
    import asyncio

    try:
        await asyncio.wait_for(handle.__ray_ready__.remote(), timeout=opts.ready_timeout_s)
    except asyncio.TimeoutError as err:
        raise RuntimeError(
            f"semantic encoder actor not ready after {opts.ready_timeout_s:.0f} s (num_gpus="
            f"{opts.num_gpus}, num_cpus={opts.num_cpus}): is Ray short of those resources?") from err


def semantic_encoder_placement(config: Any) -> str:
    """Where the semantic encoder will run for this config (``videorft doctor`` prints it)."""
    cfg = reward_config(config)
    sem = cfg.semantic
    if not sem.enable or cfg.weights.semantic == 0:
        return "semantic reward off: no encoder"
    opts = sem.ray_actor
    if opts.enable is False:
        return f"in each reward worker process (reward.num_workers copies) on {local_device(sem.device)}"
    when = " (when Ray runs)" if opts.enable == "auto" else ""
    device = actor_device(opts, sem.device)
    if device == "cuda":
        return f"Ray actor {opts.name!r}{when} on cuda: {opts.num_gpus:g} GPU outside verl's pools"
    threads = cpu_threads(opts)
    return (f"Ray actor {opts.name!r}{when} on cpu: {opts.num_cpus:g} CPU reserved, "
            f"{threads} torch thread{'s' if threads > 1 else ''}")
