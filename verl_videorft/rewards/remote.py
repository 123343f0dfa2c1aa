"""One named Ray actor owns the semantic encoder; reward workers call it.

verl's reward workers are CPU-only Ray actors, ``reward.num_workers`` of them: loading so400m in
each would cost ~3.5 GB of RAM per worker and seconds per group on CPU. With
``reward.videorft.semantic.ray_actor.enable`` (``auto``: whenever Ray runs) every reward worker
sends its group (think texts + media path + frame profile) to one actor named
``videorft_semantic_encoder``, which holds the encoder and the frame-embedding cache. With
``num_gpus: 1`` it asks Ray for a GPU *outside* verl's resource pools, so the cluster needs that
GPU spare (start Ray with one more GPU than ``trainer.n_gpus_per_node * trainer.nnodes``); if Ray
cannot place it within ``ready_timeout_s`` the reward fails loudly instead of hanging.

    >>> handle = get_encoder_actor(reward_config(cfg).semantic)                   # doctest: +SKIP
    >>> ray.get(handle.score_group.remote(["<think>Q. A ball.</think>"], "/v.mp4", "train"))  # doctest: +SKIP
    {'scores': [0.41], 'media_error': None, 'stats': {...}}

The first worker to call :func:`get_encoder_actor` creates the actor (``get_if_exists``); later
callers get the same one. It lives as long as its creator (a reward worker, i.e. the run) unless
``lifetime="detached"``, in which case remove it with ``ray.kill(ray.get_actor(name, namespace))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from verl_videorft.config import RayActorConfig, SemanticConfig, SemanticRewardConfig
from verl_videorft.rewards.semantic import get_scorer

_HANDLES: dict[tuple[str, str], Any] = {}


class SemanticEncoderActor:
    """Body of the Ray actor: a process-wide :class:`SemanticScorer` behind a remote call."""

    def __init__(self, config: SemanticConfig):
        self.config = config
        # Load the encoder now, so the readiness check waits for it; loaded on the first group's
        # call instead, so400m's load could outlast the other members' group timeout.
        _ = get_scorer(self.config).encoder

    def score_texts(self, texts: Sequence[str], media_path: str | None,
                    profile: Any = None) -> dict[str, Any]:
        return asdict(get_scorer(self.config).score_texts(list(texts), media_path, profile))

    def counters(self) -> dict[str, int]:
        return dict(get_scorer(self.config).counters)


def get_encoder_actor(config: SemanticRewardConfig):
    """Get (or create) the named encoder actor. Needs ``ray`` initialised (it is, in verl)."""
    import ray

    opts = config.ray_actor
    # Keep the handle: a non-detached actor dies when its last handle is dropped.
    if (opts.name, opts.namespace) in _HANDLES:
        return _HANDLES[(opts.name, opts.namespace)]
    cls = ray.remote(SemanticEncoderActor)
    options: dict[str, Any] = dict(name=opts.name, namespace=opts.namespace, get_if_exists=True,
                                   num_gpus=opts.num_gpus, num_cpus=opts.num_cpus,
                                   max_concurrency=opts.max_concurrency)
    if opts.lifetime:
        options["lifetime"] = opts.lifetime
    handle = cls.options(**options).remote(SemanticConfig(**config.scorer_fields()))
    _HANDLES[(opts.name, opts.namespace)] = handle
    return handle


def forget_encoder_actor() -> None:
    """Drop cached actor handles (after the actor died); the next call recreates or re-attaches."""
    _HANDLES.clear()


async def ensure_ready(handle: Any, opts: RayActorConfig) -> None:
    """Fail loudly, not hang, when Ray cannot place the actor (e.g. no spare GPU)."""
    import asyncio

    try:
        await asyncio.wait_for(handle.__ray_ready__.remote(), timeout=opts.ready_timeout_s)
    except asyncio.TimeoutError as err:
        raise RuntimeError(
            f"semantic encoder actor not scheduled after {opts.ready_timeout_s:.0f} s: it asks Ray for "
            f"num_gpus={opts.num_gpus}, num_cpus={opts.num_cpus} outside verl's resource pools. "
            f"Start Ray with spare resources, or set reward.videorft.semantic.ray_actor.num_gpus=0 "
            f"(CPU) or .enable=false.") from err
