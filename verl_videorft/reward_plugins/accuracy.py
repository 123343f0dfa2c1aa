"""Accuracy reward alone, for any verl recipe.

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.accuracy
    reward.custom_reward_function.name=compute_score
    # optional fixes of reference quirks, e.g.:
    +reward.custom_reward_function.reward_kwargs.lenient_choice=true
    # OCR and free-form score 0 past 8192 characters on either side (their cost is the product of
    # the two lengths); null scores any length, as the reference does:
    +reward.custom_reward_function.reward_kwargs.max_text_answer_chars=null

Needs ``extra_info["problem_type"]`` in each sample ("multiple choice", "numerical", "OCR",
"free-form", "regression") and a ``<answer>...</answer>`` ground truth.

    >>> compute_score("any", "<answer>B</answer>", "<answer>B</answer>", {"problem_type": "multiple choice"})
    1.0
"""

from verl_videorft.rewards import accuracy_score as compute_score

__all__ = ["compute_score"]
