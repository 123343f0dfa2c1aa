"""``videorft_sync``: verl's synchronous V1 trainer plus the group reward terms and per-step metrics.

Group terms: verl scores each trajectory alone; this trainer adds the terms that need a prompt's
whole group (:mod:`verl_videorft.rewards.group_terms`: the length bonus) in ``_compute_advantage``,
where verl's V1 trainer holds complete groups, before the advantages (with
``reward.videorft.temporal.enable``, also T-GRPO's temporal bonus, and ``tgrpo/*`` metrics: see
:func:`tgrpo_step_metrics`): each row's bonus is added to
its ``rm_scores`` at the last response token (where verl puts the score), and logged as
``reward/<term>/*`` with ``videorft/groups/{groups,partial_groups,aborted_members,padding_rows}``.

Metrics: verl 0.9.1's V1 trainer computes every reward component (the manager's ``reward_extra_info``) and
stores it with each trajectory in TransferQueue, but logs only the summed score. This subclass,
registered with verl's own ``register_trainer`` and chosen by ``trainer.v1.trainer_mode=videorft_sync``,
reads those per-sample dicts back after verl's metrics and adds, for every numeric key,
``reward/<key>/mean|max|min``; plus ``videorft/bad_samples`` (rollouts the agent loop replaced after
a decode failure or an over-long prompt, ``n`` per prompt), ``videorft/skipped/<reason>`` (every
record skipped for the step's prompts, by reason, once per prompt: :mod:`verl_videorft.data.skips`)
and ``timing_s/trajectory/{generate,reward}/*`` (where the
rollout phase's time goes). Everything else is verl's ``PPOTrainerSync``.

    >>> reward_component_metrics([{"reward_extra_info": {"acc": 1.0, "format": 0.0}},
    ...                           {"reward_extra_info": {"acc": 0.0, "format": 1.0}}])["reward/acc/mean"]
    0.5
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable
from typing import Any

from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from verl_videorft.config import RewardConfig, reward_config
from verl_videorft.data.skips import skip_metrics
from verl_videorft.names import ERROR_KEY, REWARD_EXTRA_INFO_KEY
from verl_videorft.rewards.group_terms import (
    Member,
    compute_group_terms,
    group_term_metrics,
    member_of,
    usable_groups,
)
from verl_videorft.rewards.temporal import temporal_metrics

logger = logging.getLogger(__name__)


def reward_component_metrics(extra_fields: Iterable[Any]) -> dict[str, float]:
    """Aggregate per-sample ``reward_extra_info`` dicts into ``reward/<key>/{mean,max,min}``."""
    values: dict[str, list[float]] = {}
    bad = 0
    for extra in extra_fields:
        if not isinstance(extra, dict):
            continue
        bad += extra.get(ERROR_KEY) is not None
        for key, value in (extra.get(REWARD_EXTRA_INFO_KEY) or {}).items():
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, numbers.Number):
                values.setdefault(key, []).append(float(value))
    out: dict[str, float] = {"videorft/bad_samples": float(bad)}
    for key, vals in sorted(values.items()):
        out[f"reward/{key}/mean"] = sum(vals) / len(vals)
        out[f"reward/{key}/max"] = max(vals)
        out[f"reward/{key}/min"] = min(vals)
    return out


def trajectory_timing_metrics(per_sample: Iterable[Any]) -> dict[str, float]:
    """Per-trajectory seconds inside the rollout phase (verl's ``timing_s/gen`` is their wall time):
    ``timing_s/trajectory/{generate,reward}/{mean,max}``. The reward time includes waiting for the
    rest of the prompt's group.

    >>> rows = [{"generate_sequences": 1.0, "compute_score": 0.5},
    ...         {"generate_sequences": 3.0, "compute_score": 0.5}]
    >>> trajectory_timing_metrics(rows)["timing_s/trajectory/generate/mean"]
    2.0
    """
    out: dict[str, float] = {}
    for name, key in (("generate", "generate_sequences"), ("reward", "compute_score")):
        vals = [float(m[key]) for m in per_sample if isinstance(m, dict) and isinstance(m.get(key), numbers.Number)]
        if vals:
            out[f"timing_s/trajectory/{name}/mean"] = sum(vals) / len(vals)
            out[f"timing_s/trajectory/{name}/max"] = max(vals)
    return out


class VideoRFTTrainerSync(PPOTrainerSync):
    """``PPOTrainerSync`` that also logs each reward component (see module doc).

    ``trainer.v1.poll_interval_s`` (optional) sets how often the replay buffer looks for a finished
    batch; verl fixes it at 2 s, which is most of a CPU smoke-test step and noise on a GPU run.
    """

    def _build_replay_buffer(self):
        buffer = super()._build_replay_buffer()
        interval = self.config.trainer.v1.get("poll_interval_s", None)
        if interval is not None and hasattr(buffer, "poll_interval"):
            buffer.poll_interval = float(interval)
        return buffer

    def _compute_advantage(self, batch, metrics):
        self._add_group_terms(batch, metrics)
        return super()._compute_advantage(batch, metrics=metrics)

    def _add_group_terms(self, batch, metrics: dict) -> None:
        """Group terms on the batch's complete groups, added to ``rm_scores`` in TransferQueue."""
        import torch
        import transfer_queue as tq
        from tensordict import TensorDict

        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                               select_fields=["rm_scores", "extra_fields"])
        rows = [member_of(key, tag, extra)
                for key, tag, extra in zip(batch.keys, batch.tags, _as_list(data["extra_fields"]))]
        settings = reward_config(self.config)
        result = compute_group_terms(rows, settings, int(self.config.actor_rollout_ref.rollout.n))
        metrics.update(group_term_metrics(result, rows))
        if settings.temporal.enable:
            metrics.update(tgrpo_step_metrics(rows, settings))
        if not result.total.any():
            return
        scores = [row.clone() for row in data["rm_scores"].unbind()]
        for row, extra in zip(scores, result.total.tolist()):
            row[-1] += extra  # verl's reward sits on the last response token (agent_loop.py)
        nested = torch.nested.as_nested_tensor(scores, layout=torch.jagged)
        tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id,
                        fields=TensorDict({"rm_scores": nested}, batch_size=len(batch.keys)))

    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        super()._compute_metrics(batch, metrics, timing_raw, global_steps=global_steps, epoch=epoch)
        try:
            import transfer_queue as tq

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                                   select_fields=["extra_fields", "metrics"])
            # verl pads the batch with copies of real rows (tagged is_padding); count real ones only.
            real = [not tag.get("is_padding", False) for tag in batch.tags]
            metrics.update(reward_component_metrics(e for e, r in zip(data["extra_fields"], real) if r))
            metrics.update(trajectory_timing_metrics([m for m, r in zip(data["metrics"], real) if r]))
        except Exception as exc:  # metrics must never stop training
            logger.warning("videorft: reward component metrics unavailable: %s: %s", type(exc).__name__, exc)
        self._add_skip_metrics(batch, metrics)

    def _add_skip_metrics(self, batch, metrics: dict) -> None:
        """``videorft/skipped/<reason>``: records the dataset skipped for this batch's prompts (carried
        in each prompt's ``extra_info``) and prompts the agent loop replaced, once per prompt (uid)."""
        try:
            import transfer_queue as tq

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                                   select_fields=["extra_info", "extra_fields"])
            rows = [(key.split("_", 1)[0], info, extra) for key, tag, info, extra in
                    zip(batch.keys, batch.tags, _as_list(data["extra_info"]), _as_list(data["extra_fields"]))
                    if not tag.get("is_padding", False)]
            metrics.update(skip_metrics(rows))
        except Exception as exc:  # metrics must never stop training
            logger.warning("videorft: skip metrics unavailable: %s: %s", type(exc).__name__, exc)


def tgrpo_step_metrics(rows: list[Member], settings: RewardConfig) -> dict[str, float]:
    """T-GRPO's ``tgrpo/*`` over the batch's usable groups (the bonus itself is ``reward/temporal_bonus/*``)."""
    groups = [[rows[i] for i in idx] for idx in usable_groups(rows).values()]
    planned = sum(m.shuffled_planned for group in groups for m in group)
    return temporal_metrics(groups, settings.temporal, planned=planned)


def _as_list(values: Any) -> list:
    """A TransferQueue non-tensor column (NonTensorStack, numpy array or list) as a list."""
    return values.tolist() if hasattr(values, "tolist") else list(values)
