"""``VideoRFTRewardManager``: the per-sample VideoRFT reward as a verl 0.9.1 reward-loop manager.

    score = w_acc·acc + w_fmt·fmt + w_sem·gate(acc)·sem            (here, one trajectory at a time)
          + length_bonus                                          (the videorft_sync trainer, per group)

verl scores each trajectory alone, as soon as it finishes, so this manager computes only what one
sample determines: accuracy, format, and the semantic term (one encode of the video's frames per
video via the scorer's cache, the think text alone). The terms that need the prompt's whole group
are added by the trainer, where verl holds complete groups (:mod:`.group_terms`). Every setting
comes from ``reward.videorft`` (:class:`verl_videorft.config.RewardConfig`); each component is its
own key of ``reward_extra_info`` (``acc``, ``format``, ``sem``, ``sem_raw``, ``sem_media_error``,
``response_length``), so verl logs each as a curve. Registration (in ``plugin.py`` only)::

    from verl.experimental.reward_loop.reward_manager import register
    register("videorft")(VideoRFTRewardManager)

then ``reward.reward_manager.name=videorft``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, replace
from typing import Any

from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from verl_videorft.config import reward_config
from verl_videorft.names import (
    ACC_KEY,
    FORMAT_KEY,
    RESPONSE_LENGTH_KEY,
    SEM_KEY,
    SEM_MEDIA_ERROR_KEY,
    SEM_RAW_KEY,
)
from verl_videorft.rewards.semantic import think_text
from verl_videorft.rewards.text import accuracy_reward, format_reward

logger = logging.getLogger(__name__)

EXTRA_KEYS = (ACC_KEY, FORMAT_KEY, SEM_KEY, SEM_RAW_KEY, SEM_MEDIA_ERROR_KEY, RESPONSE_LENGTH_KEY)


class VideoRFTRewardManager(RewardManagerBase):
    """Accuracy + format + accuracy-gated semantic consistency, per trajectory."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                 reward_model_tokenizer=None, **kwargs: Any):
        super().__init__(config, tokenizer, compute_score)
        self.settings = reward_config(config)
        self.sem_config = self.settings.semantic
        self.sem_enabled = self.sem_config.enable and self.settings.weights.semantic != 0
        self._actor_ready = False

    async def _semantic(self, text: str, media_path: Any, profile: Any) -> tuple[float, bool]:
        """The semantic similarity of one think text to its video: ``(score, media_error)``."""
        if not self.sem_enabled or not text:
            return 0.0, False
        if self._use_actor():
            out = await self._semantic_on_actor([text], media_path, profile)
        else:
            from verl_videorft.rewards.remote import local_device
            from verl_videorft.rewards.semantic import get_scorer

            scorer = get_scorer(replace(self.sem_config, device=local_device(self.sem_config.device)))
            out = asdict(await asyncio.get_running_loop().run_in_executor(
                None, lambda: scorer.score_texts([text], media_path, profile)))
        return float(out["scores"][0]), out["media_error"] is not None

    def _use_actor(self) -> bool:
        """``ray_actor.enable``: true, false, or auto (the actor whenever Ray is running)."""
        enable = self.sem_config.ray_actor.enable
        if enable == "auto":
            import ray

            return ray.is_initialized()
        return bool(enable)

    async def _semantic_on_actor(self, texts: list[str], media_path: Any, profile: Any) -> dict:
        from verl_videorft.rewards.remote import ensure_ready, forget_encoder_actor, get_encoder_actor

        for attempt in (0, 1):
            actor = get_encoder_actor(self.sem_config)
            if not self._actor_ready:
                await ensure_ready(actor, self.sem_config.ray_actor)
                self._actor_ready = True
            try:
                return await actor.score_texts.remote(texts, media_path, profile)
            except Exception:
                if attempt:
                    raise
                forget_encoder_actor()  # it died with its owner: attach to / create a new one
                self._actor_ready = False
        raise AssertionError("unreachable")

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
                                  options=self.settings.accuracy)
            return text, acc, format_reward(text)

        text, acc, fmt = await asyncio.get_running_loop().run_in_executor(None, decode_and_score)
        sem_raw, media_error = await self._semantic(think_text(text), extra_info.get("media_path"),
                                                    extra_info.get("frame_profile"))
        w, gate = self.settings.weights, self.settings.gate
        sem = sem_raw if (not gate.enable) or acc > gate.threshold else 0.0
        score = w.accuracy * acc + w.format * fmt + w.semantic * sem
        info = {"score": score, ACC_KEY: acc, FORMAT_KEY: fmt, SEM_KEY: sem, SEM_RAW_KEY: sem_raw,
                SEM_MEDIA_ERROR_KEY: float(media_error), RESPONSE_LENGTH_KEY: float(length)}
        return {"reward_score": score, "reward_extra_info": info}
