"""Format reward alone (1.0 iff ``<think>...</think> <answer>...</answer>``), for any verl recipe.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.format
    reward.custom_reward_function.name=compute_score

    >>> compute_score("any", "<think>a</think><answer>b</answer>", "<answer>b</answer>")
    1.0
"""

from verl_videorft.rewards import format_score as compute_score

__all__ = ["compute_score"]
