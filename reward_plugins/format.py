"""Format reward alone (1.0 iff ``<think>...</think> <answer>...</answer>``), for any verl recipe.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.format   # installed with the package
    reward.custom_reward_function.path=$PWD/reward_plugins/format.py               # this copy, once edited
    reward.custom_reward_function.name=compute_score

An example to copy and edit: it re-exports the installed module
``verl_videorft.reward_plugins.format``; replace the import with your own ``compute_score``.
"""

from verl_videorft.reward_plugins.format import compute_score

__all__ = ["compute_score"]
