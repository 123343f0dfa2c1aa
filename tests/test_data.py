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
from verl_videorft.data import vision as V
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


@pytest.fixture()
def mixed_ds(mixed):
    return _ds(str(mixed[0]))


def _media(path) -> str:
    return os.path.join(os.path.dirname(path), "LLaVA-Video-178K", "x.mp4")


def test_dataset_length_is_the_record_count(mixed_ds):
    assert len(mixed_ds) == 3


def test_prompt_is_one_user_turn_vision_then_question(mixed_ds, mixed):
    row = mixed_ds[0]
    assert [m["role"] for m in row["raw_prompt"]] == ["user"]  # RL: no system prompt
    content = row["raw_prompt"][0]["content"]
    assert content[0]["type"] == "video" and content[1] == {"type": "text", "text": build_question(mixed[1][0])}


def test_video_item_holds_the_absolute_path_and_frame_count(mixed_ds, mixed):
    item = mixed_ds[0]["raw_prompt"][0]["content"][0]
    assert (item["video"], item["nframes"]) == (_media(mixed[0]), 16)


def test_image_item_holds_the_image(mixed_ds):
    img = mixed_ds[1]["raw_prompt"][0]["content"][0]
    assert img["type"] == "image" and img["image"].endswith("img.png")


def test_verl_fields(mixed_ds):
    row = mixed_ds[0]
    assert (row["reward_model"], row["data_source"], row["tools_kwargs"]) == \
        ({"style": "rule", "ground_truth": "<answer>3</answer>"}, "LLaVA", {})
    assert isinstance(row["dummy_tensor"], torch.Tensor)  # verl's DataProto needs one tensor


def test_extra_info_fields(mixed_ds, mixed):
    row = mixed_ds[0]
    info = row["extra_info"]
    expected = {"problem_type": "numerical", "problem_id": 7, "data_type": "video", "media_path": _media(mixed[0]),
                "frame_profile": PROFILES["train"].to_dict(), "index": 0}
    assert {k: info[k] for k in expected} == expected and row["index"] == 0
    assert os.path.isabs(info["media_path"])


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


def test_media_root_replaces_the_file_folder(mixed, tmp_path):
    path, _ = mixed
    other = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "LLaVA-Video-178K", other / "LLaVA-Video-178K")
    ds = _ds(str(path), media_root=str(other))
    assert ds[0]["extra_info"]["media_path"] == str(other / "LLaVA-Video-178K" / "x.mp4")


def test_frame_profile_based_on_another(mixed):
    ds = _ds(str(mixed[0]), frame_profile={"base": "eval", "nframes": 8})
    profile = ds[0]["extra_info"]["frame_profile"]
    assert (profile["nframes"], profile["max_pixels"]) == (8, PROFILES["eval"].max_pixels)


def test_validation_files_get_the_val_frame_profile(mixed):
    path = str(mixed[0])
    val = D.VideoRFTDataset(data_files=path, tokenizer=None, processor=None, config=OmegaConf.create(
        {"val_files": path, "videorft": {"val_frame_profile": "eval"}}))
    assert val[0]["extra_info"]["frame_profile"] == PROFILES["eval"].to_dict()


@pytest.fixture()
def four_of_two_files(mixed):
    """max_samples=4 over the same 3-record file given twice."""
    path = str(mixed[0])
    return D.VideoRFTDataset(data_files=[path, path], tokenizer=None, processor=None,
                             config=OmegaConf.create({}), max_samples=4)


def test_max_samples_spans_files(four_of_two_files):
    info = four_of_two_files[3]["extra_info"]
    assert (len(four_of_two_files), info["index"], info["problem_id"]) == (4, 3, 7)  # record 0 of file 2


def test_split_gives_contiguous_shards(four_of_two_files):
    a, b = four_of_two_files.split(2)
    assert (len(a), len(b), b[0]["index"]) == (2, 2, 2)


def test_dataset_survives_pickling(four_of_two_files):
    assert pickle.loads(pickle.dumps(four_of_two_files))[1]["extra_info"]["problem_id"] == 8


GOOD = {"problem": "Q", "problem_type": "free-form", "solution": "<answer>it moves left</answer>", "path": "ok.mp4"}


@pytest.fixture()
def media(tmp_path):
    """A non-empty ``ok.mp4`` and an empty ``empty.mp4`` (the dataset only stats media)."""
    (tmp_path / "ok.mp4").write_bytes(b"\x00" * 64)
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path


BAD_RECORDS = [
    ("{broken json", "bad_record", r"t\.jsonl:1: "),
    ({**GOOD, "problem_type": "Multiple Choice"}, "bad_record", r"t\.jsonl:1: unknown problem_type 'Multiple Choice'"),
    ({k: v for k, v in GOOD.items() if k != "solution"}, "bad_record", r"t\.jsonl:1: missing field 'solution'"),
    ({**GOOD, "path": "missing.mp4"}, "missing_media", r"t\.jsonl:1: media file not found: .*missing\.mp4"),
    ({**GOOD, "path": "empty.mp4"}, "corrupt_media", r"t\.jsonl:1: .*empty\.mp4"),
    ({**GOOD, "solution": "x"}, "untagged_solution", r"t\.jsonl:1: solution 'x' has no <answer>"),
]


@pytest.mark.parametrize("bad, reason, message", BAD_RECORDS)
def test_bad_record_error_names_file_line_and_cause(media, bad, reason, message):
    with pytest.raises(D.RecordError, match=message):
        _ds(str(_write_jsonl(media / "t.jsonl", [bad, GOOD]))).build_sample(0)


@pytest.mark.parametrize("bad, reason, message", BAD_RECORDS)
def test_bad_record_is_replaced_by_a_sample_carrying_the_reason(media, bad, reason, message):
    ds = _ds(str(_write_jsonl(media / "t.jsonl", [bad, GOOD])))
    info = ds[0]["extra_info"]
    assert info["source"].endswith("t.jsonl:2")
    assert info[SKIPPED_KEY] == {reason: 1}  # what the step metrics add up, once per prompt
    assert ds[1]["extra_info"][SKIPPED_KEY] == {}


@pytest.mark.parametrize("bad, reason, message", BAD_RECORDS)
def test_bad_record_is_counted_in_the_process(media, bad, reason, message):
    ds = _ds(str(_write_jsonl(media / "t.jsonl", [bad, GOOD])))
    before = D.BAD_SAMPLES[reason]
    ds[0]
    assert D.BAD_SAMPLES[reason] == before + 1


def _untagged(media, problem_type, solution, options):
    rec = {**GOOD, "problem_type": problem_type, "solution": solution}
    if options is not None:
        rec["options"] = options
    return _ds(str(_write_jsonl(media / "t.jsonl", [rec, GOOD])))


@pytest.mark.parametrize("problem_type, solution, options, ground_truth", [
    ("multiple choice", "A", None, "<answer>A</answer>"),
    ("multiple choice", " B ", ["A. red", "B. blue"], "<answer>B</answer>"),
    ("numerical", "3", None, "<answer>3</answer>"),
    ("regression", "-2.5", None, "<answer>-2.5</answer>"),
    ("numerical", "<answer>3</answer>", None, "<answer>3</answer>"),  # already tagged
])
def test_unambiguous_untagged_solution_is_wrapped(media, problem_type, solution, options, ground_truth):
    assert _untagged(media, problem_type, solution, options)[0]["reward_model"]["ground_truth"] == ground_truth


@pytest.mark.parametrize("problem_type, solution, options", [
    ("multiple choice", "E", ["A. red", "B. blue"]),       # not one of the options
    ("multiple choice", "a", None),                        # not an option letter
    ("multiple choice", "<think>so</think> A", None),      # text around the answer
    ("numerical", "three", None),
    ("numerical", "<answer></answer>", None),              # empty answer extracts to "" too
    ("OCR", "hello", None),                                # free text: which part is the answer?
    ("free-form", "it moves left", None),
])
def test_ambiguous_untagged_solution_is_skipped(media, problem_type, solution, options):
    ds = _untagged(media, problem_type, solution, options)
    with pytest.raises(UntaggedSolutionError, match=r"t\.jsonl:1: solution"):
        ds.build_sample(0)
    assert ds[0]["extra_info"][SKIPPED_KEY] == {"untagged_solution": 1}


ANSWERLESS = "<think>hmm</think>"
UNTAGGED = [
    ("multiple choice", "A", 1.0),
    ("numerical", "3", 0.0),
    ("OCR", "hello", 1.0),
    ("multiple choice", "<answer></answer>", 1.0),
]


@pytest.mark.parametrize("problem_type, solution, released_answerless_score", UNTAGGED)
def test_released_scoring_rewards_an_answerless_completion(problem_type, solution, released_answerless_score):
    """Released behaviour: an untagged solution extracts to "", so for some types "" == "" scores 1.0."""
    from verl_videorft.rewards.text import accuracy_reward

    assert accuracy_reward(ANSWERLESS, solution, problem_type) == released_answerless_score


@pytest.mark.parametrize("problem_type, solution, released_answerless_score", UNTAGGED)
def test_dataset_ground_truth_ranks_the_answer_first(media, problem_type, solution, released_answerless_score):
    """Every ground truth the dataset hands out scores the answerless completion 0 and the right one 1."""
    from verl_videorft.rewards.text import accuracy_reward

    rec = {**GOOD, "problem_type": problem_type, "solution": solution}
    row = _ds(str(_write_jsonl(media / "t.jsonl", [rec, GOOD])))[0]
    truth, ptype = row["reward_model"]["ground_truth"], row["extra_info"]["problem_type"]
    right = f"<answer>{solution}</answer>" if row["extra_info"]["source"].endswith(":1") else truth
    assert (accuracy_reward(ANSWERLESS, truth, ptype), accuracy_reward(right, truth, ptype)) == (0.0, 1.0)


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


@pytest.fixture()
def long_bad_run(media):
    """70 missing videos, then 30 good records."""
    bad = [{**GOOD, "problem_id": f"bad{i}", "path": f"missing{i}.mp4"} for i in range(70)]
    good = [{**GOOD, "problem_id": f"good{i}"} for i in range(30)]
    return _write_jsonl(media / "t.jsonl", bad + good)


def test_long_run_of_bad_records_is_replaced_by_many_different_records(long_bad_run):
    """No failure (no limit on consecutive bad records), and the replacements are spread over the
    good records rather than one sample returned again and again."""
    ds = _ds(str(long_bad_run))
    picked = collections.Counter(ds[i]["extra_info"]["problem_id"] for i in range(70))
    assert set(picked) <= {f"good{i}" for i in range(30)}
    assert len(picked) >= 20 and max(picked.values()) <= 8, picked  # 70 uniform draws of 30: ~27 distinct


def test_replacements_are_the_same_in_every_process(long_bad_run):
    first, again = _ds(str(long_bad_run)), _ds(str(long_bad_run))
    assert [first[i]["extra_info"]["problem_id"] for i in (69, 3, 40)] == \
        [again[i]["extra_info"]["problem_id"] for i in (40, 3, 69)][::-1]  # any order of reads


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


@pytest.fixture()
def fresh_frame_cache(monkeypatch):
    """The hook configures the process-wide cache once; give it back to other tests afterwards."""
    from verl_videorft.video import cache as frame_cache

    monkeypatch.setattr(frame_cache, "_GLOBAL", frame_cache._GLOBAL)
    monkeypatch.setattr(V, "_cache_configured", False)
    return frame_cache


HOOK_CFG = OmegaConf.create({"videorft": {"frame_cache_mb": 64}})


def test_hook_decodes_a_video_through_sample_frames(mixed_ds, fresh_frame_cache):
    images, videos, audios = D.VideoRFTDataset._process_multi_modal_info(mixed_ds[0]["raw_prompt"], 14, HOOK_CFG)
    assert images is None and audios is None and len(videos) == 1
    frames, meta = videos[0]
    assert frames.dtype == torch.uint8 and frames.shape[:2] == (16, 3)
    assert tuple(frames.shape[2:]) == target_size(240, 320, PROFILES["train"])
    assert meta["fps"] == pytest.approx(24.0) and meta["total_num_frames"] == 48
    assert len(meta["frames_indices"]) == 16 and meta["frames_indices"][-1] == 47


def test_hook_applies_the_frame_cache_size(mixed_ds, fresh_frame_cache):
    D.VideoRFTDataset._process_multi_modal_info(mixed_ds[0]["raw_prompt"], 14, HOOK_CFG)
    assert fresh_frame_cache._GLOBAL.max_bytes == 64 * 2**20  # data.videorft.frame_cache_mb


def test_hook_decodes_an_image(mixed_ds, fresh_frame_cache):
    images, videos, _ = D.VideoRFTDataset._process_multi_modal_info(mixed_ds[1]["raw_prompt"], 14, HOOK_CFG)
    assert videos is None and len(images) == 1 and images[0].mode == "RGB"


@pytest.mark.parametrize("pass_fps, grid_time", [
    (False, 1.0),                     # the released training: fps not passed, HF's default 2 fps
    (True, 2 / (16 / 48 * 24)),       # temporal patch 2 over the sampled fps
])
def test_pass_fps_sets_the_grid_time(mixed, tiny_qwen, pass_fps, grid_time):
    """With HF's Qwen2.5-VL processor: second_per_grid_ts, and the frames reach it unchanged."""
    from transformers import AutoProcessor
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    processor = AutoProcessor.from_pretrained(tiny_qwen)
    ds = _ds(str(mixed[0]), frame_profile={"base": "train", "pass_fps": pass_fps})
    messages = ds[0]["raw_prompt"]
    images, videos, _ = D.VideoRFTDataset._process_multi_modal_info(messages, 14, None)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    out = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos)
    t, gh, gw = out["video_grid_thw"][0].tolist()
    assert (t, gh * 14, gw * 14) == (8, *videos[0][0].shape[2:])  # no resampling, no resize
    assert float(out["second_per_grid_ts"][0]) == pytest.approx(grid_time, rel=1e-4)
    assert int((out["input_ids"][0] == processor.video_token_id).sum()) == t * gh * gw // 4


def _corrupted(media_dir, tmp_path):
    return media_dir / "corrupted.mp4"


def _missing(media_dir, tmp_path):
    return tmp_path / "missing.mp4"


def _empty(media_dir, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path / "empty.mp4"


BAD_MEDIA = [_corrupted, _missing, _empty]


def _messages(path) -> list[dict]:
    return [{"role": "user", "content": [V.vision_item("video", str(path), PROFILES["train"]),
                                         {"type": "text", "text": "q"}]}]


@pytest.mark.parametrize("make", BAD_MEDIA)
def test_undecodable_media_gives_an_error_and_a_black_placeholder(media_dir, tmp_path, make):
    bad = make(media_dir, tmp_path)
    before = D.BAD_SAMPLES["decode_error"]
    _, videos, errors = V.load_vision(_messages(bad))
    assert len(errors) == 1 and bad.name in errors[0]
    assert videos[0][0].shape[0] == 16 and int(videos[0][0].max()) == 0
    assert D.BAD_SAMPLES["decode_error"] == before + 1


@pytest.mark.parametrize("make", BAD_MEDIA)
def test_hook_gives_the_placeholder_by_default(media_dir, tmp_path, make):
    messages = _messages(make(media_dir, tmp_path))
    _, videos, _ = D.VideoRFTDataset._process_multi_modal_info(messages, 14, None)  # no exception
    assert videos[0][0].shape[0] == 16 and int(videos[0][0].max()) == 0


@pytest.mark.parametrize("make", BAD_MEDIA)
def test_hook_raises_when_asked(media_dir, tmp_path, make):
    bad = make(media_dir, tmp_path)
    with pytest.raises(D.SampleDecodeError, match=bad.name):
        D.VideoRFTDataset._process_multi_modal_info(
            _messages(bad), 14, OmegaConf.create({"videorft": {"on_decode_error": "raise"}}))


def test_real_clip_loads_without_errors(media_dir):
    _, videos, errors = V.load_vision(_messages(media_dir / "video_r1_example.mp4"))
    assert errors == [] and videos[0][0].shape[0] == 16 and videos[0][1]["fps"] == pytest.approx(22.29, abs=0.01)
