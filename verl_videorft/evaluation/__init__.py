"""Evaluation on the paper's six video benchmarks (``videorft eval``).

>>> from verl_videorft.evaluation import score_sample
>>> score_sample("<think>...</think><answer>C</answer>", "<answer>C</answer>", "multiple choice")
1.0

Modules: :mod:`.scoring` (``score_sample``, MRA), :mod:`.benchmarks` (Video-R1 eval-file readers,
the paper's Table 1), :mod:`.backends` (transformers and vLLM), :mod:`.runner` (resumable JSONL),
:mod:`.report` (markdown + PNG), and the command line in :mod:`verl_videorft.cli.eval`.
Only scoring is imported here, so ``import verl_videorft.evaluation`` stays light.
"""

from verl_videorft.evaluation.scoring import mean_relative_accuracy, score_sample

__all__ = ["score_sample", "mean_relative_accuracy"]
