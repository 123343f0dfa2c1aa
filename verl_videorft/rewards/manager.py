"""``VideoRFTRewardManager``: the full VideoRFT reward as a verl 0.9.1 reward-loop manager.

    score = w_acc·acc + w_fmt·fmt + w_sem·gate(acc)·sem + length_bonus

Every term is set from ``reward.videorft`` (see :class:`ManagerSettings`) and returned as its
own key of ``reward_extra_info`` (``acc``, ``format``, ``sem``, ``sem_raw``, ``length_bonus``,
``sem_media_error``, ``group_size``), so verl logs each as a curve. The semantic term and the
length bonus need the rollouts of one prompt together: see :mod:`.group` for how a manager sees
its group in verl 0.9.1 (rendezvous by ``uid``). Registration (in ``plugin.py`` only)::

    from verl.experimental.reward_loop.reward_manager import register
    register("videorft")(VideoRFTRewardManager)

then ``reward.reward_manager.name=videorft``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from verl_videorft.rewards.group import get_board, reset_board
from verl_videorft.rewards.semantic import SemanticConfig, think_text
from verl_videorft.rewards.text import AccuracyOptions, accuracy_reward, format_reward

logger = logging.getLogger(__name__)

VAL_SPLITS = frozenset({"val", "validation", "test", "eval"})
EXTRA_KEYS = ("acc", "format", "sem", "sem_raw", "length_bonus", "sem_media_error", "group_size")


@dataclass
class ManagerSettings:
    """``reward.videorft`` as typed settings; unknown keys are an error naming the key."""

    weights: dict[str, float] = field(default_factory=lambda: {"accuracy": 1.0, "format": 1.0,
                                                               "semantic": 1.0})
    gate: dict[str, Any] = field(default_factory=lambda: {"enable": True, "threshold": 0.0})
    length_bonus: dict[str, Any] = field(default_factory=lambda: {
        "enable": True, "value": 0.2, "min_tokens": 320, "max_tokens": 512, "acc_threshold": 0.1})
    accuracy: dict[str, Any] = field(default_factory=dict)  # AccuracyOptions fields
    semantic: dict[str, Any] = field(default_factory=lambda: {"enable": True})
    group: dict[str, Any] = field(default_factory=lambda: {
        "enable": True, "size": None, "val_size": None, "timeout_s": 120.0})

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None) -> ManagerSettings:
        settings = cls()
        for key, value in dict(block or {}).items():
            if key not in {f.name for f in fields(cls)}:
                raise ValueError(f"reward.videorft.{key}: unknown key; known: "
                                 f"{sorted(f.name for f in fields(cls))}")
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"reward.videorft.{key} must be a mapping, got {value!r}")
            unknown = set(dict(value or {})) - _allowed(key, getattr(settings, key))
            if unknown:
                raise ValueError(f"reward.videorft.{key}: unknown key(s) {sorted(unknown)}; known: "
                                 f"{sorted(_allowed(key, getattr(settings, key)))}")
            setattr(settings, key, {**getattr(settings, key), **dict(value or {})})
        return settings


def _allowed(block: str, defaults: dict) -> set[str]:
    """Keys a block accepts: its defaults', or the fields of the options it feeds (typos fail)."""
    if block == "accuracy":
        return set(AccuracyOptions.__dataclass_fields__)
    if block == "semantic":
        return set(SemanticConfig.__dataclass_fields__) | {"enable", "ray_actor"}
    return set(defaults)


def _plain(node: Any) -> Any:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(node):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:
        pass
    return node


def _cfg_get(config: Any, path: str, default: Any = None) -> Any:
    node = config
    for part in path.split("."):
        try:
            node = node.get(part) if hasattr(node, "get") else getattr(node, part)
        except Exception:
            return default
        if node is None:
            return default
    return node


class VideoRFTRewardManager(RewardManagerBase):
    """Accuracy + format + gated semantic consistency + group-aware length bonus."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                 reward_model_tokenizer=None, **kwargs: Any):
        super().__init__(config, tokenizer, compute_score)
        s = ManagerSettings.from_config(_plain(_cfg_get(config, "reward.videorft", {})))
        self.settings = s
        self.acc_options = AccuracyOptions(**s.accuracy)
        sem = {k: v for k, v in s.semantic.items() if k in SemanticConfig.__dataclass_fields__}
        self.sem_config = SemanticConfig(**sem)
        self.sem_enabled = bool(s.semantic.get("enable", True)) and s.weights.get("semantic", 0) != 0
        self.ray_actor = dict(s.semantic.get("ray_actor") or {})
        self._actor_ready = False
        self.group_size = int(s.group.get("size") or _cfg_get(config, "actor_rollout_ref.rollout.n", 1))
        self.val_group_size = int(s.group.get("val_size")
                                  or _cfg_get(config, "actor_rollout_ref.rollout.val_kwargs.n", 1))
        self.group_enabled = bool(s.group.get("enable", True))
        self.timeout_s = float(s.group.get("timeout_s", 120.0))

    # -- helpers -------------------------------------------------------------------------------
    def _expected(self, extra_info: Mapping[str, Any]) -> int:
        if extra_info.get("group_size"):
            return int(extra_info["group_size"])
        return self.val_group_size if extra_info.get("split") in VAL_SPLITS else self.group_size

    async def _semantic(self, texts: list[str], media_path: Any, profile: Any) -> tuple[list[float], bool]:
        """Semantic scores for a group's think texts (one batch); ``(scores, media_error)``."""
        if not self.sem_enabled or not any(texts):
            return [0.0] * len(texts), False
        if self._use_actor():
            out = await self._semantic_on_actor(texts, media_path, profile)
        else:
            from dataclasses import asdict

            from verl_videorft.rewards.semantic import get_scorer

            scorer = get_scorer(self.sem_config)
            out = asdict(await asyncio.get_running_loop().run_in_executor(
                None, lambda: scorer.score_texts(texts, media_path, profile)))
        return list(out["scores"]), out["media_error"] is not None

    def _use_actor(self) -> bool:
        """``ray_actor.enable``: true, false, or auto (the actor whenever Ray is running)."""
        enable = self.ray_actor.get("enable", "auto")
        if enable == "auto":
            import ray

            return ray.is_initialized()
        return bool(enable)

    async def _semantic_on_actor(self, texts: list[str], media_path: Any, profile: Any) -> dict:
        from verl_videorft.rewards.remote import ensure_ready, forget_encoder_actor, get_encoder_actor

        opts = {k: v for k, v in self.ray_actor.items()
                if k in ("name", "namespace", "num_gpus", "num_cpus", "lifetime")}
        for attempt in (0, 1):
            actor = get_encoder_actor(self.sem_config, **opts)
            if not self._actor_ready:
                await ensure_ready(actor, float(self.ray_actor.get("ready_timeout_s", 300)),
                                   opts.get("num_gpus", 1.0))
                self._actor_ready = True
            try:
                return await actor.score_texts.remote(texts, media_path, profile)
            except Exception:
                if attempt:
                    raise
                forget_encoder_actor()  # it died with its owner: attach to / create a new one
                self._actor_ready = False
        raise AssertionError("unreachable")

    def _length_bonus(self, members: dict[str, dict], key: str) -> float:
        lb = self.settings.length_bonus
        if not lb.get("enable", True):
            return 0.0
        thr = float(lb.get("acc_threshold", 0.1))
        me = members[key]
        if sum(1 for m in members.values() if m["acc"] > thr) <= 1 or me["acc"] <= thr:
            return 0.0
        inside = int(lb.get("min_tokens", 320)) <= me["length"] <= int(lb.get("max_tokens", 512))
        return float(lb.get("value", 0.2)) if inside else 0.0

    async def _group_terms(self, members: dict[str, dict], media_path: Any, profile: Any) -> dict:
        keys = list(members)
        sems, media_error = await self._semantic([members[k]["think"] for k in keys], media_path,
                                                 profile)
        return {k: {"sem_raw": s, "length_bonus": self._length_bonus(members, k),
                    "sem_media_error": float(media_error), "group_size": float(len(keys))}
                for k, s in zip(keys, sems)}

    # -- verl entry point ------------------------------------------------------------------------
    async def run_single(self, data) -> dict:
        data = data[-1:]  # multi-turn outputs: score the last sequence, as verl's managers do
        item = data[0]
        response_ids = item.batch["responses"]
        length = int(item.batch["attention_mask"][-response_ids.shape[-1]:].sum())
        nt = item.non_tensor_batch
        extra_info = dict(nt.get("extra_info") or {})
        extra_info.update(dict(nt.get("tool_extra_fields") or {}))
        ground_truth = (nt.get("reward_model") or {}).get("ground_truth", "")

        def decode_and_score() -> tuple[str, float, float]:
            # Off the event loop: ROUGE on a long free-form answer would stall every other
            # trajectory this reward worker is serving.
            text = self.tokenizer.decode(response_ids[:length], skip_special_tokens=True)
            acc = accuracy_reward(text, str(ground_truth), str(extra_info.get("problem_type", "")),
                                  options=self.acc_options)
            return text, acc, format_reward(text)

        text, acc, fmt = await asyncio.get_running_loop().run_in_executor(None, decode_and_score)
        me = {"acc": acc, "length": length, "think": think_text(text) if self.sem_enabled else ""}
        media_path, profile = extra_info.get("media_path"), extra_info.get("frame_profile")

        uid, expected = nt.get("uid"), self._expected(extra_info)
        key = str(nt.get("session_id", uuid.uuid4().hex))
        if self.group_enabled and uid is not None and expected > 1:
            terms = await self._grouped(str(uid), key, me, expected, media_path, profile)
        else:
            terms = (await self._group_terms({key: me}, media_path, profile))[key]

        w = self.settings.weights
        gate_cfg = self.settings.gate
        gated = (not gate_cfg.get("enable", True)) or acc > float(gate_cfg.get("threshold", 0.0))
        sem = terms["sem_raw"] if gated else 0.0
        score = (float(w.get("accuracy", 1.0)) * acc + float(w.get("format", 1.0)) * fmt
                 + float(w.get("semantic", 1.0)) * sem + terms["length_bonus"])
        info = {"score": score, "acc": acc, "format": fmt, "sem": sem, **terms}
        return {"reward_score": score, "reward_extra_info": {k: info[k] for k in ("score",) + EXTRA_KEYS}}

    async def _grouped(self, uid: str, key: str, me: dict, expected: int, media_path: Any,
                       profile: Any) -> dict:
        value = await self._rendezvous(uid, key, me, expected, media_path, profile)
        if value is None:
            logger.warning("videorft reward: no group result for uid %s; scoring alone", uid)
            value = (await self._group_terms({key: me}, media_path, profile))[key]
        return value

    @staticmethod
    async def _board_call(method: str, *args: Any) -> Any:
        """A call on the group board; ``None`` when the board itself fails (its owner died)."""
        try:
            return await get_board().call(method, *args)
        except Exception as err:  # noqa: BLE001 - score alone, keep training
            logger.warning("videorft reward: group board failed (%s: %s)", type(err).__name__, err)
            reset_board()
            return None

    async def _rendezvous(self, uid: str, key: str, me: dict, expected: int, media_path: Any,
                          profile: Any) -> dict | None:
        """Join the group; the leader computes and publishes everyone's terms; return mine.

        Only board failures are absorbed here (the caller then scores alone); an error of the
        semantic scorer itself (e.g. an encoder that cannot load) propagates, loudly.
        """
        joined = await self._board_call("join", uid, key, me, expected, self.timeout_s)
        if joined is None:
            return None
        members, leader = joined
        if not leader:
            return await self._board_call("result", uid, key, self.timeout_s)
        results: dict = {}
        try:
            results = await self._group_terms(members, media_path, profile)
        finally:  # publish even on failure, so the other members never wait for nothing
            await self._board_call("publish", uid, results)
        return results.get(key)
