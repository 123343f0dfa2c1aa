"""GPU check in one command (torch + transformers only: no vLLM, verl or Ray), random weights.

    python benchmarks/gpu_check.py              # one H200: < 8 minutes
    python benchmarks/gpu_check.py --tiny       # CPU smoke test of the same code (tiny shapes)

1. SigLIP-so400m-sized encoder (the semantic reward's): frames/s and texts/s in bf16, and where
   it lands (device, memory).
2. HF rollout speed of a 7B-sized Qwen2.5-VL (Qwen2.5-VL-7B's shapes) on one 16-frame video at
   the paper's 128·28·28 pixels a frame: prefill seconds, decode tokens/s.
3. The log-prob check of tests/test_time_axis.py in bf16: the rollout's log-probs (``generate``
   with the plugin's M-RoPE rule installed) against a teacher-forced forward at the positions
   verl's training forward uses, and the same with one frame group one temporal position off.
   PASS when the shifted gap is well above the aligned one (bf16 noise).

Prints one line per figure and writes them as JSON to ``--out`` (default ``$OUT/gpu_check.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from bench_encoder import build_so400m, rate  # noqa: E402

from verl_videorft.rollout.time_axis import MRopeIndex, install_on_model, qwen25_metadata  # noqa: E402

# Qwen2.5-VL-7B-Instruct's config.json shapes
QWEN7B_TEXT = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                   num_key_value_heads=4, vocab_size=152064, max_position_embeddings=128000,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]})
QWEN7B_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                     patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                     fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)
TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=600, max_position_embeddings=8192,
                 rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]})
TINY_VISION = dict(QWEN7B_VISION, depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                   fullatt_block_indexes=[1])


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def encoder(device: str, dtype: torch.dtype, tiny: bool, frames: int, texts: int) -> dict:
    """SigLIP-so400m-sized throughput (``bench_encoder``'s model) and where it sits."""
    if tiny:
        from transformers import SiglipConfig, SiglipModel

        small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        text = {**small, "max_position_embeddings": 64, "vocab_size": 32000, "pad_token_id": 0, "bos_token_id": 1,
                "eos_token_id": 2}
        model = SiglipModel(SiglipConfig(text_config=text, vision_config={**small, "patch_size": 14,
                                                                         "image_size": 384}))
        model = model.eval().to(device=device, dtype=dtype)
    else:
        model = build_so400m(dtype, device)
    pixels = torch.randn(frames, 3, 384, 384, dtype=dtype, device=device)
    ids = torch.randint(0, 32000, (texts, 64), device=device)
    with torch.inference_mode():
        fps = rate(lambda: model.get_image_features(pixel_values=pixels), frames, 3)
        tps = rate(lambda: model.get_text_features(input_ids=ids), texts, 3)
    where = next(model.parameters()).device
    mem = torch.cuda.memory_allocated(where) / 2**30 if where.type == "cuda" else 0.0
    out = {"encoder_device": str(where), "encoder_gib": round(mem, 2), "frames_per_s": round(fps, 1),
           "texts_per_s": round(tps, 1), "encoder_params_m": round(sum(p.numel() for p in model.parameters()) / 1e6)}
    return out


def build_qwen(device: str, dtype: torch.dtype, tiny: bool):
    """A random Qwen2.5-VL (7B shapes, or tiny) with the plugin's M-RoPE rule, and a processor."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from verl_videorft.testing import CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={**(TINY_TEXT if tiny else QWEN7B_TEXT), "eos_token_id": ids["<|im_end|>"],
                     "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"]},
        vision_config=TINY_VISION if tiny else QWEN7B_VISION,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, attn_implementation="sdpa", dtype=dtype)
    install_on_model(model.eval())
    proc = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
                               tokenizer=tok, chat_template=CHAT_TEMPLATE)
    return model, proc


def video_inputs(proc, device: str, nframes: int, height: int, width: int) -> tuple[dict, dict]:
    """One question about one ``nframes``-frame video (random pixels), as the rollout builds it."""
    frames = torch.randint(0, 255, (nframes, 3, height, width), dtype=torch.uint8)
    meta = qwen25_metadata({"total_num_frames": nframes * 15, "fps": 30.0,
                            "frames_indices": list(range(0, nframes * 15, 15))}, nframes)
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "How many shapes move?"}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    out = proc(text=[text], videos=[frames], video_metadata=[meta], do_resize=False, do_sample_frames=False,
               return_tensors="pt")
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in out.items()}, meta


def rollout(model, inputs: dict, new_tokens: int) -> dict:
    """Prefill seconds and decode tokens/s of HF ``generate`` (what the hf rollout server runs)."""
    gen = dict(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, min_new_tokens=new_tokens,
               max_new_tokens=new_tokens, return_dict_in_generate=True, output_logits=True)
    with torch.inference_mode():
        sync()
        start = time.perf_counter()
        model.generate(**inputs, **{**gen, "min_new_tokens": 1, "max_new_tokens": 1})
        sync()
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        out = model.generate(**inputs, **gen)
        sync()
        total = time.perf_counter() - start
    decode_s = max(total - prefill, 1e-9)
    return {"prompt_tokens": int(inputs["input_ids"].shape[1]), "prefill_s": round(prefill, 3),
            "decode_tokens_per_s": round((new_tokens - 1) / decode_s, 1), "generated": out}


def forward_logprobs(model, inputs: dict, seq: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """Log-probs of ``seq``'s response under a full forward at the training positions (``shift``:
    the last frame group one temporal position later)."""
    ids = seq.unsqueeze(0)
    pos, _ = MRopeIndex(model.config)(ids, video_grid_thw=inputs["video_grid_thw"],
                                      second_per_grid_ts=inputs["second_per_grid_ts"])
    if shift:
        video = ids[0] == model.config.video_token_id
        pos[0, 0, video & (pos[0, 0] == pos[0, 0][video].max())] += shift
    text = torch.arange(ids.shape[1], device=ids.device).view(1, 1, -1)
    position_ids = torch.cat([text, pos], dim=0)
    with torch.inference_mode():
        logits = model(input_ids=ids, position_ids=position_ids, pixel_values_videos=inputs["pixel_values_videos"],
                       video_grid_thw=inputs["video_grid_thw"]).logits[0].float()
    n = inputs["input_ids"].shape[1]
    lp = torch.log_softmax(logits, -1)
    return lp[torch.arange(n - 1, ids.shape[1] - 1, device=ids.device), seq[n:]]


def logprob_check(model, inputs: dict, generated, sharpen: float = 4.0) -> dict:
    """Rollout log-probs vs the actor's recompute, aligned and one frame group shifted (bf16)."""
    n = inputs["input_ids"].shape[1]
    seq = generated.sequences[0]
    rollout = torch.stack([torch.log_softmax(step[0].float(), -1)[tok] for step, tok in
                           zip(generated.logits, seq[n:])])
    aligned = (forward_logprobs(model, inputs, seq) - rollout).abs().max().item()
    shifted = (forward_logprobs(model, inputs, seq, shift=1) - rollout).abs().max().item()
    return {"logprob_gap_aligned": round(aligned, 5), "logprob_gap_shifted": round(shifted, 5),
            "logprob_check": "PASS" if shifted > 3 * aligned else "FAIL (shift not above bf16 noise)",
            "sharpen": sharpen}


def sharpen_(model, factor: float) -> None:
    """Sharper attention and output (q, k, final norm scaled): random weights barely notice positions."""
    lm = model.model.language_model
    with torch.no_grad():
        lm.norm.weight.mul_(factor)
        for layer in lm.layers:
            layer.self_attn.q_proj.weight.mul_(factor)
            layer.self_attn.k_proj.weight.mul_(factor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (CPU smoke test)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_check.json"))
    args = parser.parse_args()
    dtype = torch.bfloat16
    report: dict = {"device": args.device, "tiny": args.tiny, "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    t0 = time.perf_counter()
    report.update(encoder(args.device, dtype, args.tiny, frames=8 if args.tiny else 64, texts=8 if args.tiny else 64))
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the encoder is gone; the 7B model needs the room
    print(f"encoder: {report['frames_per_s']} frames/s, {report['texts_per_s']} texts/s, bf16, on "
          f"{report['encoder_device']} ({report['encoder_gib']} GiB)", flush=True)
    model, proc = build_qwen(args.device, dtype, args.tiny)
    height, width = (56, 56) if args.tiny else (224, 448)  # 128·28·28 pixels a frame (8 × 16 merged tokens)
    inputs, _ = video_inputs(proc, args.device, 4 if args.tiny else 16, height, width)
    new_tokens = min(args.new_tokens, 8) if args.tiny else args.new_tokens
    speed = rollout(model, inputs, new_tokens)
    generated = speed.pop("generated")
    report.update(speed)
    print(f"rollout: {speed['prompt_tokens']} prompt tokens, prefill {speed['prefill_s']} s, "
          f"{speed['decode_tokens_per_s']} tokens/s decoding", flush=True)
    sharpen_(model, 4.0)
    with torch.inference_mode():
        torch.manual_seed(0)
        generated = model.generate(**inputs, do_sample=True, temperature=1.0, top_k=0, max_new_tokens=8,
                                   min_new_tokens=8, return_dict_in_generate=True, output_logits=True)
    report.update(logprob_check(model, inputs, generated))
    print(f"log-probs (bf16): aligned gap {report['logprob_gap_aligned']}, one frame group shifted "
          f"{report['logprob_gap_shifted']}: {report['logprob_check']}", flush=True)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"total {report['seconds']} s; {args.out}")


if __name__ == "__main__":
    main()
