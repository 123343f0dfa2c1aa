"""What the models must return: the description's JSON schema and the chain's tags.

    >>> parse_description('```json\\n{"scene": "a grey room", "objects": [], "events": [], "text": []}\\n```')
    {'scene': 'a grey room', 'objects': [], 'events': [], 'text': []}
    >>> parse_description('{"scene": "x"}')
    Traceback (most recent call last):
    ...
    verl_videorft.cot.schema.OutputError: 'objects' is a required property
    >>> parse_chain("Hmm, two. <answer>2</answer>").process
    '<think>Hmm, two.</think>'
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from verl_videorft.rewards.text import extract_answer

DESCRIPTION_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "VideoRFT CoT clip description",
    "type": "object",
    "required": ["scene", "objects", "events", "text"],
    "additionalProperties": False,
    "properties": {
        "scene": {"type": "string", "minLength": 1},
        "objects": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "attributes"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "minLength": 1},
                               "attributes": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "end", "description"],
                "additionalProperties": False,
                "properties": {"start": {"type": "number", "minimum": 0},
                               "end": {"type": "number", "minimum": 0},
                               "description": {"type": "string", "minLength": 1}},
            },
        },
        "text": {"type": "array", "items": {"type": "string"}},
    },
}


class OutputError(ValueError):
    """A model's reply does not have the required form; the message says what is wrong."""


_VALIDATOR = None


def _validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        from jsonschema import Draft202012Validator

        _VALIDATOR = Draft202012Validator(DESCRIPTION_SCHEMA)
    return _VALIDATOR


def json_object_text(text: str) -> str:
    """The outermost ``{...}`` of a reply (models wrap JSON in fences or prose); "" when none."""
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else ""


def parse_description(text: str) -> dict:
    """The reply's JSON object, validated against :data:`DESCRIPTION_SCHEMA`; raises :class:`OutputError`.

    Event times must also be ordered (``start <= end``).
    """
    body = json_object_text(text if isinstance(text, str) else "")
    if not body:
        raise OutputError("no JSON object in the reply")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as err:
        raise OutputError(f"invalid JSON ({err.msg} at char {err.pos})") from None
    errors = sorted(_validator().iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path)
        raise OutputError(f"{where + ': ' if where else ''}{err.message}"[:300])
    for i, event in enumerate(value["events"]):
        if event["start"] > event["end"]:
            raise OutputError(f"events/{i}: start {event['start']} is after end {event['end']}")
    return value


@dataclass(frozen=True)
class Chain:
    """A chain of thought split into its think body and final answer."""

    think: str
    answer: str

    @property
    def process(self) -> str:
        """The SFT record's ``process`` field."""
        return f"<think>{self.think}</think>"

    @property
    def text(self) -> str:
        """The chain as one completion (what the rewards read)."""
        return f"{self.process}<answer>{self.answer}</answer>"


def parse_chain(text: str) -> Chain:
    """Think body and answer of a reply; raises :class:`OutputError` without a non-empty answer.

    The answer is the project's :func:`~verl_videorft.rewards.text.extract_answer` of the reply
    (the accuracy reward reads it the same way). The think body is what lies between ``<think>``
    and ``</think>``, or, when the model left the tags out, everything before ``<answer>``.
    """
    if not isinstance(text, str):
        raise OutputError("reply is not text")
    answer = extract_answer(text)
    if not answer:
        raise OutputError("no <answer>...</answer> in the reply")
    start, end = text.find("<think>"), text.find("</think>")
    if 0 <= start < end:
        think = text[start + len("<think>"):end]
    else:
        think = text[:text.find("<answer>")].replace("<think>", "").replace("</think>", "")
    think = think.strip()
    if not think:
        raise OutputError("empty reasoning before the answer")
    return Chain(think, answer)
