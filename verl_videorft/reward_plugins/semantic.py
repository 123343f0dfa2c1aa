"""Semantic-consistency reward alone (ungated), for any verl recipe with video or image samples.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.semantic
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.encoder=google/siglip-so400m-patch14-384
    +reward.custom_reward_function.reward_kwargs.aggregate=mean     # or per_frame (released code)

Needs ``extra_info["media_path"]`` (and ideally ``extra_info["frame_profile"]``, the rollout's frame
settings). Scores one completion per call; the ``videorft`` reward manager batches a group's texts
and applies the accuracy gate.
"""

from verl_videorft.rewards import semantic_score as compute_score

__all__ = ["compute_score"]
