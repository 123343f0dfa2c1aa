"""The CoT pipeline's prompts (the project's own wording), versioned as one unit.

``VERSION`` is written into every stage row, so a dataset says which prompts made it; change it
whenever any text below changes. The README shows these texts.

Each builder returns chat messages as ``[{"role": ..., "content": str}]``; the engine puts the
frames (video item, or one image per frame for HTTP) in front of the first user turn's text.

    >>> VERSION
    'cot-prompts-v1'
    >>> reason_messages({"problem": "Which colour moves left?", "problem_type": "multiple choice",
    ...                  "options": ["A. red", "B. blue"]}, {"scene": "grey"})[1]["content"][:40]
    'Video description (JSON):\\n{\\n  "scene": "'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

VERSION = "cot-prompts-v1"

DESCRIBE_SYSTEM = (
    "You are a meticulous video annotator. You describe only what is visible in the frames, "
    "never guess beyond them, and answer with one JSON object and nothing else."
)

DESCRIBE_USER = (
    "The frames above were sampled from one clip at {fps:g} frame(s) per second; their timestamps in "
    "seconds are: {timestamps}.\n"
    "Write a structured description of the clip as one JSON object with exactly these keys:\n"
    '- "scene": one or two sentences on the setting (place, background, lighting, camera);\n'
    '- "objects": a list of {{"name": str, "attributes": [str, ...]}} for every salient person, animal '
    "or thing (colour, shape, size, position, clothing, state);\n"
    '- "events": a list of {{"start": seconds, "end": seconds, "description": str}} in time order, '
    "covering every action, motion and change of state, with times taken from the timestamps above;\n"
    '- "text": a list of strings, every piece of on-screen text exactly as written (empty list if none).\n'
    "Do not answer any question. Output the JSON object only, without markdown fences."
)

REASON_SYSTEM = (
    "You are a careful reasoner. You cannot see the video; you only have a structured description "
    "of it, written by an annotator who watched it. Think like a person working the problem out."
)

# The five parts of the cognitive chain of thought (paper: question parsing, evidence, hypotheses,
# verification and reflection, conclusion), each named so a reader of the data can find them.
REASON_USER = (
    "Video description (JSON):\n{description}\n\n"
    "Question ({problem_type}):\n{question}\n\n"
    "Reason in five parts, in this order, in natural first-person language ('let me think', 'hmm', "
    "'wait', 'oh, I see'), and speak about the video as if you had watched it (never mention a "
    "description, an annotator or JSON):\n"
    "1. Parse the question: what is asked and what kind of answer is needed.\n"
    "2. Gather evidence: the objects, events, times and on-screen text that bear on it.\n"
    "3. Form hypotheses: the candidate answers and what each would require.\n"
    "4. Verify and reflect: check each hypothesis against the evidence, notice mistakes, reconsider.\n"
    "5. Conclude: state the answer the evidence supports.\n"
    "Write the reasoning between <think> and </think>, then the final answer between <answer> and "
    "</answer>.{answer_hint}"
)

ANSWER_HINTS = {
    "multiple choice": " The answer is only the option letter (e.g. A).",
    "numerical": " The answer is only the number (e.g. 42 or 3.14).",
    "regression": " The answer is only the number (e.g. 42 or 3.14).",
    "OCR": " The answer is the text exactly as it appears.",
    "free-form": " The answer is a short sentence.",
}

REVISE_SYSTEM = (
    "You are a video reasoning reviewer. You see the frames of the clip and a chain of thought "
    "written by someone who did not see them."
)

REVISE_USER = (
    "Question ({problem_type}):\n{question}\n\n"
    "Chain of thought written without seeing the video:\n{chain}\n\n"
    "Check every statement about the video against the frames above (timestamps in seconds: "
    "{timestamps}). Correct each statement the frames contradict and every conclusion that depends "
    "on it, and keep everything the frames support. Keep the same five-part structure, the "
    "first-person thinking style and about the same length; do not mention this review, a "
    "description or frames being shown. Output the revised reasoning between <think> and </think>, "
    "then the final answer between <answer> and </answer>.{answer_hint}"
)

RETRY_JSON = (
    "That was not a valid description: {error}. Answer again with the JSON object only, with the "
    'keys "scene", "objects", "events" and "text".'
)

RETRY_CHAIN = (
    "That reply had no final answer between <answer> and </answer>. Write the whole reply again: "
    "the reasoning between <think> and </think>, then <answer>...</answer>."
)


def question_with_options(record: Mapping) -> str:
    """The problem, then its options one per line (options are always shown to the CoT models).

    >>> question_with_options({"problem": "Colour?", "options": ["A. red", "B. blue"]})
    'Colour?\\nOptions:\\nA. red\\nB. blue'
    """
    problem = str(record.get("problem", "")).strip()
    options = record.get("options") or []
    if isinstance(options, Sequence) and not isinstance(options, str) and options:
        return problem + "\nOptions:\n" + "\n".join(str(o) for o in options)
    return problem


def format_timestamps(timestamps: Sequence[float]) -> str:
    """``"0.0, 1.0, 2.0"``: one decimal, as the models read them.

    >>> format_timestamps([0, 1.04, 2.5])
    '0.0, 1.0, 2.5'
    """
    return ", ".join(f"{t:.1f}" for t in timestamps)


def describe_messages(timestamps: Sequence[float], fps: float) -> list[dict]:
    """System + user turn of the describe stage (the frames go in front of the user text)."""
    user = DESCRIBE_USER.format(fps=fps, timestamps=format_timestamps(timestamps))
    return [{"role": "system", "content": DESCRIBE_SYSTEM}, {"role": "user", "content": user}]


def reason_messages(record: Mapping, description: Mapping) -> list[dict]:
    """System + user turn of the text-only reason stage."""
    ptype = str(record.get("problem_type", ""))
    user = REASON_USER.format(description=json.dumps(description, indent=2, ensure_ascii=False),
                              problem_type=ptype, question=question_with_options(record),
                              answer_hint=ANSWER_HINTS.get(ptype, ""))
    return [{"role": "system", "content": REASON_SYSTEM}, {"role": "user", "content": user}]


def revise_messages(record: Mapping, chain: str, timestamps: Sequence[float]) -> list[dict]:
    """System + user turn of the revise stage (the frames go in front of the user text)."""
    ptype = str(record.get("problem_type", ""))
    user = REVISE_USER.format(problem_type=ptype, question=question_with_options(record), chain=chain,
                              timestamps=format_timestamps(timestamps), answer_hint=ANSWER_HINTS.get(ptype, ""))
    return [{"role": "system", "content": REVISE_SYSTEM}, {"role": "user", "content": user}]


def retry_messages(messages: list[dict], reply: str, feedback: str) -> list[dict]:
    """The conversation so far plus the invalid reply and a request to fix it."""
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": feedback}]
