"""``VideoRFTRewardManager``: the full VideoRFT reward as a verl 0.9.1 reward-loop manager.

    score = w_acc·acc + w_fmt·fmt + w_sem·gate(acc)·sem + length_bonus

Every term is set from ``reward.videorft`` (see :class:`verl_videorft.config.RewardConfig`) and returned as its
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
from typing import Any

from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from verl_videorft.config import reward_config
from verl_videorft.rewards.group import get_board, reset_board
from verl_videorft.rewards.semantic import think_text
from verl_videorft.rewards.text import accuracy_reward, format_reward

logger = logging.getLogger(__name__)

VAL_SPLITS = frozenset({"val", "validation", "test", "eval"})
EXTRA_KEYS = ("acc", "format", "sem", "sem_raw", "length_bonus", "sem_media_error", "group_size")


class VideoRFTRewardManager(RewardManagerBase):
    """Accuracy + format + gated semantic consistency + group-aware length bonus."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                 reward_model_tokenizer=None, **kwargs: Any):
        super().__init__(config, tokenizer, compute_score)
        s = reward_config(config)
        self.settings = s
        self.acc_options = s.accuracy
        self.sem_config = s.semantic
        self.sem_enabled = s.semantic.enable and s.weights.semantic != 0
        self.ray_actor = s.semantic.ray_actor
        self._actor_ready = False
        self.group_size = s.group.size or int(config.actor_rollout_ref.rollout.n)
        self.val_group_size = s.group.val_size or int(config.actor_rollout_ref.rollout.val_kwargs.n)
        self.group_enabled = s.group.enable
        self.timeout_s = s.group.timeout_s

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
        enable = self.ray_actor.enable
        if enable == "auto":
            import ray

            return ray.is_initialized()
        return bool(enable)

    async def _semantic_on_actor(self, texts: list[str], media_path: Any, profile: Any) -> dict:
        from verl_videorft.rewards.remote import ensure_ready, forget_encoder_actor, get_encoder_actor

        for attempt in (0, 1):
            actor = get_encoder_actor(self.sem_config)
            if not self._actor_ready:
                await ensure_ready(actor, self.ray_actor)
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
        if not lb.enable:
            return 0.0
        thr = lb.acc_threshold
        me = members[key]
        if sum(1 for m in members.values() if m["acc"] > thr) <= 1 or me["acc"] <= thr:
            return 0.0
        return lb.value if lb.min_tokens <= me["length"] <= lb.max_tokens else 0.0

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
        gated = (not gate_cfg.enable) or acc > gate_cfg.threshold
        sem = terms["sem_raw"] if gated else 0.0
        score = w.accuracy * acc + w.format * fmt + w.semantic * sem + terms["length_bonus"]
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
