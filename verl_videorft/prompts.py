"""The prompts of the released pipelines, in one place: shared by RL training, SFT and evaluation.

The user turn is ``QUESTION_TEMPLATE.format(Question=question) + TYPE_SUFFIX[problem_type]``. How
``question`` is built, and how the template words its tags, differs between the two releases this
project follows (read from their code), so it is a *style*:

==========  ==============================================  =============================================
style       training and SFT                                evaluation
==========  ==============================================  =============================================
videorft    ``problem`` alone (options never appended)      ``problem + "\\n" + "".join(o + "\\n" ...)``
video_r1    ``problem + "Options:\\n" + "".join(o + "\\n")``  the same
==========  ==============================================  =============================================

Options are appended for ``multiple choice`` records only (both releases); the evaluation template
says "between the <think> and </think> tags ... between the <answer> and </answer> tags" where the
training template says "<think> </think>" and "<answer> </answer>"; the type suffixes are the same.

>>> rec = {"problem": "Color?", "problem_type": "multiple choice", "options": ["A. red", "B. blue"]}
>>> build_question(rec, "video_r1").splitlines()[:4]
['Color?Options:', 'A. red', 'B. blue', '']
>>> build_question(rec, "videorft").splitlines()[0]         # VideoRFT training: the problem alone
'Color?'
>>> build_question(rec, "videorft", for_eval=True).splitlines()[:4]
['Color?', 'A. red', 'B. blue', '']
>>> options_visible(rec, "videorft"), options_visible(rec, "video_r1")
(False, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# The five problem types of the released data and rewards; exact strings (case and spaces matter).
PROBLEM_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")

PROMPT_STYLES = ("videorft", "video_r1")
DEFAULT_PROMPT_STYLE = "videorft"

_INSTRUCTIONS = (
    "{Question}\n"
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', "
    "'oh, I see', 'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the {think} tags, and then give your "
    "final answer between the {answer} tags."
)

# Training and SFT wording (both releases' grpo.py / sft_video.py).
QUESTION_TEMPLATE = _INSTRUCTIONS.replace("{think}", "<think> </think>").replace("{answer}", "<answer> </answer>")
# Both releases' eval_bench.py word the tags with an "and".
EVAL_QUESTION_TEMPLATE = (_INSTRUCTIONS.replace("{think}", "<think> and </think>")
                          .replace("{answer}", "<answer> and </answer>"))

# Appended directly after the template; each starts with a space (the same in training and eval).
TYPE_SUFFIX = {
    "multiple choice": " Please provide only the single option letter (e.g., A, B, C, D, etc.) "
    "within the <answer> </answer> tags.",
    "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": " Please transcribe text from the image/video clearly and provide your text answer "
    "within the <answer> </answer> tags.",
    "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

# SFT system prompts: VideoRFT's sft_video.py uses the R1 prompt, Video-R1's "You are a helpful
# assistant" (no final period). RL uses none, so Qwen's chat template inserts its default.
SFT_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user "
    "with the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think>"
    "<answer> answer here </answer>"
)
SFT_SYSTEM_PROMPTS = {"videorft": SFT_SYSTEM_PROMPT, "video_r1": "You are a helpful assistant"}


class RecordError(ValueError):
    """A malformed record; the message names the field (and the caller adds file and line)."""


def check_style(style: str) -> str:
    """``style`` itself when it is one of :data:`PROMPT_STYLES`; else ValueError naming the choices."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {list(PROMPT_STYLES)}")
    return style


def sft_system_prompt(style: str = DEFAULT_PROMPT_STYLE) -> str:
    """The SFT system turn of ``style``'s release."""
    return SFT_SYSTEM_PROMPTS[check_style(style)]


def record_options(record: Mapping) -> list[str] | None:
    """The record's options (None when absent); RecordError when they are not a list of strings."""
    options = record.get("options")
    if options is None:
        return None
    if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
        raise RecordError("field 'options' must be a list of strings")
    return list(options)


def question_text(record: Mapping, style: str = DEFAULT_PROMPT_STYLE, *, for_eval: bool = False) -> str:
    """The ``{Question}`` part for a record under ``style`` (training/SFT, or ``for_eval``).

    Options are joined only for ``multiple choice`` records that have them (``options`` absent or
    null: the problem alone, as the options are then inside it; the releases would raise).
    """
    check_style(style)
    problem = record.get("problem")
    if not isinstance(problem, str):
        raise RecordError("missing or non-string field 'problem'")
    if record.get("problem_type") != "multiple choice":
        return problem
    options = record_options(record)  # checked in every style, so a bad record fails the same way
    if options is None or (style == "videorft" and not for_eval):
        return problem
    head = "Options:\n" if style == "video_r1" else "\n"
    return problem + head + "".join(option + "\n" for option in options)


def build_question(record: Mapping, style: str = DEFAULT_PROMPT_STYLE, *, for_eval: bool = False) -> str:
    """The full user text: template with the question, then the type suffix.

    ``style`` is ``"videorft"`` or ``"video_r1"``; ``for_eval`` selects the evaluation construction
    and wording. Raises :class:`RecordError` naming the field for a malformed record.
    """
    problem_type = record.get("problem_type")
    if problem_type not in TYPE_SUFFIX:
        raise RecordError(f"unknown problem_type {problem_type!r} (expected one of {list(PROBLEM_TYPES)})")
    template = EVAL_QUESTION_TEMPLATE if for_eval else QUESTION_TEMPLATE
    return template.format(Question=question_text(record, style, for_eval=for_eval)) + TYPE_SUFFIX[problem_type]


def options_visible(record: Mapping, style: str = DEFAULT_PROMPT_STYLE, *, for_eval: bool = False) -> bool:
    """Whether every option text of a multiple-choice record appears in its prompt under ``style``.

    True for records that are not multiple choice or have no options. With ``videorft`` training the
    options reach the model only when ``problem`` already holds them: this is what ``videorft data
    validate`` warns about. An option counts as visible when its text is in the question, its letter
    label possibly written another way (``"(A) red"`` for ``"A. red"``).

    >>> options_visible({"problem": "Color? A. red B. blue", "problem_type": "multiple choice",
    ...                  "options": ["A. red", "B. blue"]}, "videorft")
    True
    """
    if record.get("problem_type") != "multiple choice":
        return True
    options = record_options(record)
    if not options:
        return True
    question = question_text(record, style, for_eval=for_eval)
    return all(option in question or _labelled(option).search(question) for option in options)


def _labelled(option: str) -> re.Pattern:
    """A pattern for ``option``'s body behind its letter written any common way (``A.``, ``(A)``, ``A:``).

    The letter matters: "left" alone in the question does not tell the model which letter to answer.
    """
    label, sep, body = option.partition(". ")
    letter = label.strip("()")
    if not (sep and len(letter) == 1 and letter.isalpha() and body):
        return re.compile(re.escape(option))
    return re.compile(rf"(?<![A-Za-z0-9])\(?{letter}\)?\s*[.:)]?\s*{re.escape(body)}")
