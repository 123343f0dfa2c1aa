"""CoT pipeline pieces: schema, chain parsing, stage files, retries, filter decisions, stats."""

from __future__ import annotations

import json

import pytest

from verl_videorft.cli.cot import per_stage
from verl_videorft.cot import prompts
from verl_videorft.cot.filtering import accuracy_ok, judge
from verl_videorft.cot.frames import cot_profile, timestamps
from verl_videorft.cot.requests import Reply, Request
from verl_videorft.cot.schema import OutputError, parse_chain, parse_description
from verl_videorft.cot.scripted import DESCRIPTION, THINK
from verl_videorft.cot.settings import CotSettings, EngineSpec, FilterSettings, GenSettings
from verl_videorft.cot.stages import call_model, needs
from verl_videorft.cot.stats import compute_stats, disposition
from verl_videorft.cot.store import StageFile

VALID = json.dumps(DESCRIPTION)


def test_valid_description_parses():
    assert parse_description(VALID) == DESCRIPTION


def test_description_inside_prose_and_fences_parses():
    assert parse_description(f"Here it is:\n```json\n{VALID}\n```\nDone.") == DESCRIPTION


@pytest.mark.parametrize("text, message", [
    ("no json here", "no JSON object"),
    ('{"scene": "x", "objects": [], "events": [], "text": [],}', "invalid JSON"),
    ('{"scene": "x", "objects": [], "events": []}', "'text' is a required property"),
    ('{"scene": "", "objects": [], "events": [], "text": []}', "scene"),
    ('{"scene": "x", "objects": [{"name": "a"}], "events": [], "text": []}', "objects/0"),
    ('{"scene": "x", "objects": [], "events": [{"start": "0", "end": 1, "description": "d"}], "text": []}',
     "events/0/start"),
    ('{"scene": "x", "objects": [], "events": [{"start": 3, "end": 1, "description": "d"}], "text": []}',
     "after end"),
    ('{"scene": "x", "objects": [], "events": [], "text": [], "extra": 1}', "extra"),
])
def test_invalid_description_is_rejected_with_cause(text, message):
    with pytest.raises(OutputError, match=message):
        parse_description(text)


@pytest.mark.parametrize("text, think, answer", [
    ("<think> a b </think><answer>B</answer>", "a b", "B"),
    ("Hmm, two. <answer> 2 </answer>", "Hmm, two.", "2"),
    ("<think>x</think>\n<answer>CAT</answer> trailing", "x", "CAT"),
])
def test_chain_splits_into_think_and_answer(text, think, answer):
    chain = parse_chain(text)
    assert (chain.think, chain.answer) == (think, answer)
    assert chain.process == f"<think>{think}</think>"


@pytest.mark.parametrize("text", ["<think>x</think>", "<think>x</think><answer> </answer>",
                                  "<answer>B</answer>"])
def test_chain_without_answer_or_reasoning_is_rejected(text):
    with pytest.raises(OutputError):
        parse_chain(text)


def test_prompts_show_question_options_and_five_parts():
    msgs = prompts.reason_messages({"problem": "Which colour?", "problem_type": "multiple choice",
                                    "options": ["A. red", "B. blue"]}, DESCRIPTION)
    user = msgs[1]["content"]
    assert "Which colour?\nOptions:\nA. red\nB. blue" in user
    assert all(f"{i}. " in user for i in range(1, 6)) and "<answer>" in user
    assert '"scene": "A plain grey background' in user


def test_stage_file_skips_torn_line_and_keeps_last_row(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"problem_id": "a", "v": 1}\n{"problem_id": "a", "v": 2}\n{"problem_id": "b", "v"')
    with StageFile(path) as f:
        f.append([{"problem_id": "c", "v": 3}])
    rows = StageFile(path).rows()
    assert {k: r["v"] for k, r in rows.items()} == {"a": 2, "c": 3}
    assert path.read_text().splitlines()[-1] == '{"problem_id": "c", "v": 3}'


class Sequenced:
    """Replies in the order given, one per request."""

    name = "seq"

    def __init__(self, texts):
        self.texts = list(texts)
        self.seen: list[Request] = []

    def generate(self, requests):
        self.seen.extend(requests)
        return [Reply(self.texts.pop(0), 3, 2) if not self.texts[0].startswith("ERR")
                else Reply("", error=self.texts.pop(0)) for _ in requests]


def _req():
    return Request([{"role": "user", "content": "describe"}], GenSettings())


def test_invalid_reply_is_retried_with_feedback_then_accepted():
    eng = Sequenced(["not json", VALID])
    (res,) = call_model(eng, [_req()], parse_description, lambda e: f"fix: {e}", max_attempts=3)
    assert res["value"] == DESCRIPTION and res["attempts"] == 2 and res["tokens_out"] == 4
    retry = eng.seen[1]
    assert retry.retry and retry.messages[-2] == {"role": "assistant", "content": "not json"}
    assert retry.messages[-1]["content"].startswith("fix: no JSON object")


def test_reply_invalid_every_time_fails_after_max_attempts():
    eng = Sequenced(["bad"] * 3)
    (res,) = call_model(eng, [_req()], parse_description, str, max_attempts=3)
    assert res["value"] is None and res["kind"] == "invalid" and res["attempts"] == 3


def test_engine_error_is_not_retried():
    eng = Sequenced(["ERR HTTP 500", VALID])
    (res,) = call_model(eng, [_req()], parse_description, str, max_attempts=3)
    assert res["kind"] == "engine" and res["attempts"] == 1 and res["error"] == "ERR HTTP 500"


def test_retry_samples_even_when_first_attempt_is_greedy():
    req = Request([], GenSettings(temperature=0.0, retry_temperature=0.7), retry=True)
    assert req.temperature() == 0.7 and _req().temperature() == 0.2


@pytest.mark.parametrize("duration, fps, cap, n", [
    (10.0, 1.0, 64, 10),
    (9.4, 1.0, 64, 10),
    (100.0, 1.0, 64, 64),
    (100.0, 1.0, 33, 32),
    (3.0, 2.0, 64, 6),
    (0.0, 1.0, 64, 2),
])
def test_frame_count_follows_fps_within_limits(duration, fps, cap, n):
    assert cot_profile(duration, CotSettings(fps=fps, max_frames=cap)).nframes == n


def test_timestamps_are_source_frame_times():
    assert timestamps({"fps": 8.0, "frame_indices": [0, 8, 16], "backend": "decord"}) == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("acc, ptype, ok", [
    (1.0, "multiple choice", True),
    (0.0, "multiple choice", False),
    (0.99, "numerical", False),
    (1.0, "regression", True),
    (0.5, "OCR", True),
    (0.49, "free-form", False),
])
def test_accuracy_threshold_by_problem_type(acc, ptype, ok):
    assert accuracy_ok(acc, ptype, FilterSettings(min_text_accuracy=0.5)) is ok


class NoSemantic:
    def score(self, chain, frames):
        raise AssertionError("semantic check must not run when a cheaper check already failed")


def _item(answer, solution="<answer>B</answer>", think=THINK, ptype="multiple choice"):
    return {"record": {"solution": solution, "problem_type": ptype},
            "rows": {"revise": {"chain": f"<think>{think}</think><answer>{answer}</answer>"}}}


@pytest.mark.parametrize("item, reason", [
    (_item("A"), "wrong_answer"),
    (_item("B", think="too short"), "too_short"),
    (_item("B", think="word " * 800), "too_long"),
])
def test_filter_drops_for_first_failed_check(item, reason):
    assert judge(item, FilterSettings(), NoSemantic())["reason"] == reason


class FixedSemantic:
    def __init__(self, value):
        self.value = value

    def score(self, chain, frames):
        return self.value


@pytest.mark.parametrize("value, reason", [(0.05, "low_semantic"), (0.1, None), (0.9, None)])
def test_filter_semantic_threshold(value, reason):
    item = {**_item("B"), "frames": object()}
    assert judge(item, FilterSettings(min_semantic=0.1), FixedSemantic(value))["reason"] == reason


def test_exact_regression_answer_is_kept():
    item = _item("12.5", solution="<answer>12.5</answer>", ptype="regression")
    assert judge({**item, "frames": 0}, FilterSettings(), FixedSemantic(1.0))["reason"] is None


def _rows(*statuses):
    names = ("describe", "reason", "revise", "filter")
    return {n: {"status": s, "reason": r, "tokens_in": 1, "tokens_out": 1, "seconds": 0.5, "decodes": 1}
            for n, (s, r) in zip(names, statuses)}


@pytest.mark.parametrize("rows, fate", [
    (_rows(("ok", None), ("ok", None), ("ok", None), ("kept", None)), "kept"),
    (_rows(("ok", None), ("ok", None), ("ok", None), ("dropped", "low_semantic")), "low_semantic"),
    (_rows(("failed", "describe_failed")), "describe_failed"),
    (_rows(("ok", None), ("failed", "reason_failed")), "reason_failed"),
    (_rows(("ok", None), ("ok", None)), "unfinished"),
    ({}, "unfinished"),
])
def test_each_record_has_one_fate(rows, fate):
    assert disposition({"rows": rows}) == fate


def _stats() -> dict:
    items = [{"media": f"/v{i % 2}.mp4", "rows": rows} for i, rows in enumerate([
        _rows(("ok", None), ("ok", None), ("ok", None), ("kept", None)),
        _rows(("failed", "media_error")),
        _rows(("ok", None), ("failed", "reason_failed")),
        {}])]
    return compute_stats(items)


def test_stats_kept_and_dropped_add_up_to_the_input():
    stats = _stats()
    assert stats["kept"] + sum(stats["dropped"].values()) == stats["input"] == 4


@pytest.mark.parametrize("key, expected", [
    ("stages", {"describe": {"done": 2, "failed": 1, "tokens_in": 3, "tokens_out": 3, "seconds": 1.5}}),
    ("frames", {"videos": 2, "decodes": 5, "max_decodes_per_video": 4}),  # decodes counted per video
])
def test_stats_parts(key, expected):
    got = _stats()[key]
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("values, expected", [
    (["hf"], {"describe": "hf", "reason": "hf", "revise": "hf"}),
    (["reason=openai", "vllm"], {"describe": "vllm", "reason": "openai", "revise": "vllm"}),
    (["describe=x=y"], {"describe": "x=y"}),
])
def test_per_stage_flag_values(values, expected):
    assert per_stage(values, "engine") == expected


@pytest.mark.parametrize("kind, message", [
    ("tgi", "unknown engine"),
    ("openai", "base URL"),  # an HTTP engine needs its server's URL
])
def test_engine_spec_checks_kind_and_url(kind, message):
    with pytest.raises(ValueError, match=message):
        EngineSpec(kind, "m")


@pytest.mark.parametrize("stage, describe_status, expected", [
    ("reason", "failed", False),   # its input failed
    ("describe", "failed", False),  # done (failed is final)
    ("reason", "ok", True),
])
def test_stage_waits_for_its_input(stage, describe_status, expected):
    assert needs(stage, {"rows": {"describe": {"status": describe_status}}}) is expected
