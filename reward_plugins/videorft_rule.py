"""Accuracy + format (the rule part of VideoRFT's reward), each also logged on its own.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.videorft_rule   # installed with the package
    reward.custom_reward_function.path=$PWD/reward_plugins/videorft_rule.py               # this copy, once edited
    reward.custom_reward_function.name=compute_score

Same as ``reward.custom_reward_function.path=pkg://verl_videorft.rewards``.

An example to copy and edit: it re-exports the installed module
``verl_videorft.reward_plugins.videorft_rule``; replace the import with your own ``compute_score``.
"""

from verl_videorft.reward_plugins.videorft_rule import compute_score

__all__ = ["compute_score"]
