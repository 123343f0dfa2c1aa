"""T-GRPO's shuffled rollouts in the agent loop: seeded permutations of the frames the loop already
holds, which members make them, no extra decode, and never in the training batch.

The loop runs for real (verl's ``SingleTurnAgentLoop.run`` under ``VideoAgentLoop``, the tiny
model's tokenizer and processor, the project's dataset hook and frame cache); the server is a stub
that answers ``A`` when the frames it receives are in time order (the clip's brightness rises) and
``B`` otherwise, with fixed log-probs: deterministic, so two runs can be compared bit for bit.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

pytest.importorskip("verl")

from verl_videorft.names import ERROR_KEY, SHUFFLED_KEY  # noqa: E402
from verl_videorft.rollout.temporal import frame_permutation, permute_videos, shuffle_count  # noqa: E402

SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
TRUTH = "<answer>A</answer>"


# ---- permutations ------------------------------------------------------------------------------
@pytest.mark.parametrize("frames, seed, step, sample", [
    (16, 0, 1, 7),
    (4, 3, 10, "q-1"),
    (2, 0, 0, 0),
])
def test_same_key_same_permutation(frames, seed, step, sample):
    first, again = frame_permutation(frames, seed, step, sample), frame_permutation(frames, seed, step, sample)
    assert first.tolist() == again.tolist()


@pytest.mark.parametrize("vary", ["sample", "step", "seed"])
def test_different_groups_steps_and_seeds_get_different_permutations(vary):
    keys = [{"seed": 0, "step": 1, "sample": 0, vary: v} for v in range(20)]
    perms = {tuple(frame_permutation(16, **k).tolist()) for k in keys}
    assert len(perms) == 20


@pytest.mark.parametrize("frames", [2, 3, 4, 16])
def test_never_the_identity(frames):
    assert all((frame_permutation(frames, 0, 1, s) != np.arange(frames)).any() for s in range(300))


@pytest.mark.parametrize("n, n_shuffled, counts", [
    (8, 4, [1, 1, 1, 1, 0, 0, 0, 0]),  # released: n // 2
    (4, 2, [1, 1, 0, 0]),
    (4, 0, [0, 0, 0, 0]),
    (2, 5, [3, 2]),  # more shuffled than members: spread
    (4, 4, [1, 1, 1, 1]),
])
def test_shuffle_count(n, n_shuffled, counts):
    assert [shuffle_count(i, n, n_shuffled) for i in range(n)] == counts


def test_permute_videos_gathers_the_same_frames_and_keeps_metadata():
    frames = torch.arange(6 * 3, dtype=torch.uint8).reshape(6, 3, 1, 1).expand(6, 3, 2, 2).clone()
    meta = {"fps": 2.0, "frames_indices": list(range(6))}
    (moved, moved_meta), = permute_videos([(frames, meta)], 0, 1, 5)
    perm = torch.from_numpy(frame_permutation(6, 0, 1, "5/0"))
    assert torch.equal(moved, frames[perm]) and moved_meta is meta
    assert torch.equal(frames, torch.arange(18, dtype=torch.uint8).reshape(6, 3, 1, 1).expand(6, 3, 2, 2))


# ---- the agent loop --------------------------------------------------------------------------
class _OrderServer:
    """Answers ``A`` for frames in time order, ``B`` otherwise; records every request."""

    def __init__(self, tokenizer, fail_shuffled: bool = False):
        self.tok, self.fail_shuffled, self.calls = tokenizer, fail_shuffled, []

    async def generate(self, request_id, *, prompt_ids, sampling_params, video_data=None, **rest):
        from verl.workers.rollout.replica import TokenOutput

        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "video_data": video_data,
                           "sampling_params": dict(sampling_params), **rest})
        if self.fail_shuffled and "-shuffled-" in str(request_id):
            raise RuntimeError("server lost the request")
        means = [f.float().mean().item() for f in video_data[0][0]] if video_data else []
        ordered = all(b > a for a, b in zip(means, means[1:]))
        ids = self.tok.encode(f"<think>look</think><answer>{'A' if ordered else 'B'}</answer>")
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids), extra_fields={})


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    """An 8-frame 56×56 clip whose brightness rises frame by frame."""
    from verl_videorft.video.writer import write_clip

    frames = np.stack([np.full((56, 56, 3), 20 + 25 * i, np.uint8) for i in range(8)])
    return write_clip(tmp_path_factory.mktemp("ramp") / "ramp.mp4", frames, fps=4)


@pytest.fixture(scope="module")
def parts(tiny_qwen):
    from verl.utils.tokenizer.tokenizer import hf_processor, hf_tokenizer

    return hf_tokenizer(str(tiny_qwen)), hf_processor(str(tiny_qwen))


def _messages(path, kind="video"):
    from verl_videorft.rollout.agent_loop import PROFILE_KEY

    profile = {"nframes": 4, "min_pixels": 56 * 56, "max_pixels": 56 * 56, "size_multiple": 28, "budget": "strict"}
    return [{"role": "user", "content": [{"type": kind, kind: str(path), PROFILE_KEY: profile},
                                         {"type": "text", "text": "Does it get brighter? A. yes B. no"}]}]


def run_group(parts, messages, temporal=None, n=4, split="train", server=None):
    """The ``n`` sessions of one prompt, as verl's V1 worker runs them; returns (outputs, server)."""
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap

    from verl_videorft.data.dataset import VideoRFTDataset
    from verl_videorft.rollout.agent_loop import VideoAgentLoop

    tok, proc = parts
    server = server or _OrderServer(tok)
    cfg = OmegaConf.create({
        "actor_rollout_ref": {"rollout": {"prompt_length": 512, "response_length": 24, "n": n}},
        "data": {"apply_chat_template_kwargs": {}, "videorft": {"on_decode_error": "raise"},
                 "mm_processor_kwargs": {"do_resize": False, "do_sample_frames": False}},
        "reward": {"videorft": {"temporal": temporal or {}}}})

    async def one(i):
        loop = VideoAgentLoop(trainer_config=DictConfigWrap(cfg), server_manager=server, tokenizer=tok,
                              processor=proc, dataset_cls=VideoRFTDataset, data_config=DictConfigWrap(cfg.data),
                              hf_model_type=proc.config.model_type)
        return await loop.run(dict(SAMPLING), raw_prompt=messages, session_id=i, uid="u1", global_steps=3,
                              reward_model={"ground_truth": TRUTH},
                              extra_info={"problem_id": "q-1", "index": 11, "split": split,
                                          "problem_type": "multiple choice"})

    async def group():
        return await asyncio.gather(*(one(i) for i in range(n)))

    return asyncio.run(group()), server


ON = {"enable": True}


def test_half_the_members_roll_out_once_on_shuffled_frames(parts, ramp):
    outs, server = run_group(parts, _messages(ramp), ON)
    assert [o.extra_fields[SHUFFLED_KEY] for o in outs] == [
        {"video": True, "planned": 1, "acc": [0.0]}, {"video": True, "planned": 1, "acc": [0.0]},
        {"video": True, "planned": 0, "acc": []}, {"video": True, "planned": 0, "acc": []}]
    assert len(server.calls) == 6
    # the ordered frames are in order (the stub answers A), the shuffled ones are not (B: acc 0)
    assert "<answer>A</answer>" in parts[0].decode(outs[0].response_ids)


def test_shuffled_requests_carry_the_ordered_frames_permuted(parts, ramp):
    _, server = run_group(parts, _messages(ramp), {"enable": True, "max_response_length": 7})
    ordered = [c for c in server.calls if "-shuffled-" not in c["request_id"]]
    shuffled = [c for c in server.calls if "-shuffled-" in c["request_id"]]
    frames, meta = ordered[0]["video_data"][0]
    perm = torch.from_numpy(frame_permutation(len(frames), 0, 3, "11/0"))
    for call in shuffled:
        moved, moved_meta = call["video_data"][0]
        assert torch.equal(moved, frames[perm]) and not torch.equal(moved, frames)
        assert moved_meta == meta and call["prompt_ids"] == ordered[0]["prompt_ids"]
        assert call["sampling_params"]["max_tokens"] == 7 and "max_tokens" not in ordered[0]["sampling_params"]
        assert call["mm_processor_kwargs"] == ordered[0]["mm_processor_kwargs"]
    assert len({c["request_id"] for c in server.calls}) == len(server.calls)


@pytest.mark.parametrize("temporal", [ON, {"enable": False}])
def test_no_decode_for_the_shuffled_set(parts, ramp, temporal):
    """One decode per group (the first member's cache miss) with or without shuffled rollouts, and
    no extra frame-cache lookup: the shuffled frames are a gather of the tensor the loop holds."""
    from verl_videorft.video import get_frame_cache

    cache = get_frame_cache()
    cache.clear()
    run_group(parts, _messages(ramp), temporal)
    stats = cache.stats()
    assert (stats["misses"], stats["hits"]) == (1, 3)


@pytest.mark.parametrize("case", ["image", "validation", "decode_error", "disabled"])
def test_no_shuffled_rollouts(parts, ramp, tmp_path, case):
    from PIL import Image

    messages, split, temporal = _messages(ramp), "train", ON
    if case == "image":
        Image.fromarray(np.full((56, 56, 3), 90, np.uint8)).save(tmp_path / "still.png")
        messages = _messages(tmp_path / "still.png", kind="image")
    elif case == "validation":
        split = "val"
    elif case == "decode_error":
        (tmp_path / "broken.mp4").write_bytes(b"\x00" * 64)
        messages = _messages(tmp_path / "broken.mp4")
    else:
        temporal = {"enable": False}
    outs, server = run_group(parts, messages, temporal, split=split)
    assert len(server.calls) == 4
    fields = [o.extra_fields.get(SHUFFLED_KEY) for o in outs]
    expected = {"image": {"video": False, "planned": 0, "acc": []},
                "validation": {"video": True, "planned": 0, "acc": []},
                "decode_error": {"video": True, "planned": 0, "acc": []}, "disabled": None}[case]
    assert fields == [expected] * 4
    assert (outs[0].extra_fields[ERROR_KEY] is not None) == (case == "decode_error")


def test_a_failed_shuffled_request_is_left_out(parts, ramp):
    outs, server = run_group(parts, _messages(ramp), ON, server=_OrderServer(parts[0], fail_shuffled=True))
    assert outs[0].extra_fields[SHUFFLED_KEY] == {"video": True, "planned": 1, "acc": []}
    assert outs[0].extra_fields[ERROR_KEY] is None and outs[0].response_ids


def test_n_shuffled_spreads_over_members(parts, ramp):
    outs, _ = run_group(parts, _messages(ramp), {"enable": True, "n_shuffled": 6})
    assert [o.extra_fields[SHUFFLED_KEY]["planned"] for o in outs] == [2, 2, 1, 1]
    assert sum(len(o.extra_fields[SHUFFLED_KEY]["acc"]) for o in outs) == 6


# ---- never trained on ---------------------------------------------------------------------------
def _same(a, b) -> bool:
    """Deep, bitwise equality of what verl turns into a training row (tensors, lists, dicts, tuples)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _training_row(output) -> dict:
    """What verl's V1 worker stores for a trajectory (``AgentLoopWorkerTQ._agent_loop_postprocess``:
    ``output.as_dict()``), less the timings (``metrics``: logged, never trained on) and the T-GRPO
    field (accuracies for the trainer's bonus)."""
    row = output.as_dict()
    row.pop("metrics")
    row["extra_fields"] = {k: v for k, v in row["extra_fields"].items() if k != SHUFFLED_KEY}
    return row


def _advantages(monkeypatch, parts, outs, alpha, enable=True, accs=(1.0, 1.0, 1.0, 0.0)):
    """Scores -> the trainer's group terms (fake TransferQueue) -> verl's GRPO advantages."""
    from types import SimpleNamespace

    import transfer_queue as tq
    from omegaconf import OmegaConf
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    from verl_videorft.rewards.text import format_reward
    from verl_videorft.trainer import VideoRFTTrainerSync

    tok = parts[0]
    scores, extras = [], []
    for out, acc in zip(outs, accs):
        row = torch.zeros(len(out.response_ids))
        row[-1] = acc + format_reward(tok.decode(out.response_ids, skip_special_tokens=True))
        scores.append(row)
        extras.append({**out.extra_fields, "reward_extra_info": {"acc": acc, "response_length": 400.0}})
    store = {"rm_scores": torch.nested.as_nested_tensor(scores, layout=torch.jagged), "extra_fields": extras}
    put = {}
    monkeypatch.setattr(tq, "kv_batch_get", lambda **kw: store)
    monkeypatch.setattr(tq, "kv_batch_put", lambda **kw: put.update(kw["fields"].to_dict()))
    trainer = object.__new__(VideoRFTTrainerSync)
    trainer.config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"n": len(outs)}},
                                       "reward": {"videorft": {"temporal": {"enable": enable, "alpha": alpha}}}})
    metrics: dict = {}
    trainer._add_group_terms(SimpleNamespace(keys=[f"u1_{i}_0" for i in range(len(outs))], partition_id="train",
                                             tags=[{}] * len(outs)), metrics)
    rm = [r.clone() for r in put.get("rm_scores", store["rm_scores"]).unbind()]
    rewards = torch.nn.utils.rnn.pad_sequence(rm, batch_first=True)
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(r)) for r in rm], batch_first=True)
    adv, _ = compute_grpo_outcome_advantage(rewards, mask, np.array(["u1"] * len(outs), dtype=object))
    return adv, metrics


def test_actor_batch_is_bit_identical_with_and_without_shuffled_rollouts_at_alpha_zero(parts, ramp, monkeypatch):
    off, _ = run_group(parts, _messages(ramp), {"enable": False})
    on, server = run_group(parts, _messages(ramp), {"enable": True, "alpha": 0.0})
    assert len(server.calls) == 6  # the shuffled rollouts did happen...
    # ...yet every row verl stores for training is the same, bit for bit (one output per session)
    assert all(_same(_training_row(a), _training_row(b)) for a, b in zip(off, on))
    adv_off, _ = _advantages(monkeypatch, parts, off, alpha=0.0, enable=False)
    adv_on, metrics = _advantages(monkeypatch, parts, on, alpha=0.0)
    assert torch.equal(adv_off, adv_on) and metrics["tgrpo/bonus_rate"] == 1.0


def test_the_comparison_would_see_a_difference(parts, ramp, monkeypatch):
    """Sensitivity: one token changed, or the bonus at alpha 0.3, is caught."""
    off, _ = run_group(parts, _messages(ramp), {"enable": False})
    on, _ = run_group(parts, _messages(ramp), ON)
    tampered = _training_row(on[0])
    tampered["responses"][0] += 1
    assert not _same(_training_row(off[0]), tampered)
    adv_off, _ = _advantages(monkeypatch, parts, off, alpha=0.0, enable=False)
    adv_on, metrics = _advantages(monkeypatch, parts, on, alpha=0.3)
    assert not torch.equal(adv_off, adv_on) and metrics["reward/temporal_bonus/max"] == pytest.approx(0.3)


def test_shuffled_requests_run_alongside_the_ordered_one(parts, ramp):
    """The ordered requests wait until a shuffled one has reached the server: a loop that sent the
    shuffled rollouts only after its own would never get there (the wait times out)."""
    seen = asyncio.Event()

    class Gate(_OrderServer):
        async def generate(self, request_id, **kw):
            if "-shuffled-" in str(request_id):
                seen.set()
            else:
                await asyncio.wait_for(seen.wait(), timeout=10)
            return await super().generate(request_id, **kw)

    outs, _ = run_group(parts, _messages(ramp), ON, server=Gate(parts[0]))
    assert [len(o.extra_fields[SHUFFLED_KEY]["acc"]) for o in outs] == [1, 1, 0, 0]
