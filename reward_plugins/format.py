"""Format reward alone (1.0 iff ``<think>...</think> <answer>...</answer>``), for any verl recipe.

    reward.custom_reward_function.path=$PWD/reward_plugins/format.py
    reward.custom_reward_function.name=compute_score
"""

from verl_videorft.rewards import format_score as compute_score

__all__ = ["compute_score"]
