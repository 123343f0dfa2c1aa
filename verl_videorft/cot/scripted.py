"""A scripted engine that writes well-formed replies, for tests and benchmarks of everything
around the models (tiny random models only write garbage, which exercises the failure paths).

It answers each question with the record's own solution (found by the problem text in the
prompt), except for ``wrong`` problem ids, and returns ``invalid_first`` invalid descriptions
before valid ones. No model is involved: it never stands in for an engine in a claim about engines.

    >>> eng = ScriptedEngine([{"problem_id": "a", "problem": "How many?", "solution": "<answer>3</answer>"}])
    >>> from verl_videorft.cot.requests import Request
    >>> from verl_videorft.cot.settings import GenSettings
    >>> eng.generate([Request([{"role": "user", "content": "Question (numerical):\\nHow many?"}],
    ...                       GenSettings())])[0].text[-18:]
    '<answer>3</answer>'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from verl_videorft.cot.requests import Reply, Request
from verl_videorft.rewards.text import extract_answer

DESCRIPTION = {"scene": "A plain grey background seen by a still camera.",
               "objects": [{"name": "shape", "attributes": ["coloured", "moving"]}],
               "events": [{"start": 0.0, "end": 1.0, "description": "a shape moves across the frame"}],
               "text": []}

THINK = ("Let me think about what the question asks. Hmm, I need to look at the shapes and how they move. "
         "First I gather what I saw: the coloured shapes and their motion over the clip. Wait, let me "
         "check each candidate answer against that. Oh, I see, only one answer fits what happens.")


class ScriptedEngine:
    name = "scripted"

    def __init__(self, records: Iterable[dict], *, wrong: Iterable[str] = (), invalid_first: int = 0):
        self.answers = {str(r["problem"]): (str(r["problem_id"]), extract_answer(str(r.get("solution", ""))))
                        for r in records}
        self.wrong = set(wrong)
        self.invalid_left = invalid_first
        self.calls = 0

    def _answer(self, text: str) -> str:
        for problem, (pid, answer) in self.answers.items():
            if problem and problem in text:
                return "WRONG" if pid in self.wrong else answer
        return "A"

    def reply(self, req: Request) -> Reply:
        user = next(m["content"] for m in req.messages if m["role"] == "user")
        if "JSON object" in user:
            bad = self.invalid_left > 0  # engines are called from one thread at a time
            self.invalid_left -= bad
            return Reply("Sure! Here is the description: {scene: grey" if bad else json.dumps(DESCRIPTION), 50, 20)
        return Reply(f"<think>{THINK}</think><answer>{self._answer(user)}</answer>", 80, 60)

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.calls += len(requests)
        return [self.reply(r) for r in requests]
