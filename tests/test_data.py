"""VideoRFTDataset: verl sample fields, prompts, media root, mixing, bad samples, the decode hook."""

from __future__ import annotations

import collections
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from verl_videorft.data import dataset as D
from verl_videorft.data.skips import SKIPPED_KEY, UntaggedSolutionError
from verl_videorft.prompts import build_question
from verl_videorft.video import PROFILES, target_size


def _write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.fixture()
def mixed(tmp_path, clip):
    """A JSONL with a video (relative ./ path), an image and a multiple-choice video."""
    from PIL import Image

    (tmp_path / "LLaVA-Video-178K").mkdir()
    shutil.copy(clip, tmp_path / "LLaVA-Video-178K" / "x.mp4")
    Image.fromarray(np.full((60, 80, 3), 200, np.uint8)).save(tmp_path / "img.png")
    recs = [
        {"problem_id": 7, "problem": "How many squares?", "data_type": "video", "problem_type": "numerical",
         "solution": "<answer>3</answer>", "path": "./LLaVA-Video-178K/x.mp4", "data_source": "LLaVA"},
        {"problem_id": 8, "problem": "Text?", "data_type": "image", "problem_type": "OCR",
         "solution": "<answer>hi</answer>", "path": "img.png"},
        {"problem_id": 9, "problem": "Colour?", "data_type": "video", "problem_type": "multiple choice",
         "options": ["A. red", "B. blue"], "solution": "<answer>B</answer>", "path": "LLaVA-Video-178K/x.mp4"},
    ]
    return _write_jsonl(tmp_path / "train.jsonl", recs), recs


def _ds(files, **vcfg):
    return D.VideoRFTDataset(data_files=files, tokenizer=None, processor=None,
                             config=OmegaConf.create({"videorft": vcfg}))


def test_sample_fields_follow_paper_prompt_and_verl_schema(mixed):
    path, recs = mixed
    ds = _ds(str(path))
    assert len(ds) == 3
    row = ds[0]
    assert [m["role"] for m in row["raw_prompt"]] == ["user"]  # RL: no system prompt
    content = row["raw_prompt"][0]["content"]
    assert content[0]["type"] == "video" and content[1] == {"type": "text", "text": build_question(recs[0])}
    media = os.path.join(os.path.dirname(path), "LLaVA-Video-178K", "x.mp4")
    assert content[0]["video"] == media and content[0]["nframes"] == 16
    assert row["reward_model"] == {"style": "rule", "ground_truth": "<answer>3</answer>"}
    assert row["data_source"] == "LLaVA"
    info = row["extra_info"]
    assert info["problem_type"] == "numerical" and info["problem_id"] == 7 and info["data_type"] == "video"
    assert info["media_path"] == media and os.path.isabs(info["media_path"])
    assert info["frame_profile"] == PROFILES["train"].to_dict() and info["index"] == row["index"] == 0
    assert isinstance(row["dummy_tensor"], torch.Tensor) and row["tools_kwargs"] == {}
    img = ds[1]["raw_prompt"][0]["content"][0]
    assert img["type"] == "image" and img["image"].endswith("img.png")
    assert ds[2]["raw_prompt"][0]["content"][1]["text"].startswith("Colour?\nPlease think")  # videorft


@pytest.mark.parametrize("style, expected", [
    ("videorft", "Colour?\nPlease think"),                                  # VideoRFT: problem alone
    ("video_r1", "Colour?Options:\nA. red\nB. blue\n\nPlease think"),       # Video-R1: options appended
])
def test_prompt_style_selects_the_question(mixed, style, expected):
    path, _ = mixed
    assert _ds(str(path), prompt_style=style)[2]["raw_prompt"][0]["content"][1]["text"].startswith(expected)


def test_unknown_prompt_style_is_refused(mixed):
    path, _ = mixed
    with pytest.raises(ValueError, match="prompt_style"):
        _ds(str(path), prompt_style="paper")


def test_media_root_profile_and_max_samples(mixed, tmp_path):
    path, _ = mixed
    other = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "LLaVA-Video-178K", other / "LLaVA-Video-178K")
    ds = _ds(str(path), media_root=str(other), frame_profile={"base": "eval", "nframes": 8}, check_media=False)
    row = ds[0]
    assert row["extra_info"]["media_path"] == str(other / "LLaVA-Video-178K" / "x.mp4")
    assert row["extra_info"]["frame_profile"]["nframes"] == 8
    assert row["extra_info"]["frame_profile"]["max_pixels"] == PROFILES["eval"].max_pixels
    small = D.VideoRFTDataset(data_files=[str(path), str(path)], tokenizer=None, processor=None,
                              config=OmegaConf.create({}), max_samples=4)
    assert len(small) == 4 and small[3]["extra_info"]["index"] == 3
    assert small[3]["extra_info"]["problem_id"] == 7  # record 0 of the second file
    val = D.VideoRFTDataset(data_files=str(path), tokenizer=None, processor=None, config=OmegaConf.create(
        {"val_files": str(path), "videorft": {"val_frame_profile": "eval"}}))
    assert val[0]["extra_info"]["frame_profile"] == PROFILES["eval"].to_dict()
    a, b = small.split(2)
    assert len(a) == len(b) == 2 and b[0]["index"] == 2
    again = pickle.loads(pickle.dumps(small))
    assert again[1]["extra_info"]["problem_id"] == 8


GOOD = {"problem": "Q", "problem_type": "free-form", "solution": "<answer>it moves left</answer>", "path": "ok.mp4"}


@pytest.fixture()
def media(tmp_path):
    """A non-empty ``ok.mp4`` and an empty ``empty.mp4`` (the dataset only stats media)."""
    (tmp_path / "ok.mp4").write_bytes(b"\x00" * 64)
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("bad, reason, message", [
    ("{broken json", "bad_record", r"t\.jsonl:1: "),
    ({**GOOD, "problem_type": "Multiple Choice"}, "bad_record", r"t\.jsonl:1: unknown problem_type 'Multiple Choice'"),
    ({k: v for k, v in GOOD.items() if k != "solution"}, "bad_record", r"t\.jsonl:1: missing field 'solution'"),
    ({**GOOD, "path": "missing.mp4"}, "missing_media", r"t\.jsonl:1: media file not found: .*missing\.mp4"),
    ({**GOOD, "path": "empty.mp4"}, "corrupt_media", r"t\.jsonl:1: .*empty\.mp4"),
    ({**GOOD, "solution": "x"}, "untagged_solution", r"t\.jsonl:1: solution 'x' has no <answer>"),
])
def test_bad_record_is_replaced_and_counted_by_reason(media, bad, reason, message):
    path = _write_jsonl(media / "t.jsonl", [bad, GOOD])
    before = D.BAD_SAMPLES[reason]
    ds = _ds(str(path))
    with pytest.raises(D.RecordError, match=message):
        ds.build_sample(0)
    row = ds[0]
    assert row["extra_info"]["source"].endswith("t.jsonl:2")
    assert row["extra_info"][SKIPPED_KEY] == {reason: 1}  # what the step metrics add up, once per prompt
    assert D.BAD_SAMPLES[reason] == before + 1
    assert ds[1]["extra_info"][SKIPPED_KEY] == {}


@pytest.mark.parametrize("problem_type, solution, options, ground_truth", [
    ("multiple choice", "A", None, "<answer>A</answer>"),
    ("multiple choice", " B ", ["A. red", "B. blue"], "<answer>B</answer>"),
    ("multiple choice", "E", ["A. red", "B. blue"], None),       # not one of the options
    ("multiple choice", "a", None, None),                        # not an option letter
    ("multiple choice", "<think>so</think> A", None, None),      # text around the answer
    ("numerical", "3", None, "<answer>3</answer>"),
    ("regression", "-2.5", None, "<answer>-2.5</answer>"),
    ("numerical", "three", None, None),
    ("numerical", "<answer></answer>", None, None),              # empty answer extracts to "" too
    ("numerical", "<answer>3</answer>", None, "<answer>3</answer>"),
    ("OCR", "hello", None, None),                                # free text: which part is the answer?
    ("free-form", "it moves left", None, None),
])
def test_untagged_solution_is_wrapped_only_when_unambiguous(media, problem_type, solution, options,
                                                            ground_truth):
    rec = {**GOOD, "problem_type": problem_type, "solution": solution}
    if options is not None:
        rec["options"] = options
    ds = _ds(str(_write_jsonl(media / "t.jsonl", [rec, GOOD])))
    if ground_truth is None:
        with pytest.raises(UntaggedSolutionError, match=r"t\.jsonl:1: solution"):
            ds.build_sample(0)
        assert ds[0]["extra_info"][SKIPPED_KEY] == {"untagged_solution": 1}
    else:
        assert ds[0]["reward_model"]["ground_truth"] == ground_truth


@pytest.mark.parametrize("problem_type, solution, released_answerless_score", [
    ("multiple choice", "A", 1.0),
    ("numerical", "3", 0.0),
    ("OCR", "hello", 1.0),
    ("multiple choice", "<answer></answer>", 1.0),
])
def test_no_training_solution_lets_an_answerless_completion_win(media, problem_type, solution,
                                                                released_answerless_score):
    """Released behaviour: an untagged solution extracts to "", so for some types "" == "" scores 1.0
    and the right tagged answer 0.0. Every ground truth the dataset hands out ranks the answer first."""
    from verl_videorft.rewards.text import accuracy_reward

    answerless = "<think>hmm</think>"
    assert accuracy_reward(answerless, solution, problem_type) == released_answerless_score  # the bug
    rec = {**GOOD, "problem_type": problem_type, "solution": solution}
    row = _ds(str(_write_jsonl(media / "t.jsonl", [rec, GOOD])))[0]
    truth, ptype = row["reward_model"]["ground_truth"], row["extra_info"]["problem_type"]
    right = f"<answer>{solution}</answer>" if row["extra_info"]["source"].endswith(":1") else truth
    assert accuracy_reward(answerless, truth, ptype) == 0.0
    assert accuracy_reward(right, truth, ptype) == 1.0


@pytest.mark.parametrize("name, content", [
    ("empty.jsonl", b""),
    ("blank.jsonl", b"\n\n"),
    ("empty.json", b""),
    ("array.json", b"[]"),
    ("array_ws.json", b"  [ ]\n"),
])
def test_record_less_file_fails_at_once_naming_it(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(D.RecordError, match=rf"{name}: no records"):
        _ds(str(tmp_path / name))


def test_long_run_of_bad_records_is_replaced_by_many_different_records(media):
    """70 missing videos, then 30 good records: no failure, and the replacements are spread over the
    good records (before: `64 consecutive bad records`, and one sample returned ~64 times)."""
    bad = [{**GOOD, "problem_id": f"bad{i}", "path": f"missing{i}.mp4"} for i in range(70)]
    good = [{**GOOD, "problem_id": f"good{i}"} for i in range(30)]
    ds = _ds(str(_write_jsonl(media / "t.jsonl", bad + good)))
    picked = collections.Counter(ds[i]["extra_info"]["problem_id"] for i in range(70))
    assert set(picked) <= {g["problem_id"] for g in good}
    assert len(picked) >= 20 and max(picked.values()) <= 8, picked  # 70 uniform draws of 30: ~27 distinct
    again = _ds(str(media / "t.jsonl"))
    assert [again[i]["extra_info"]["problem_id"] for i in (69, 3, 40)] == \
        [ds[i]["extra_info"]["problem_id"] for i in (69, 3, 40)]  # the same replacement in every process


def test_all_records_bad_fails_naming_the_file(media):
    path = _write_jsonl(media / "t.jsonl", [{**GOOD, "path": f"missing{i}.mp4"} for i in range(5)])
    with pytest.raises(RuntimeError, match=r"no usable record in .*t\.jsonl.*all 5 were skipped.*missing_media"):
        _ds(str(path))[2]


def test_shards_keep_their_own_bad_positions(media):
    path = _write_jsonl(media / "t.jsonl", [GOOD, GOOD, {**GOOD, "path": "missing.mp4"}, GOOD])
    ds = _ds(str(path))
    a, b = ds.split(2)
    assert b[0]["extra_info"]["source"].endswith(":4")  # shard b holds lines 3-4; line 3 is bad
    assert a[0]["extra_info"][SKIPPED_KEY] == {} and a[0]["extra_info"]["source"].endswith(":1")


def test_hook_decodes_through_sample_frames(mixed, monkeypatch):
    from verl_videorft.video import cache as frame_cache

    # the hook configures the process-wide cache once; give it back to other tests afterwards
    monkeypatch.setattr(frame_cache, "_GLOBAL", frame_cache._GLOBAL)
    monkeypatch.setattr(D, "_cache_configured", False)
    path, _ = mixed
    ds = _ds(str(path))
    cfg = OmegaConf.create({"videorft": {"frame_cache_mb": 64}})
    images, videos, audios = D.VideoRFTDataset._process_multi_modal_info(ds[0]["raw_prompt"], 14, cfg)
    assert images is None and audios is None and len(videos) == 1
    frames, meta = videos[0]
    assert frames.dtype == torch.uint8 and frames.shape[:2] == (16, 3)
    assert tuple(frames.shape[2:]) == target_size(240, 320, PROFILES["train"])
    assert frames.shape[2] % 28 == 0 and frames.shape[3] % 28 == 0
    assert meta["fps"] == pytest.approx(24.0) and meta["total_num_frames"] == 48
    assert len(meta["frames_indices"]) == 16 and meta["frames_indices"][-1] == 47
    assert frame_cache._GLOBAL.max_bytes == 64 * 2**20  # data.videorft.frame_cache_mb applied
    images, videos, _ = D.VideoRFTDataset._process_multi_modal_info(ds[1]["raw_prompt"], 14, cfg)
    assert videos is None and len(images) == 1 and images[0].mode == "RGB"


def test_pass_fps_false_reproduces_released_training_grid_time(mixed, tiny_qwen):
    """With HF's Qwen2.5-VL processor: pass_fps=False → second_per_grid_ts 1.0; True → 2 / sample fps."""
    from transformers import AutoProcessor
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    processor = AutoProcessor.from_pretrained(tiny_qwen)
    path, _ = mixed
    for pass_fps, expected in ((False, 1.0), (True, 2 / (16 / 48 * 24))):
        ds = _ds(str(path), frame_profile={"base": "train", "pass_fps": pass_fps})
        messages = ds[0]["raw_prompt"]
        images, videos, _ = D.VideoRFTDataset._process_multi_modal_info(messages, 14, None)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        out = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos)
        t, gh, gw = out["video_grid_thw"][0].tolist()
        assert (t, gh * 14, gw * 14) == (8, *videos[0][0].shape[2:])  # no resampling, no resize
        assert float(out["second_per_grid_ts"][0]) == pytest.approx(expected, rel=1e-4)
        n_pad = int((out["input_ids"][0] == processor.video_token_id).sum())
        assert n_pad == t * gh * gw // 4


def test_hook_survives_corrupt_missing_and_empty_media(media_dir, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    before = D.BAD_SAMPLES["decode_error"]
    for bad in (media_dir / "corrupted.mp4", tmp_path / "missing.mp4", tmp_path / "empty.mp4"):
        item = D.vision_item("video", str(bad), PROFILES["train"])
        messages = [{"role": "user", "content": [item, {"type": "text", "text": "q"}]}]
        images, videos, errors = D.load_vision(messages)
        assert len(errors) == 1 and str(bad.name) in errors[0]
        frames, meta = videos[0]
        assert frames.shape[0] == 16 and int(frames.max()) == 0  # black placeholder
        _, vids, _ = D.VideoRFTDataset._process_multi_modal_info(messages, 14, None)  # no exception
        assert vids[0][0].shape == frames.shape
        with pytest.raises(D.SampleDecodeError, match=bad.name):
            D.VideoRFTDataset._process_multi_modal_info(
                messages, 14, OmegaConf.create({"videorft": {"on_decode_error": "raise"}}))
    assert D.BAD_SAMPLES["decode_error"] - before == 9
    ok = D.vision_item("video", str(media_dir / "video_r1_example.mp4"), PROFILES["train"])
    _, videos, errors = D.load_vision([{"role": "user", "content": [ok]}])
    assert errors == [] and videos[0][0].shape[0] == 16 and videos[0][1]["fps"] == pytest.approx(22.29, abs=0.01)
