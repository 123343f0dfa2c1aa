"""VideoAgentLoop: one video question through verl's agent-loop machinery and the HF rollout server.

The loop runs for real (verl's Continuous-Token builder, the tiny Qwen2.5-VL's processor, the HF
server generating); only the Ray plumbing between them (verl's load-balanced LLMServerClient) is
replaced by a direct call to the server object.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("verl")


class _DirectClient:
    """What verl's LLMServerClient does for one server, minus Ray: forward ``generate``."""

    def __init__(self, server):
        self.server = server
        self.calls = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, video_data=None,
                       mm_processor_kwargs=None, **_):
        self.calls.append({"prompt_ids": prompt_ids, "video_data": video_data})
        return await self.server.generate(prompt_ids=prompt_ids, sampling_params=sampling_params,
                                          request_id=request_id, image_data=image_data,
                                          video_data=video_data, mm_processor_kwargs=mm_processor_kwargs)


@pytest.fixture(scope="module")
def parts(tiny_qwen):
    from transformers import AutoProcessor, AutoTokenizer

    from verl_videorft.rollout.hf_server import HFRolloutServer

    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    proc = AutoProcessor.from_pretrained(tiny_qwen)
    server = HFRolloutServer(SimpleNamespace(prompt_length=512, response_length=6),
                             SimpleNamespace(path=str(tiny_qwen), local_path=str(tiny_qwen), tokenizer=tok,
                                             processor=proc))
    return tok, proc, server


def _loop(parts, prompt_length=512):
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_videorft.rollout.agent_loop import VideoAgentLoop

    tok, proc, server = parts
    cfg = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": prompt_length, "response_length": 6}},
                            "data": {"apply_chat_template_kwargs": {}, "mm_processor_kwargs": {}}})
    client = _DirectClient(server)
    loop = VideoAgentLoop(trainer_config=DictConfigWrap(cfg), server_manager=client, tokenizer=tok, processor=proc,
                          dataset_cls=RLHFDataset, data_config=DictConfigWrap(cfg.data), hf_model_type="qwen2_5_vl")
    return loop, client


def _messages(video_path):
    return [{"role": "user", "content": [
        {"type": "video", "video": str(video_path), "nframes": 4, "min_pixels": 56 * 56, "max_pixels": 56 * 56},
        {"type": "text", "text": "How many shapes?"}]}]


def _run(parts, video_path, prompt_length=512):
    """Build the loop inside the event loop (verl's AgentLoopBase binds the running loop) and run it."""
    sp = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}

    async def go():
        loop, client = _loop(parts, prompt_length)
        out = await loop.run(sp, raw_prompt=_messages(video_path), extra_info={"problem_id": "q-7"})
        return out, client

    return asyncio.run(go())


def test_video_sample_round_trip(parts, clip):
    from verl_videorft.rollout.agent_loop import ERROR_KEY, FRAMES_KEY

    out, client = _run(parts, clip)
    assert out.extra_fields[ERROR_KEY] is None and out.reward_score is None  # scored by the manager
    video_pad = parts[1].video_token_id
    assert out.prompt_ids.count(video_pad) > 1
    assert 1 <= len(out.response_ids) <= 6 and len(out.response_logprobs) == len(out.response_ids)
    # the frames the server saw are the frames the training forward pass will see
    frames, meta = client.calls[0]["video_data"][0]
    assert torch.equal(out.multi_modal_data["videos"][0][0], frames)
    record = out.extra_fields[FRAMES_KEY]
    assert len(record) == 1 and record[0]["path"] == str(clip)
    assert record[0]["frame_indices"] == [int(i) for i in meta["frames_indices"]]


def test_undecodable_video_is_flagged_not_fatal(parts, tmp_path):
    from verl_videorft.rollout.agent_loop import ERROR_KEY

    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom garbage" * 20)
    out, _ = _run(parts, bad)
    assert out.extra_fields[ERROR_KEY].startswith("decode_error")
    assert out.reward_score == 0.0
    assert len(out.response_ids) >= 1  # the step goes on with a blank stand-in clip


def test_prompt_over_the_limit_names_sample_and_counts(parts, clip, caplog):
    from verl_videorft.rollout.agent_loop import ERROR_KEY

    with caplog.at_level("WARNING"):
        out, _ = _run(parts, clip, prompt_length=60)
    err = out.extra_fields[ERROR_KEY]
    assert err.startswith("prompt_too_long") and "sample q-7" in err and "vision tokens" in err
    assert "max_prompt_length=60" in err
    assert any("q-7" in r.getMessage() for r in caplog.records)
    assert len(out.prompt_ids) <= 60


def test_prompt_too_long_error_message():
    from verl_videorft.rollout.agent_loop import PromptTooLongError, sample_id_of

    err = PromptTooLongError("abc", 5000, 4800, 4096)
    assert "sample abc" in str(err) and "5000 tokens" in str(err) and "4800 vision" in str(err)
    assert sample_id_of({"extra_info": {"problem_id": 12}}) == "12"
    assert sample_id_of({"extra_info": {"index": 3}}) == "index=3"
