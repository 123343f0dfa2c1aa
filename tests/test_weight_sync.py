"""Weight sync: after an update the rollout samples and scores with the new weights.

The end-to-end check (verl's own ``training/rollout_probs_diff_*`` metrics after a real optimizer
step) lives in test_e2e_grpo.py; this one isolates the server's ``update_weights`` path with the
names and tensors verl's FSDP engine sends (the HF state dict of the same model class).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("verl")


def _server(path):
    from transformers import AutoProcessor, AutoTokenizer

    from verl_videorft.rollout.hf_server import HFRolloutServer

    mc = SimpleNamespace(path=str(path), local_path=str(path), tokenizer=AutoTokenizer.from_pretrained(path),
                         processor=AutoProcessor.from_pretrained(path))
    return HFRolloutServer(SimpleNamespace(prompt_length=256, response_length=8), mc)


def _logprobs_of(model, prompt, response):
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return lp[torch.arange(len(prompt) - 1, len(ids[0]) - 1), torch.tensor(response)]


def test_rollout_logprobs_follow_the_trainer_weights(tiny_qwen):
    from transformers import AutoModelForImageTextToText

    server = _server(tiny_qwen)
    trainer_model = AutoModelForImageTextToText.from_pretrained(tiny_qwen, torch_dtype=torch.float32)
    prompt = server.tokenizer("<|im_start|>user\nhow many shapes<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
    sp = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}

    before = asyncio.run(server.generate(prompt_ids=prompt, sampling_params=dict(sp), request_id="a"))
    torch.testing.assert_close(torch.tensor(before.log_probs),
                               _logprobs_of(trainer_model, prompt, before.token_ids), atol=1e-4, rtol=1e-4)

    # A "training step": move every weight, as an optimizer step would (large, to be unmistakable).
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in trainer_model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    stale = _logprobs_of(trainer_model, prompt, before.token_ids)
    assert (stale - torch.tensor(before.log_probs)).abs().max() > 1e-2  # the old rollout is now off-policy

    report = server.update_weights(dict(trainer_model.state_dict()), global_steps=1)
    assert report["loaded"] > 0 and report["weight_version"] == 1

    after = asyncio.run(server.generate(prompt_ids=prompt, sampling_params=dict(sp), request_id="b"))
    torch.testing.assert_close(torch.tensor(after.log_probs),
                               _logprobs_of(trainer_model, prompt, after.token_ids), atol=1e-4, rtol=1e-4)
    assert after.extra_fields["global_steps"] == 1


def test_update_with_foreign_names_is_an_error(tiny_qwen):
    server = _server(tiny_qwen)
    with pytest.raises(RuntimeError, match="no weight name matched"):
        server.update_weights({"not.a.weight": torch.zeros(2)})
