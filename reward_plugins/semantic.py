"""Semantic-consistency reward alone (ungated), for any verl recipe with video or image samples.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.semantic   # installed with the package
    reward.custom_reward_function.path=$PWD/reward_plugins/semantic.py               # this copy, once edited
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.encoder=google/siglip-so400m-patch14-384
    +reward.custom_reward_function.reward_kwargs.aggregate=mean     # or per_frame (released code)

Needs ``extra_info["media_path"]`` (and ideally ``extra_info["frame_profile"]``, the rollout's frame
settings). Scores one completion per call; the ``videorft`` reward manager batches a group's texts
and applies the accuracy gate.

An example to copy and edit: it re-exports the installed module
``verl_videorft.reward_plugins.semantic``; replace the import with your own ``compute_score``.
"""

from verl_videorft.reward_plugins.semantic import compute_score

__all__ = ["compute_score"]
