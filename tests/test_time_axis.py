"""One time axis: M-RoPE positions of the training forward equal those of every path that samples.

For tiny Qwen2.5-VL and Qwen3-VL models and clips of 5/30/60 fps, 2 s to 2 min (plus
``../shared/media``), with and without the real fps, the positions verl's training forward computes
(``AgentLoopWorker._agent_loop_postprocess``, run as verl runs it) must equal, token for token:

(a) those the HF rollout server's model used (executed through ``VideoAgentLoop``);
(b) those vLLM 0.24 computes for the very request the agent loop sent (reproduced step by step in
    :mod:`vllm_contract`, with the vLLM lines cited there);
(c) those of both eval backends (HF executed; the vLLM request reproduced as in (b)).

The last tests show the test has teeth: each defect the time axis fixes moves positions.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("verl")

from vllm_contract import training_positions, vllm_qwen3, vllm_qwen25  # noqa: E402

# (fps, seconds): short and long, slow and fast
GENERATED = [(5, 2), (30, 10), (60, 120), (5, 120)]
SHARED = ["video_r1_example.mp4", "flipping_a_pancake.mkv", "CATER_new_003595.gif"]
# 8 frames of 84 × 84 (Qwen2.5-VL) or 64 × 64 (Qwen3-VL): the temporal extent (up to 3 groups ×
# 2·s) outgrows the spatial one (3 or 2), which is where the text-after-video rules part ways.
PROFILES = {"qwen25": dict(nframes=8, min_pixels=84 * 84, max_pixels=84 * 84, size_multiple=28, budget="strict"),
            "qwen3": dict(nframes=8, min_pixels=64 * 64, max_pixels=64 * 64, size_multiple=32, budget="strict")}


@pytest.fixture(scope="module")
def generated_clips(tmp_path_factory) -> dict:
    from verl_videorft.video.writer import moving_frames, write_clip

    root = tmp_path_factory.mktemp("time_axis")
    return {(fps, sec): write_clip(root / f"c{fps}_{sec}.mp4", moving_frames(fps * sec, 64, 48), fps=fps)
            for fps, sec in GENERATED}


def _clip(request, generated_clips, spec):
    if isinstance(spec, tuple):
        return generated_clips[spec]
    media = request.getfixturevalue("media_dir")
    return media / spec


class _Recorder:
    """verl's server client minus Ray; keeps each request as the server received it."""

    def __init__(self, server):
        self.server, self.calls = server, []

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, video_data=None,
                       mm_processor_kwargs=None, **_):
        self.calls.append({"prompt_ids": list(prompt_ids), "video_data": video_data,
                           "mm_processor_kwargs": dict(mm_processor_kwargs or {})})
        return await self.server.generate(prompt_ids=prompt_ids, sampling_params=sampling_params,
                                          request_id=request_id, video_data=video_data,
                                          mm_processor_kwargs=mm_processor_kwargs)


def _model_positions(model) -> list:
    """Wrap the model's ``get_rope_index`` so each prefill's positions are kept (what generate used)."""
    inner = model.model
    original = inner.get_rope_index
    seen: list = []

    def recording(*args, **kwargs):
        pos, deltas = original(*args, **kwargs)
        seen.append(pos)
        return pos, deltas

    inner.get_rope_index = recording
    return seen


@pytest.fixture(scope="module", params=["qwen25", "qwen3"])
def stack(request):
    """(kind, verl's processor with the loop's hooks, tokenizer, HF rollout server, model config)."""
    from verl.utils.tokenizer.tokenizer import hf_processor, hf_tokenizer

    from verl_videorft.rollout import time_axis
    from verl_videorft.rollout.hf_server import HFRolloutServer

    path = str(request.getfixturevalue("tiny_qwen" if request.param == "qwen25" else "tiny_qwen3"))
    tok, proc = hf_tokenizer(path), hf_processor(path)
    # what VideoAgentLoop does when verl builds it (test_rollout_agent_loop checks that it does)
    time_axis.install_on_processor(proc)
    server = HFRolloutServer(SimpleNamespace(prompt_length=2048, response_length=5),
                             SimpleNamespace(path=path, local_path=path, tokenizer=tok, processor=hf_processor(path)))
    return SimpleNamespace(kind=request.param, path=path, tok=tok, proc=proc, server=server,
                           config=server.model.config, seen=_model_positions(server.model))


def _rollout(stack, clip, pass_fps: bool):
    """One trajectory through VideoAgentLoop and the HF server: (output, request, server positions)."""
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_videorft.data.dataset import VideoRFTDataset
    from verl_videorft.rollout.agent_loop import PROFILE_KEY, VideoAgentLoop
    from verl_videorft.video import resolve_profile

    profile = resolve_profile({**PROFILES[stack.kind], "pass_fps": pass_fps})
    cfg = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": 2048, "response_length": 5}},
                            "data": {"apply_chat_template_kwargs": {},
                                     "mm_processor_kwargs": {"do_resize": False}}})  # the recipe's
    messages = [{"role": "user", "content": [
        {"type": "video", "video": str(clip), PROFILE_KEY: profile.to_dict()},
        {"type": "text", "text": "How many shapes move left?"}]}]
    assert RLHFDataset  # verl's base class: the loop reads frames through VideoRFTDataset's hook
    stack.seen.clear()

    async def go():
        client = _Recorder(stack.server)
        loop = VideoAgentLoop(trainer_config=DictConfigWrap(cfg), server_manager=client, tokenizer=stack.tok,
                              processor=stack.proc, dataset_cls=VideoRFTDataset, data_config=DictConfigWrap(cfg.data),
                              hf_model_type=stack.config.model_type)
        out = await loop.run({"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True},
                             raw_prompt=messages, extra_info={"problem_id": "t"})
        return out, client.calls[0]

    out, call = asyncio.run(go())
    assert out.extra_fields["videorft_error"] is None
    return out, call, stack.seen[0][:, 0].numpy()


def _vllm(stack, call, response_ids):
    fn = vllm_qwen25 if stack.kind == "qwen25" else vllm_qwen3
    args = (stack.proc, stack.config, call["prompt_ids"], call["video_data"], call["mm_processor_kwargs"])
    expanded, _ = fn(*args)
    # decoding continues the text (mrope_position_delta), so the response is text after the prompt
    full, positions = fn(*args[:2], call["prompt_ids"] + list(response_ids), *args[3:])
    return expanded, positions


CASES = [pytest.param(spec, fps, id=f"{spec}-{'fps' if fps else 'nofps'}")
         for spec in GENERATED + SHARED for fps in (False, True)]


@pytest.mark.parametrize(("spec", "pass_fps"), CASES)
def test_training_rollout_and_vllm_agree(request, stack, generated_clips, spec, pass_fps):
    out, call, hf = _rollout(stack, _clip(request, generated_clips, spec), pass_fps)
    train, _ = training_positions(stack.proc, stack.tok, out.prompt_ids, out.response_ids,
                                  out.multi_modal_data, out.mm_processor_kwargs)
    n_prompt = len(out.prompt_ids)
    # (a) the HF server's prefill used exactly the training positions; decoding continues the text
    np.testing.assert_array_equal(hf, train[:, :n_prompt])
    # (b) vLLM expands the server prompt into the training prompt, at the training positions
    expanded, vllm = _vllm(stack, call, out.response_ids)
    assert expanded == out.prompt_ids
    np.testing.assert_array_equal(vllm, train)


# ---- (c) both eval backends --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf_eval(stack):
    from verl_videorft.evaluation.backends import HFBackend

    backend = HFBackend(stack.path, profile={**PROFILES[stack.kind], "pass_fps": True}, device="cpu",
                        dtype="float32")
    return backend, _model_positions(backend.model)


@pytest.mark.parametrize("spec", [GENERATED[0], GENERATED[2], SHARED[0]], ids=str)
def test_eval_backends_agree_with_training(request, stack, hf_eval, generated_clips, spec):
    from verl_videorft.evaluation.backends import PROCESSOR_KWARGS, video_metadata, vllm_request
    from verl_videorft.evaluation.benchmarks import EvalSample

    backend, seen = hf_eval
    sample = EvalSample(uid="b/0", benchmark="b", index=0, problem_id=0, problem_type="multiple choice",
                        data_type="video", question="Which shape moves first?", solution="<answer>A</answer>",
                        media_path=str(_clip(request, generated_clips, spec)))
    prepared = backend.prepare(sample)
    backend.gen = backend.gen.__class__(temperature=0.0, max_new_tokens=2)
    seen.clear()
    ids = backend.build_inputs([prepared])["input_ids"][0].tolist()
    backend.generate([prepared])
    frames = torch.from_numpy(prepared.frames.transpose(0, 3, 1, 2).copy())
    video = (frames, video_metadata(prepared, backend.profile, backend.model_type))
    train, _ = training_positions(stack.proc, stack.tok, ids, [stack.tok.eos_token_id], {"videos": [video]},
                                  dict(PROCESSOR_KWARGS))
    np.testing.assert_array_equal(seen[0][:, 0].numpy(), train[:, :len(ids)])  # HF backend, executed
    req = vllm_request(prepared, backend.profile, backend.model_type)
    fn = vllm_qwen25 if stack.kind == "qwen25" else vllm_qwen3
    expanded, vllm = fn(stack.proc, stack.config, stack.tok.encode(req["prompt"]) + [stack.tok.eos_token_id],
                        req["multi_modal_data"]["video"], req["mm_processor_kwargs"])
    assert expanded == ids + [stack.tok.eos_token_id]
    np.testing.assert_array_equal(vllm, train)  # vLLM backend's request, as vLLM 0.24 handles it


# ---- log-probs: the rollout's against the actor's recompute -------------------------------------------
def actor_logprobs(model, out, temperature: float, shift: int = 0) -> torch.Tensor:
    """Teacher-forced log-probs of the response with verl's training positions and inputs, as verl's
    actor computes them (positions ``[4, 1, L]``: text row + M-RoPE rows). ``shift`` moves the last
    frame group's temporal position (the deliberately wrong variant)."""
    proc = model._videorft_proc
    pos, mmi = training_positions(proc, proc.tokenizer, out.prompt_ids, out.response_ids, out.multi_modal_data,
                   out.mm_processor_kwargs)
    pos = torch.as_tensor(pos).clone()
    if shift:  # the last frame group's tokens: those sharing the largest temporal video position
        video = torch.tensor(out.prompt_ids + out.response_ids) == model.config.video_token_id
        last = video & (pos[0] == pos[0][video].max())
        pos[0, last] += shift
    ids = torch.tensor([out.prompt_ids + out.response_ids])
    text = torch.arange(ids.shape[1]).view(1, 1, -1)
    position_ids = torch.cat([text, pos.unsqueeze(1)], dim=0)
    extra = {k: v for k, v in mmi.items() if k in ("pixel_values_videos", "video_grid_thw")}
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=position_ids,
                       **extra).logits[0].float()
    lp = torch.log_softmax(logits / temperature, -1)
    n = len(out.prompt_ids)
    return lp[torch.arange(n - 1, n - 1 + len(out.response_ids)), torch.tensor(out.response_ids)]


def _attention_scales(model) -> list[torch.Tensor]:
    """Weights whose scale sets how sharp attention (Qwen3's q/k RMSNorm gains, else q/k projections)
    and the output distribution (the final norm's gain) are."""
    lm = model.model.language_model
    out = [lm.norm.weight]
    for layer in lm.layers:
        attn = layer.self_attn
        pair = (attn.q_norm, attn.k_norm) if hasattr(attn, "q_norm") else (attn.q_proj, attn.k_proj)
        out += [m.weight for m in pair]
    return out


@pytest.fixture
def position_sensitive(stack):
    """The server's model with sharp attention, so where a frame sits moves the output; restored
    afterwards. Random tiny models attend almost uniformly and barely notice positions."""
    weights = _attention_scales(stack.server.model)
    with torch.no_grad():
        for w in weights:
            w.mul_(SHARPEN)
    stack.server.model._videorft_proc = stack.proc
    yield stack.server.model
    with torch.no_grad():
        for w in weights:
            w.div_(SHARPEN)


SHARPEN = 4.0
LOGPROB_TOL = dict(atol=2e-4, rtol=1e-4)  # fp32 recompute vs generate: ~1e-5 apart here


@pytest.mark.parametrize("spec", [GENERATED[1], GENERATED[2]], ids=str)
def test_rollout_logprobs_match_the_actor_and_a_shifted_frame_does_not(request, stack, generated_clips,
                                                                       position_sensitive, spec):
    model = position_sensitive
    torch.manual_seed(0)
    out, _, _ = _rollout(stack, _clip(request, generated_clips, spec), pass_fps=True)
    rollout = torch.tensor(out.response_logprobs)
    torch.testing.assert_close(actor_logprobs(model, out, 1.0), rollout, **LOGPROB_TOL)
    with pytest.raises(AssertionError):  # the same check, one frame group one position off
        torch.testing.assert_close(actor_logprobs(model, out, 1.0, shift=1), rollout, **LOGPROB_TOL)


# ---- the test has teeth: each defect the time axis removes moves positions -----------------------------
def _stock_processor(stack):
    """verl's processor as verl alone leaves it: transformers' get_rope_index, no hook."""
    from verl.utils.tokenizer.tokenizer import hf_processor

    return hf_processor(stack.path)


@pytest.mark.parametrize("pass_fps", [False, True])
def test_vllm_without_the_metadata_kwarg_puts_frames_elsewhere(stack, generated_clips, pass_fps):
    if stack.kind != "qwen25":
        pytest.skip("Qwen3-VL keeps the tuple's metadata in vLLM 0.24")
    out, call, _ = _rollout(stack, generated_clips[(30, 10)], pass_fps)
    train, _ = training_positions(stack.proc, stack.tok, out.prompt_ids, out.response_ids,
                                  out.multi_modal_data, out.mm_processor_kwargs)
    kwargs = {k: v for k, v in call["mm_processor_kwargs"].items() if k != "video_metadata"}
    _, vllm = vllm_qwen25(stack.proc, stack.config, call["prompt_ids"] + out.response_ids, call["video_data"], kwargs)
    assert not np.array_equal(vllm, train)  # 24 fps assumed: second_per_grid_ts = 2/24


@pytest.mark.parametrize(("spec", "pass_fps"), [((30, 10), False), ((60, 120), True), ((5, 2), True)], ids=str)
def test_transformers_own_rule_is_not_vllms(stack, generated_clips, spec, pass_fps):
    """Without the plugin's rule verl trains on transformers 5.10's positions: text after the video
    restarts at start + max(h, w) and ``int(s)`` truncates (5 fps, 2 s: s = 0.5 → every frame at 0)."""
    if stack.kind != "qwen25":
        pytest.skip("Qwen3-VL: one frame per temporal step, the two rules agree")
    out, call, _ = _rollout(stack, generated_clips[spec], pass_fps)
    stock, _ = training_positions(_stock_processor(stack), stack.tok, out.prompt_ids, out.response_ids,
                                  out.multi_modal_data, out.mm_processor_kwargs)
    _, vllm = vllm_qwen25(stack.proc, stack.config, call["prompt_ids"] + out.response_ids, call["video_data"],
                          call["mm_processor_kwargs"])
    assert not np.array_equal(stock, vllm)


def test_verls_stock_qwen3_request_is_garbled_by_vllm(stack, generated_clips):
    """verl #5024: the expanded prompt with pad runs collapsed keeps 4 chunks; vLLM expands one."""
    if stack.kind != "qwen3":
        pytest.skip("Qwen3-VL only")
    out, call, _ = _rollout(stack, generated_clips[(30, 10)], False)
    stock_request = out.prompt_ids  # what verl's own loop would send (its layout aside)
    with pytest.raises((AssertionError, ValueError, IndexError)):
        expanded, _ = vllm_qwen3(stack.proc, stack.config, stock_request, call["video_data"],
                                 call["mm_processor_kwargs"])
        assert expanded == out.prompt_ids


def test_seconds_are_snapped_so_bf16_cannot_move_a_frame():
    from vllm_contract import vllm_float

    from verl_videorft.rollout.time_axis import grid_seconds

    raw = 2 / (16 / 100 * 30)  # 16 frames of a 100-frame 30 fps clip: s = 0.41666..., off the bf16 grid
    group = 6  # the 7th of 8 frame groups, tokens_per_second 2: 5.0 in fp32, 4.99 in bf16
    assert int(group * raw * 2) != int(group * vllm_float(raw, torch.bfloat16) * 2)
    snapped = grid_seconds(raw)
    assert vllm_float(snapped, torch.bfloat16) == snapped
