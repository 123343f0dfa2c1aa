"""The paper's prompts (PAPER.md, "Prompt"): one place, shared by RL, SFT and evaluation.

>>> q = build_question({"problem": "How many cubes?", "problem_type": "numerical"})
>>> q.endswith("(e.g., 42 or 3.14) within the <answer> </answer> tags.")
True
>>> build_question({"problem": "Color?", "problem_type": "multiple choice",
...                 "options": ["A. red", "B. blue"]}).splitlines()[:3]
['Color?Options:', 'A. red', 'B. blue']
"""

from __future__ import annotations

from collections.abc import Mapping

PROBLEM_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")

QUESTION_TEMPLATE = (
    "{Question}\n"
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', "
    "'oh, I see', 'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the <think> </think> tags, and then give your "
    "final answer between the <answer> </answer> tags."
)

# Appended directly after the template; each starts with a space (PAPER.md).
TYPE_SUFFIX = {
    "multiple choice": " Please provide only the single option letter (e.g., A, B, C, D, etc.) "
    "within the <answer> </answer> tags.",
    "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": " Please transcribe text from the image/video clearly and provide your text answer "
    "within the <answer> </answer> tags.",
    "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

# SFT only: the R1-style system prompt (RL uses none, so Qwen's chat template inserts its default).
SFT_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user "
    "with the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think>"
    "<answer> answer here </answer>"
)


class RecordError(ValueError):
    """A malformed record; the message names the field (and the caller adds file and line)."""


def question_text(record: Mapping) -> str:
    """The problem, with ``"Options:\\n" + "\\n".join(options)`` appended when the record has options.

    Faithful to Video-R1: no separator between the problem and ``"Options:"``.
    """
    if "problem" not in record or not isinstance(record["problem"], str):
        raise RecordError("missing or non-string field 'problem'")
    options = record.get("options")
    if options:
        if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
            raise RecordError("field 'options' must be a list of strings")
        return record["problem"] + "Options:\n" + "\n".join(options)
    return record["problem"]


def build_question(record: Mapping) -> str:
    """The full user text for a record: template with the question, then the type suffix."""
    problem_type = record.get("problem_type")
    if problem_type not in TYPE_SUFFIX:
        raise RecordError(f"unknown problem_type {problem_type!r} (expected one of {list(PROBLEM_TYPES)})")
    return QUESTION_TEMPLATE.format(Question=question_text(record)) + TYPE_SUFFIX[problem_type]
