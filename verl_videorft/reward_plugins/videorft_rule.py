"""Accuracy + format (the rule part of VideoRFT's reward), each also logged on its own.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.videorft_rule
    reward.custom_reward_function.name=compute_score

Same as ``reward.custom_reward_function.path=pkg://verl_videorft.rewards``.
"""

from verl_videorft.rewards import compute_score

__all__ = ["compute_score"]
