"""Accuracy reward alone, for any verl recipe.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.accuracy   # installed with the package
    reward.custom_reward_function.path=$PWD/reward_plugins/accuracy.py               # this copy, once edited
    reward.custom_reward_function.name=compute_score
    # optional fixes of reference quirks, e.g.:
    +reward.custom_reward_function.reward_kwargs.lenient_choice=true
    # OCR and free-form score 0 past 8192 characters on either side (their cost is the product of
    # the two lengths); null scores any length, as the reference does:
    +reward.custom_reward_function.reward_kwargs.max_text_answer_chars=null

Needs ``extra_info["problem_type"]`` in each sample ("multiple choice", "numerical", "OCR",
"free-form", "regression") and a ``<answer>...</answer>`` ground truth. A file path must be absolute:
Ray workers resolve a relative one against their own working directory.

An example to copy and edit: it re-exports the installed module
``verl_videorft.reward_plugins.accuracy``; replace the import with your own ``compute_score``.
"""

from verl_videorft.reward_plugins.accuracy import compute_score

__all__ = ["compute_score"]
