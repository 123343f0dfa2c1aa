"""VideoAgentLoop: one video question through verl's agent-loop machinery and a rollout server.

The loop runs for real (verl's ``SingleTurnAgentLoop.run``, its Continuous-Token builder, the tiny
models' processors as verl builds them); only the Ray plumbing to the server (verl's load-balanced
LLMServerClient) is replaced by a direct call, to the HF server or to a stub that answers fixed tokens.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("verl")

SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}


class _DirectClient:
    """What verl's LLMServerClient does for one server, minus Ray: forward ``generate``, keep the call."""

    def __init__(self, server):
        self.server = server
        self.calls = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, video_data=None,
                       mm_processor_kwargs=None, **rest):
        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "video_data": video_data,
                           "mm_processor_kwargs": dict(mm_processor_kwargs or {}), **rest})
        return await self.server.generate(prompt_ids=prompt_ids, sampling_params=sampling_params,
                                          request_id=request_id, image_data=image_data,
                                          video_data=video_data, mm_processor_kwargs=mm_processor_kwargs)


class _StubServer:
    """Answers two fixed tokens, with routed experts, as a MoE vLLM server would."""

    async def generate(self, prompt_ids, **_):
        from verl.workers.rollout.replica import TokenOutput

        n = len(prompt_ids) + 2
        return TokenOutput(token_ids=[5, 6], log_probs=[-1.0, -2.0], routed_experts=np.ones((n, 2, 1), np.int32),
                           extra_fields={})


def _parts(path, server=None):
    from verl.utils.tokenizer.tokenizer import hf_processor, hf_tokenizer

    from verl_videorft.rollout.hf_server import HFRolloutServer

    tok, proc = hf_tokenizer(str(path)), hf_processor(str(path))
    if server is None:
        server = HFRolloutServer(SimpleNamespace(prompt_length=512, response_length=6),
                                 SimpleNamespace(path=str(path), local_path=str(path), tokenizer=tok,
                                                 processor=hf_processor(str(path))))
    return tok, proc, server


@pytest.fixture(scope="module")
def parts(tiny_qwen):
    return _parts(tiny_qwen)


@pytest.fixture(scope="module")
def parts3(tiny_qwen3):
    return _parts(tiny_qwen3)


def _run(parts, messages, prompt_length=512, determinism=False, **kwargs):
    """Build the loop inside the event loop (verl's AgentLoopBase binds the running loop) and run it."""
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap

    from verl_videorft.data.dataset import VideoRFTDataset
    from verl_videorft.rollout.agent_loop import VideoAgentLoop

    tok, proc, server = parts
    cfg = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": prompt_length, "response_length": 6,
                                                              "full_determinism": determinism}},
                            "data": {"apply_chat_template_kwargs": {}, "videorft": {"on_decode_error": "raise"},
                                     "mm_processor_kwargs": {"do_resize": False, "do_sample_frames": False}}})

    async def go():
        client = _DirectClient(server)
        loop = VideoAgentLoop(trainer_config=DictConfigWrap(cfg), server_manager=client, tokenizer=tok,
                              processor=proc, dataset_cls=VideoRFTDataset, data_config=DictConfigWrap(cfg.data),
                              hf_model_type=proc.config.model_type)
        out = await loop.run(SAMPLING, raw_prompt=messages, extra_info={"problem_id": "q-7"}, **kwargs)
        return out, client

    return asyncio.run(go())


def _messages(video_path, multiple=28, side=56):
    from verl_videorft.rollout.agent_loop import PROFILE_KEY

    profile = {"nframes": 4, "min_pixels": side * side, "max_pixels": side * side, "size_multiple": multiple,
               "budget": "strict"}
    return [{"role": "user", "content": [{"type": "video", "video": str(video_path), PROFILE_KEY: profile},
                                         {"type": "text", "text": "How many shapes?"}]}]


def test_the_loop_is_verls_single_turn_loop():
    import inspect

    from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

    from verl_videorft.rollout.agent_loop import VideoAgentLoop

    assert issubclass(VideoAgentLoop, SingleTurnAgentLoop)
    assert "super().run(" in inspect.getsource(VideoAgentLoop.run)  # verl's traced run does the work


def test_video_sample_round_trip(parts, clip):
    from verl_videorft.rollout.agent_loop import ERROR_KEY, FRAMES_KEY
    from verl_videorft.video import resolve_profile, sample_frames

    out, client = _run(parts, _messages(clip))
    assert out.extra_fields[ERROR_KEY] is None and out.reward_score is None  # scored by the manager
    assert out.prompt_ids.count(parts[1].video_token_id) > 1
    assert 1 <= len(out.response_ids) <= 6 and len(out.response_logprobs) == len(out.response_ids)
    # the frames the server saw are the frames the training forward pass will see
    frames, meta = client.calls[0]["video_data"][0]
    assert torch.equal(out.multi_modal_data["videos"][0][0], frames)
    record = out.extra_fields[FRAMES_KEY]
    _, real = sample_frames(clip, resolve_profile(_messages(clip)[0]["content"][0]["videorft_profile"]))
    assert len(record) == 1 and record[0]["path"] == str(clip)
    assert record[0]["frame_indices"] == real["frame_indices"]  # the clip's frames, not the processor's


def test_qwen25_request_carries_the_frames_timing(parts, clip):
    out, client = _run(parts, _messages(clip))
    call = client.calls[0]
    assert call["mm_processor_kwargs"]["video_metadata"] == [call["video_data"][0][1]]
    assert out.mm_processor_kwargs["video_metadata"] == [out.multi_modal_data["videos"][0][1]]


def test_the_loop_puts_verls_training_forward_on_the_time_axis(parts, clip):
    from verl_videorft.rollout.time_axis import MRopeIndex

    _run(parts, _messages(clip))
    assert isinstance(parts[1].get_rope_index, MRopeIndex) and callable(parts[1].get_rope_index_kwargs)


def test_qwen3_server_gets_one_span_per_video_and_training_vllms_layout(parts3, clip):
    from verl_videorft.rollout.video_spans import span_ids

    out, client = _run(parts3, _messages(clip, multiple=32, side=64))
    start, pad, end = span_ids(parts3[1])
    sent = client.calls[0]["prompt_ids"]
    assert sent.count(pad) == 1 and [start, pad, end] == sent[sent.index(pad) - 1: sent.index(pad) + 2]
    ids = out.prompt_ids
    first_chunk = ids.index(pad) - 1  # the <|vision_start|> of frame pair 1, after its timestamp text
    assert ids[first_chunk] == start and start not in ids[first_chunk - 4:first_chunk]  # no outer wrapper
    _, _, height, width = out.multi_modal_data["videos"][0][0].shape
    assert ids.count(start) == 2 and ids.count(pad) == 2 * (height // 32) * (width // 32)  # 2 frame pairs


def test_qwen3_profile_in_multiples_of_28_is_refused(parts3, clip):
    with pytest.raises(ValueError, match="patch 16 × merge 2 = 32"):
        _run(parts3, _messages(clip, multiple=28, side=56))


def test_priority_and_deterministic_request_ids_come_from_verl(tiny_qwen, clip):
    parts = _parts(tiny_qwen, server=_StubServer())
    out, client = _run(parts, _messages(clip), determinism=True, priority=np.int64(5))
    assert client.calls[0]["request_id"] == "det-5" and client.calls[0]["priority"] == 5
    assert out.routed_experts is not None and out.routed_experts.shape[0] == len(out.prompt_ids) + 2


@pytest.mark.parametrize(("model", "multiple", "side"), [("tiny_qwen", 28, 56), ("tiny_qwen3", 32, 64)])
def test_undecodable_video_is_flagged_not_fatal(request, tmp_path, model, multiple, side):
    from verl_videorft.rollout.agent_loop import ERROR_KEY

    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom garbage" * 20)
    path = request.getfixturevalue(model)
    out, client = _run(_parts(path, server=_StubServer()), _messages(bad, multiple, side))
    assert out.extra_fields[ERROR_KEY].startswith("decode_error")
    assert out.reward_score == 0.0 and len(out.response_ids) >= 1  # the step goes on with a stand-in clip
    frames = out.multi_modal_data["videos"][0][0]
    assert frames.shape[-1] % multiple == 0 and frames.shape[-2] % multiple == 0  # placeholder follows profile


def test_prompt_over_the_limit_names_sample_and_counts(parts, clip, caplog):
    from verl_videorft.rollout.agent_loop import ERROR_KEY

    with caplog.at_level("WARNING"):
        out, _ = _run(parts, _messages(clip, side=112), prompt_length=LIMIT)
    err = out.extra_fields[ERROR_KEY]
    assert err.startswith("prompt_too_long") and "sample q-7" in err and "vision tokens" in err
    assert f"max_prompt_length={LIMIT}" in err
    assert any("q-7" in r.getMessage() for r in caplog.records)
    assert len(out.prompt_ids) <= LIMIT


LIMIT = 45  # the text alone is ~35 tokens; 4 frames of 112 × 112 add 32


def test_prompt_too_long_error_message():
    from verl_videorft.rollout.agent_loop import PromptTooLongError, sample_id_of

    err = PromptTooLongError("abc", 5000, 4800, 4096)
    assert "sample abc" in str(err) and "5000 tokens" in str(err) and "4800 vision" in str(err)
    assert sample_id_of({"extra_info": {"problem_id": 12}}) == "12"
    assert sample_id_of({"extra_info": {"index": 3}}) == "index=3"
