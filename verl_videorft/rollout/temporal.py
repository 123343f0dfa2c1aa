"""T-GRPO's shuffled-frame rollouts, made inside the agent loop from frames it already holds.

Video-R1's temporal contrast also rolls out each video prompt on its frames in a random order
(``n/2`` rollouts) and compares the accuracies (:mod:`verl_videorft.rewards.temporal`). Here those
rollouts are made by the members of the prompt's group themselves: with ``rollout.n`` sessions and
``n_shuffled`` shuffled rollouts, session ``i`` makes :func:`shuffle_count` of them (sessions
``0 .. n_shuffled-1`` one each by default). Each is sent to the rollout server alongside the
member's own (ordered) request, concurrently, with:

- the same prompt ids, processor kwargs and frame metadata (the frames keep their time stamps;
  only their content moves), and the member's sampling parameters with ``max_tokens`` set to
  ``temporal.max_response_length`` (default ``rollout.response_length``, as the released trainer);
- the member's own decoded frames permuted by :func:`frame_permutation`, seeded by
  ``(temporal.seed, global step, sample index, video)``, so every member of a group computes the
  same permutation (one per prompt, as the released ``torch.randperm`` per prompt), a rerun gets
  the same one, and it is never the identity for two frames or more. The frames are a gather of
  the tensor the loop already holds: no second decode, not even a frame-cache lookup.

Each shuffled response is decoded and scored for accuracy only (:func:`accuracy_reward` with the
record's problem type and ground truth and ``reward.videorft.accuracy``), right here. Only those
accuracies leave the loop, in the ordered trajectory's ``extra_fields["videorft_shuffled"]``
(``{"video", "planned", "acc"}``): the shuffled rollouts are never in the training batch, so they
are never trained on. Image and text prompts, validation samples (``extra_info.split == "val"``)
and replaced samples (decode error, over-long prompt) get none. A shuffled request that fails is
logged and left out (``planned`` minus the accuracies that arrived is the step's
``tgrpo/shuffled_missing``); the ordered trajectory is never failed by one.

Not supported: the SGLang rollout (it takes processor outputs, not frames; the shuffled request
would carry none).

    >>> frame_permutation(6, seed=0, step=3, sample=17).tolist() == frame_permutation(6, 0, 3, 17).tolist()
    True
    >>> [shuffle_count(i, n=8, n_shuffled=4) for i in range(8)]
    [1, 1, 1, 1, 0, 0, 0, 0]
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable
from typing import Any

import numpy as np
import torch

from verl_videorft.config import RewardConfig, reward_config
from verl_videorft.names import SHUFFLED_KEY
from verl_videorft.rewards.text import accuracy_reward

logger = logging.getLogger(__name__)

# one typed load per worker config (a loop object is made per trajectory); the config is kept so
# its id cannot be reused by another object
_SETTINGS: dict[int, tuple[Any, RewardConfig]] = {}


def shuffle_count(session_id: int, n: int, n_shuffled: int) -> int:
    """How many shuffled rollouts session ``session_id`` of ``n`` makes, for ``n_shuffled`` per group."""
    base, extra = divmod(max(n_shuffled, 0), max(n, 1))
    return base + int(session_id < extra)


def frame_permutation(num_frames: int, seed: int, step: int, sample: Any) -> np.ndarray:
    """A seeded permutation of ``range(num_frames)``, never the identity when ``num_frames >= 2``.

    The seed mixes ``seed``, the global ``step`` and the ``sample`` key through SHA-256, so nearby
    keys give unrelated permutations.
    """
    digest = hashlib.sha256(f"{seed}/{step}/{sample}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    identity = np.arange(num_frames)
    if num_frames < 2:
        return identity
    while True:
        perm = rng.permutation(num_frames)
        if (perm != identity).any():
            return perm


def permute_videos(videos: list, seed: int, step: int, sample: Any) -> list:
    """Each ``(frames [T, ...], metadata)`` of ``videos`` with its frames in a seeded order (a gather:
    new tensors, the cached ones untouched); the metadata (times, indices) stays as it is."""
    out = []
    for j, entry in enumerate(videos):
        frames, meta = entry if isinstance(entry, (tuple, list)) and len(entry) == 2 else (entry, None)
        perm = frame_permutation(len(frames), seed, step, f"{sample}/{j}")
        moved = frames[torch.from_numpy(perm)] if torch.is_tensor(frames) else np.asarray(frames)[perm]
        out.append((moved, meta) if meta is not None else moved)
    return out


def settings_of(config: Any) -> RewardConfig:
    """``reward.videorft`` of the worker's config, loaded once per config object."""
    entry = _SETTINGS.get(id(config))
    if entry is None or entry[0] is not config:
        entry = _SETTINGS[id(config)] = (config, reward_config(config))
    return entry[1]


class ShuffledRollouts:
    """One trajectory's shuffled rollouts; owned by the agent loop (one loop object per trajectory).

    The loop wires it in twice: ``self.server_manager = self.temporal.client(self.server_manager)``
    at construction, and ``output = await self.temporal.run(super().run(...), kwargs)``.
    """

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.settings = settings_of(loop.config)
        self.enabled = bool(self.settings.temporal.enable)
        self.kwargs: dict[str, Any] = {}
        self.video = False
        self.planned = 0
        self.started = False
        self.tasks: list[asyncio.Task] = []

    def client(self, inner: Any) -> Any:
        """verl's server client, wrapped when T-GRPO is on: the ordered request starts the shuffled ones."""
        return _ShufflingClient(inner, self) if self.enabled else inner

    async def run(self, ordered: Awaitable[Any], kwargs: dict[str, Any]) -> Any:
        """Await the loop's own run, then this member's shuffled rollouts; record their accuracies."""
        self.kwargs = kwargs
        try:
            output = await ordered
        except BaseException:
            for task in self.tasks:
                task.cancel()
            raise
        if self.enabled:
            acc = [a for a in await asyncio.gather(*self.tasks) if a is not None]
            output.extra_fields[SHUFFLED_KEY] = {"video": self.video, "planned": self.planned, "acc": acc}
        return output

    # ---- called by the wrapped client --------------------------------------------------------
    def start(self, inner: Any, args: tuple, call: dict[str, Any]) -> None:
        """Plan and launch this member's shuffled requests (once per trajectory)."""
        if self.started:
            return
        self.started = True
        videos = call.get("video_data") or []
        self.video = bool(videos)
        self.planned = self._count() if self.video else 0
        if not self.planned:
            return
        tc, kw = self.settings.temporal, self.kwargs
        extra = kw.get("extra_info") or {}
        sample = extra.get("index", kw.get("index", kw.get("uid", "?")))
        shuffled = permute_videos(list(videos), tc.seed, int(kw.get("global_steps", 0) or 0), sample)
        params = dict(call.get("sampling_params") or {})
        params["max_tokens"] = int(tc.max_response_length or self.loop.rollout_config.response_length)
        for k in range(self.planned):
            request = dict(call, sampling_params=params, video_data=shuffled, mm_processor_output=None)
            if request.get("request_id") is not None:
                request["request_id"] = f"{request['request_id']}-shuffled-{k}"
            self.tasks.append(asyncio.create_task(self._one(inner, args, request, params["max_tokens"])))

    def _count(self) -> int:
        kw, tc = self.kwargs, self.settings.temporal
        extra = kw.get("extra_info") or {}
        if getattr(self.loop, "error", None) is not None:
            return 0  # placeholder frames (decode error, over-long prompt): no contrast to draw
        if isinstance(extra, dict) and extra.get("split") == "val":
            return 0
        if kw.get("session_id") is None:  # verl's V0 worker: no member index, no shuffled rollouts
            logger.warning("videorft: T-GRPO needs verl's V1 trainer (session ids); no shuffled rollouts")
            return 0
        n = int(self.loop.rollout_config.n)
        n_shuffled = tc.n_shuffled if tc.n_shuffled is not None else n // 2
        return shuffle_count(int(kw["session_id"]), n, n_shuffled)

    async def _one(self, inner: Any, args: tuple, request: dict[str, Any], max_tokens: int) -> float | None:
        """One shuffled rollout's accuracy, or ``None`` when the request failed."""
        try:
            out = await inner.generate(*args, **request)
        except Exception as err:  # noqa: BLE001 - a lost shuffled rollout must not fail the member
            logger.warning("videorft: shuffled rollout failed for %s: %s: %s",
                           request.get("request_id"), type(err).__name__, err)
            return None
        kw = self.kwargs
        truth = str((kw.get("reward_model") or {}).get("ground_truth", ""))
        ptype = str((kw.get("extra_info") or {}).get("problem_type", ""))
        tokenizer, options = self.loop.tokenizer, self.settings.accuracy

        def score() -> float:  # off the event loop: ROUGE on a long answer would stall other trajectories
            text = tokenizer.decode(list(out.token_ids)[:max_tokens], skip_special_tokens=True)
            return float(accuracy_reward(text, truth, ptype, options=options))

        return await asyncio.get_running_loop().run_in_executor(None, score)


class _ShufflingClient:
    """verl's server client; its first ``generate`` also launches the member's shuffled requests."""

    def __init__(self, inner: Any, owner: ShuffledRollouts) -> None:
        self._inner, self._owner = inner, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        self._owner.start(self._inner, args, kwargs)
        return await self._inner.generate(*args, **kwargs)


__all__ = ["ShuffledRollouts", "frame_permutation", "permute_videos", "settings_of", "shuffle_count"]
