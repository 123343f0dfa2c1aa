"""SFT data: CoT records → parquet → verl's MultiTurnSFTDataset subclass → 2 real sft_trainer steps on CPU."""

from __future__ import annotations

import json
import os

import pytest
import torch
from omegaconf import OmegaConf

from verl_videorft.data.sft import VideoRFTSFTDataset, sft_messages
from verl_videorft.prompts import SFT_SYSTEM_PROMPT, build_question


@pytest.fixture(scope="module")
def sft_parquet(tmp_path_factory, repo_root):

    out = tmp_path_factory.mktemp("sft")
    make = __import__("verl_videorft.data.demo_set", fromlist=["x"]).make_demo_data
    paths = make(out / "demo", n_train=6, n_val=1, seed=1, frames=12)
    bad = out / "bad.jsonl"
    recs = [json.loads(x) for x in paths["train"].read_text().splitlines()]
    no_cot = {k: v for k, v in recs[0].items() if k != "process"}
    bad.write_text(json.dumps(no_cot) + "\n")
    from verl_videorft.cli.data import main as cli

    assert cli(["data", "sft", str(paths["train"]), str(bad), "-o", str(out / "sft.parquet"), "--quiet",
                "--media-root", str(out / "demo")]) == 0
    return out / "sft.parquet", recs


@pytest.fixture(scope="module")
def sft_rows(sft_parquet):
    import pyarrow.parquet as pq

    path, recs = sft_parquet
    return pq.read_table(path).to_pylist(), recs


def test_convert_sft_skips_the_record_without_process(sft_rows):
    rows, recs = sft_rows
    assert (len(rows), len(recs)) == (6, 6)  # 6 good records + 1 without `process` (skipped)


@pytest.mark.parametrize("check", [
    lambda row, rec: [m["role"] for m in row["messages"]] == ["system", "user", "assistant"],
    lambda row, rec: row["messages"][0]["content"] == SFT_SYSTEM_PROMPT,
    lambda row, rec: row["messages"][1]["content"] == "<video>" + build_question(rec, "videorft"),
    lambda row, rec: row["messages"][2]["content"] == rec["process"] + "\n" + rec["solution"],
    lambda row, rec: row["videos"][0]["nframes"] == 16 and os.path.isabs(row["videos"][0]["video"]),
], ids=["roles", "system", "user", "assistant", "video"])
def test_convert_sft_row(sft_rows, check):
    rows, recs = sft_rows
    assert check(rows[0], recs[0])


def test_convert_sft_image_rows_use_the_image_tag(sft_rows):
    rows, _ = sft_rows
    image_rows = [r for r in rows if r["images"]]
    assert image_rows and image_rows[0]["messages"][1]["content"].startswith("<image>")


REC = {"problem": "Colour?", "problem_type": "multiple choice", "data_type": "video", "options": ["A. red", "B. blue"],
       "process": "<think>red</think>", "solution": "<answer>A</answer>"}


@pytest.mark.parametrize("style, system, user_head", [
    ("videorft", SFT_SYSTEM_PROMPT, "<video>Colour?\nPlease think"),                          # sft_video.py (VideoRFT)
    ("video_r1", "You are a helpful assistant", "<video>Colour?Options:\nA. red\nB. blue\n\nPlease"),  # Video-R1
])
def test_sft_messages_follow_the_prompt_style(style, system, user_head):
    messages = sft_messages(REC, style)
    assert (messages[0]["content"], messages[1]["content"][:len(user_head)]) == (system, user_head)


def _sft_dataset(path, tiny_qwen, **videorft):
    from transformers import AutoProcessor
    from verl.utils import hf_tokenizer

    config = OmegaConf.create({"max_length": 4096, "pad_mode": "no_padding", "videorft": videorft})
    return VideoRFTSFTDataset(parquet_files=str(path), tokenizer=hf_tokenizer(str(tiny_qwen)), config=config,
                              processor=AutoProcessor.from_pretrained(tiny_qwen))


def _image_index(ds):
    return next(i for i in range(len(ds)) if "image_grid_thw" in ds[i].get("multi_modal_inputs", {}))


def test_sft_loss_default_is_the_assistant_turn(sft_parquet, tiny_qwen):
    item = _sft_dataset(sft_parquet[0], tiny_qwen)[0]
    assert 0 < int(item["loss_mask"].sum()) < len(item["input_ids"])


def test_sft_loss_all_trains_on_every_video_token(sft_parquet, tiny_qwen):
    item = _sft_dataset(sft_parquet[0], tiny_qwen, sft_loss="all")[0]
    assert int(item["loss_mask"].sum()) == len(item["input_ids"])   # video pads stay in, as released


def test_sft_loss_all_masks_image_pads(sft_parquet, tiny_qwen):
    ds = _sft_dataset(sft_parquet[0], tiny_qwen, sft_loss="all")
    item = ds[_image_index(ds)]
    pad = ds.tokenizer.convert_tokens_to_ids(ds.processor.image_token)
    assert torch.equal(item["loss_mask"].bool(), item["input_ids"] != pad)


def test_sft_loss_unknown_is_refused(sft_parquet, tiny_qwen):
    with pytest.raises(ValueError, match="sft_loss"):
        _sft_dataset(sft_parquet[0], tiny_qwen, sft_loss="prompt")


@pytest.fixture(scope="module")
def sft_dataset(sft_parquet, tiny_qwen):
    return _sft_dataset(sft_parquet[0], tiny_qwen)


def test_sft_video_takes_every_frame_of_a_short_clip(sft_dataset):
    t, _, _ = sft_dataset[0]["multi_modal_inputs"]["video_grid_thw"][0].tolist()
    assert t == 6  # a 12-frame clip gives all 12 frames (fewer than 16), 6 temporal groups


def test_sft_video_grid_time_follows_the_clip_fps(sft_dataset):
    grid_time = float(sft_dataset[0]["multi_modal_inputs"]["second_per_grid_ts"][0])
    assert grid_time == pytest.approx(2 / 8.0)  # real fps 8, all frames sampled


def test_sft_sample_has_mrope_positions_and_a_loss(sft_dataset):
    item = sft_dataset[0]
    assert int(item["loss_mask"].sum()) > 0 and item["position_ids"].shape[0] == 4


def test_sft_image_sample_has_pixels(sft_dataset):
    assert sft_dataset[_image_index(sft_dataset)]["multi_modal_inputs"]["pixel_values"].shape[0] > 0


def test_sft_sample_with_broken_video_trains_on_nothing(sft_parquet, tiny_qwen, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from transformers import AutoProcessor
    from verl.utils import hf_tokenizer

    from verl_videorft.data.skips import BAD_SAMPLES

    path, _ = sft_parquet
    rows = pq.read_table(path).to_pylist()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    rows[0]["videos"][0]["video"] = str(broken)
    bad_path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows[:2]), bad_path)
    ds = VideoRFTSFTDataset(parquet_files=str(bad_path), tokenizer=hf_tokenizer(str(tiny_qwen)),
                            config=OmegaConf.create({"max_length": 4096, "pad_mode": "no_padding"}),
                            processor=AutoProcessor.from_pretrained(tiny_qwen))
    before = BAD_SAMPLES["sft_decode_error"]
    assert int(ds[0]["loss_mask"].sum()) == 0  # kept in the batch, contributes no gradient
    assert BAD_SAMPLES["sft_decode_error"] == before + 1
    assert int(ds[1]["loss_mask"].sum()) > 0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_sft_steps_with_verl_sft_trainer(sft_parquet, tiny_qwen, tmp_path):
    from sft_run import run_sft, train_losses

    # verl's own trainer, unchanged: the plugin's CPU platform is picked by verl's auto-detection.
    code, log = run_sft(sft_parquet[0], tiny_qwen, tmp_path)
    assert code == 0, log[-4000:]
    losses = train_losses(log)
    assert len(losses) >= 2 and all(torch.isfinite(torch.tensor(losses))), log[-3000:]
