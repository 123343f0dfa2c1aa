"""Prompt styles: the released strings, character by character, on records shaped like the real files.

Records follow Video-R1's six eval JSONs (``eval_vsibench.json`` ... ``eval_videomme.json``: keys
``problem_id``, ``problem``, ``data_type``, ``problem_type``, ``options``, ``solution``, ``path``,
``data_source``; MVBench's TVQA records are ``data_type: "frame"`` folders with ``fps``, ``start``,
``end``). Expected strings are written out here from the releases' constructions, not taken from
the module:

- VideoRFT training / SFT: ``problem`` alone; VideoRFT eval: ``problem + "\\n" + "".join(o + "\\n")``.
- Video-R1 (training, SFT and eval): ``problem + "Options:\\n" + "".join(o + "\\n")``.
- Options only for multiple choice; the eval template says "<think> and </think>", "<answer> and </answer>".
"""

from __future__ import annotations

import json

import pytest

from verl_videorft.prompts import (
    RecordError,
    build_question,
    check_style,
    options_visible,
    question_text,
    sft_system_prompt,
)

HEAD = ("\nPlease think about this question as if you were a human pondering deeply. Engage in an internal "
        "dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', "
        "etc, or other natural language thought expressions It's encouraged to include self-reflection or "
        "verification in the reasoning process. ")
TRAIN = HEAD + ("Provide your detailed reasoning between the <think> </think> tags, and then give your final "
                "answer between the <answer> </answer> tags.")
EVAL = HEAD + ("Provide your detailed reasoning between the <think> and </think> tags, and then give your final "
               "answer between the <answer> and </answer> tags.")
MC = " Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."
NUM = " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags."
OCR = (" Please transcribe text from the image/video clearly and provide your text answer "
       "within the <answer> </answer> tags.")
FREE = " Please provide your text answer within the <answer> </answer> tags."

VSI_MC = {"problem_id": 1, "problem": "These are frames of a video.\nIf I am standing by the stove and facing the "
          "tv, is the sofa to my left, right, or back?", "data_type": "video", "problem_type": "multiple choice",
          "options": ["A. left", "B. right", "C. back"], "solution": "<answer>B</answer>",
          "path": "./Evaluation/VSI-Bench/scannet/scene0011_00.mp4", "data_source": "VSI-Bench"}
VSI_REG = {"problem_id": 2, "problem": "These are frames of a video.\nWhat is the length of the longest dimension "
           "(length, width, or height) of the bed, measured in centimeters?", "data_type": "video",
           "problem_type": "regression", "options": [], "solution": "<answer>203</answer>",
           "path": "./Evaluation/VSI-Bench/arkitscenes/41069025.mp4", "data_source": "VSI-Bench"}
VSI_NUM = {"problem_id": 3, "problem": "How many chair(s) are in this room?", "data_type": "video",
           "problem_type": "numerical", "options": None, "solution": "<answer>4</answer>",
           "path": "./Evaluation/VSI-Bench/scannetpp/0a5c013435.mp4", "data_source": "VSI-Bench"}
MMMU = {"problem_id": 4, "problem": "Based on the lecture, which option is correct?", "data_type": "video",
        "problem_type": "multiple choice", "options": ["A. 12 N", "B. 24 N", "C. 36 N", "D. 48 N", "E. 60 N"],
        "solution": "<answer>C</answer>", "path": "./Evaluation/VideoMMMU/Physics/test_Physics_7.mp4",
        "data_source": "VideoMMMU"}
MMVU = {"problem_id": 5, "problem": "What is the name of the instrument shown in the video?", "data_type": "video",
        "problem_type": "multiple choice", "options": ["A. Oboe", "B. Flute", "C. Clarinet", "D. Bassoon"],
        "solution": "<answer>B</answer>", "path": "./Evaluation/MMVU/videos/Art/0.mp4", "data_source": "MMVU"}
MVB = {"problem_id": 6, "problem": "What is the action performed by the person in the video?", "data_type": "video",
       "problem_type": "multiple choice", "options": ["A. running", "B. jumping", "C. sitting"],
       "solution": "<answer>A</answer>", "path": "./Evaluation/MVBench/video/star/Charades_v1_480/ZS9XR.mp4",
       "data_source": "MVBench"}
MVB_FRAME = {"problem_id": 7, "problem": "What did Sheldon do after he sat down?", "data_type": "frame",
             "problem_type": "multiple choice", "options": ["A. Left.", "B. Ate.", "C. Read."],
             "solution": "<answer>B</answer>", "fps": 3, "start": 12.5, "end": 40.0,
             "path": "./Evaluation/MVBench/video/tvqa/frames_fps3_hq/s03e01_seg02_clip_05", "data_source": "MVBench"}
TEMPC = {"problem_id": 8, "problem": "Which sentence better describes the video?", "data_type": "video",
         "problem_type": "multiple choice", "options": ["A. Slowing down.", "B. Speeding up."],
         "solution": "<answer>A</answer>", "path": "./Evaluation/TempCompass/videos/1007.mp4",
         "data_source": "TempCompass"}
VMME = {"problem_id": 9, "problem": "How many people appear in the video?", "data_type": "video",
        "problem_type": "multiple choice", "options": ["A. 1.", "B. 2.", "C. 3.", "D. 4."],
        "solution": "<answer>B</answer>", "path": "./Evaluation/VideoMME/data/fFjv93ACGo8.mp4",
        "data_source": "VideoMME"}
OCR_REC = {"problem": "What is written on the sign?", "data_type": "image", "problem_type": "OCR",
           "solution": "<answer>STOP</answer>", "path": "./images/sign.png"}
FREE_REC = {"problem": "Describe the motion.", "data_type": "video", "problem_type": "free-form",
            "options": ["A. ignored"], "solution": "<answer>left</answer>", "path": "./v.mp4"}
INLINE = {"problem": "Which colour?\nA. red\nB. blue", "data_type": "video", "problem_type": "multiple choice",
          "options": ["A. red", "B. blue"], "solution": "<answer>A</answer>", "path": "./v.mp4"}

CASES = [
    (VSI_MC, "videorft", False, VSI_MC["problem"] + TRAIN + MC),
    (VSI_MC, "videorft", True, VSI_MC["problem"] + "\n" + "A. left\n" + "B. right\n" + "C. back\n" + EVAL + MC),
    (VSI_MC, "video_r1", False, VSI_MC["problem"] + "Options:\n" + "A. left\nB. right\nC. back\n" + TRAIN + MC),
    (VSI_MC, "video_r1", True, VSI_MC["problem"] + "Options:\n" + "A. left\nB. right\nC. back\n" + EVAL + MC),
    (VSI_REG, "videorft", True, VSI_REG["problem"] + EVAL + NUM),
    (VSI_REG, "video_r1", True, VSI_REG["problem"] + EVAL + NUM),
    (VSI_REG, "video_r1", False, VSI_REG["problem"] + TRAIN + NUM),
    (VSI_NUM, "videorft", True, VSI_NUM["problem"] + EVAL + NUM),
    (VSI_NUM, "video_r1", False, VSI_NUM["problem"] + TRAIN + NUM),
    (MMMU, "videorft", True, MMMU["problem"] + "\nA. 12 N\nB. 24 N\nC. 36 N\nD. 48 N\nE. 60 N\n" + EVAL + MC),
    (MMMU, "video_r1", True, MMMU["problem"] + "Options:\nA. 12 N\nB. 24 N\nC. 36 N\nD. 48 N\nE. 60 N\n" + EVAL + MC),
    (MMVU, "videorft", True, MMVU["problem"] + "\nA. Oboe\nB. Flute\nC. Clarinet\nD. Bassoon\n" + EVAL + MC),
    (MMVU, "video_r1", True, MMVU["problem"] + "Options:\nA. Oboe\nB. Flute\nC. Clarinet\nD. Bassoon\n" + EVAL + MC),
    (MVB, "videorft", True, MVB["problem"] + "\nA. running\nB. jumping\nC. sitting\n" + EVAL + MC),
    (MVB, "video_r1", True, MVB["problem"] + "Options:\nA. running\nB. jumping\nC. sitting\n" + EVAL + MC),
    (MVB_FRAME, "videorft", True, MVB_FRAME["problem"] + "\nA. Left.\nB. Ate.\nC. Read.\n" + EVAL + MC),
    (MVB_FRAME, "video_r1", True, MVB_FRAME["problem"] + "Options:\nA. Left.\nB. Ate.\nC. Read.\n" + EVAL + MC),
    (TEMPC, "videorft", True, TEMPC["problem"] + "\nA. Slowing down.\nB. Speeding up.\n" + EVAL + MC),
    (TEMPC, "video_r1", True, TEMPC["problem"] + "Options:\nA. Slowing down.\nB. Speeding up.\n" + EVAL + MC),
    (VMME, "videorft", True, VMME["problem"] + "\nA. 1.\nB. 2.\nC. 3.\nD. 4.\n" + EVAL + MC),
    (VMME, "video_r1", True, VMME["problem"] + "Options:\nA. 1.\nB. 2.\nC. 3.\nD. 4.\n" + EVAL + MC),
    (VMME, "videorft", False, VMME["problem"] + TRAIN + MC),
    (VMME, "video_r1", False, VMME["problem"] + "Options:\nA. 1.\nB. 2.\nC. 3.\nD. 4.\n" + TRAIN + MC),
    (OCR_REC, "videorft", False, OCR_REC["problem"] + TRAIN + OCR),
    (OCR_REC, "video_r1", True, OCR_REC["problem"] + EVAL + OCR),
    (FREE_REC, "video_r1", False, FREE_REC["problem"] + TRAIN + FREE),   # options only for multiple choice
    (FREE_REC, "videorft", True, FREE_REC["problem"] + EVAL + FREE),
    (INLINE, "videorft", False, "Which colour?\nA. red\nB. blue" + TRAIN + MC),
    ({**VSI_MC, "options": None}, "video_r1", True, VSI_MC["problem"] + EVAL + MC),  # options inside problem
    ({**VSI_MC, "options": []}, "video_r1", False, VSI_MC["problem"] + "Options:\n" + TRAIN + MC),
    ({**VSI_MC, "options": []}, "videorft", True, VSI_MC["problem"] + "\n" + EVAL + MC),
]


@pytest.mark.parametrize("record, style, for_eval, expected", CASES)
def test_build_question_is_the_released_string(record, style, for_eval, expected):
    assert build_question(record, style, for_eval=for_eval) == expected


@pytest.mark.parametrize("record, style, for_eval, expected", [
    (VSI_MC, "videorft", False, False),
    (VSI_MC, "videorft", True, True),
    (VSI_MC, "video_r1", False, True),
    (VMME, "videorft", False, False),
    (INLINE, "videorft", False, True),
    ({**INLINE, "problem": "Which colour?\n(A) red\n(B) blue"}, "videorft", False, True),   # label written differently
    ({**INLINE, "problem": "Which colour?\nA. red"}, "videorft", False, False),             # one option missing
    (VSI_REG, "videorft", False, True),
    (FREE_REC, "videorft", False, True),
    ({**VSI_MC, "options": None}, "videorft", False, True),
])
def test_options_visible(record, style, for_eval, expected):
    assert options_visible(record, style, for_eval=for_eval) is expected


@pytest.mark.parametrize("record, message", [
    ({"problem_type": "numerical"}, "'problem'"),
    ({"problem": 3, "problem_type": "numerical"}, "'problem'"),
    ({"problem": "q", "problem_type": "Multiple Choice"}, "problem_type"),
    ({"problem": "q", "problem_type": "multiple choice", "options": "A. x"}, "'options'"),
    ({"problem": "q", "problem_type": "multiple choice", "options": ["A. x", 2]}, "'options'"),
])
def test_malformed_records_name_the_field(record, message):
    with pytest.raises(RecordError, match=message):
        build_question(record, "video_r1")


@pytest.mark.parametrize("style", ["paper", "released", "VideoRFT", ""])
def test_unknown_style_is_refused(style):
    with pytest.raises(ValueError, match="unknown prompt style"):
        check_style(style)


def test_default_style_is_videorft_training():
    assert question_text(VSI_MC) == VSI_MC["problem"]


@pytest.mark.parametrize("style, expected", [
    ("videorft", "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
                 "The assistant first thinks about the reasoning process in the mind and then provides the user with "
                 "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
                 "</answer> tags, respectively, i.e., <think> reasoning process here </think><answer> answer here "
                 "</answer>"),
    ("video_r1", "You are a helpful assistant"),
])
def test_sft_system_prompt(style, expected):
    assert sft_system_prompt(style) == expected


# `videorft data validate`: a warning, naming file:line, for each multiple-choice record whose options
# the chosen style's prompt does not show.
def _record_file(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"x")
    records = [VSI_MC, INLINE, VSI_REG, {**VMME, "options": ["A. 1.", "B. 2."]}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({**r, "path": "./v.mp4"}) + "\n" for r in records))
    return path


@pytest.mark.parametrize("style, lines", [
    ("videorft", [1, 4]),      # VSI_MC and VMME hold their options outside the problem
    ("video_r1", []),
])
def test_validate_warns_for_hidden_options(tmp_path, style, lines):
    from verl_videorft.data.validate import validate_files

    path = _record_file(tmp_path)
    report = validate_files([str(path)], {}, decode=False, prompt_style=style)
    assert [w["where"] for w in report.warnings] == [f"{path}:{n}" for n in lines]


def test_validate_cli_prints_the_warning_and_still_passes(tmp_path, capsys):
    from verl_videorft.cli import main

    path = _record_file(tmp_path)
    code = main(["data", "validate", str(path), "--no-decode", "--quiet"])
    assert (code, f"{path}:1: warning: options not in the prompt" in capsys.readouterr().err) == (0, True)
