"""Tiny random models built locally from configs (no hub): for tests, benchmarks and ``make demo``.

>>> path = build_tiny_qwen25vl("/tmp/tiny-qwen")          # doctest: +SKIP
>>> path3 = build_tiny_qwen3vl("/tmp/tiny-qwen3")         # doctest: +SKIP
>>> AutoModelForImageTextToText.from_pretrained(path)      # doctest: +SKIP

The tokenizer is a byte-level BPE trained on the project's own prompt text, with the Qwen special
tokens the processor and chat template need; the chat template reproduces Qwen2-VL's turn format
(default system prompt when none is given, one ``<|vision_start|><|video_pad|><|vision_end|>`` per
vision item). Weights are random: these models exist to exercise real code paths, not to reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from verl_videorft.prompts import QUESTION_TEMPLATE, SFT_SYSTEM_PROMPT, TYPE_SUFFIX

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
# Plain (non-special) added tokens, as in Qwen2.5: the reasoning tags survive skip_special_tokens.
REASONING_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

# Qwen2-VL turn format, written for this project.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or 'image' in item -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'video' or 'video' in item -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in item -%}{{- item['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def tokenizer_corpus(extra_text: Sequence[str] = ()) -> list[str]:
    """The text the tiny tokenizers are trained on: the words prompts and rewards use, plus ``extra_text``."""
    words = (
        "let me think wait Hmm oh I see the video shows a red blue green yellow circle square "
        "triangle moving left right up down how many objects are there answer option A B C D E "
        "0 1 2 3 4 5 6 7 8 9 . , ? ! first then so the final count is speed distance frame"
    )
    return [QUESTION_TEMPLATE, SFT_SYSTEM_PROMPT, *TYPE_SUFFIX.values(), words, *extra_text] * 4


def build_tiny_tokenizer(vocab_size: int = 600, extra_text: Sequence[str] = ()):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with Qwen's special tokens and chat template.

    ``extra_text`` joins the training corpus, so a task's own words become single tokens (shorter
    responses, fewer decoding steps).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=QWEN_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(tokenizer_corpus(extra_text), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=QWEN_SPECIAL_TOKENS[1:], padding_side="left",
    )
    fast.add_tokens(REASONING_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_qwen25vl(out_dir: str | Path, *, hidden_size: int = 64, num_layers: int = 2,
                        vision_hidden_size: int = 32, vision_depth: int = 2, vocab_size: int = 600,
                        extra_text: Sequence[str] = (), seed: int = 0) -> Path:
    """Save a tiny random Qwen2.5-VL (model, tokenizer, processor) to ``out_dir``; return the path.

    The defaults are the smallest that exercise every code path (tests); ``make demo`` passes a
    size that learns (see :mod:`verl_videorft.demo`).
    """
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    out = Path(out_dir)
    if (out / "config.json").exists() and (out / "tokenizer_config.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(vocab_size, extra_text)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    head_dim = hidden_size // 4
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=8192, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                             "mrope_section": _mrope_section(head_dim)},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=vision_depth, hidden_size=vision_hidden_size, intermediate_size=2 * vision_hidden_size,
            num_heads=2, out_hidden_size=hidden_size, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
            window_size=112, fullatt_block_indexes=[vision_depth - 1], in_chans=3,
            tokens_per_second=2,  # Qwen2.5-VL-7B's config.json (transformers' default is 4)
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(out)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_qwen3vl(out_dir: str | Path, *, hidden_size: int = 64, num_layers: int = 2,
                       seed: int = 0) -> Path:
    """Save a tiny random Qwen3-VL (model, tokenizer, processor) to ``out_dir``; return the path.

    Patch 16 × merge 2 as the released Qwen3-VL, so frames must be multiples of 32 a side; the
    processor writes ``<t seconds>`` before each frame pair, as Qwen3-VL's does.
    """
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    out = Path(out_dir)
    if (out / "config.json").exists() and (out / "tokenizer_config.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    head_dim = hidden_size // 4
    config = Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2, head_dim=head_dim,
            max_position_embeddings=8192,
            rope_parameters={"rope_type": "default", "rope_theta": 5e6,
                             "mrope_section": _mrope_section(head_dim), "mrope_interleaved": True},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden_size,
            patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
            deepstack_visual_indexes=[0], in_channels=3,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(out)
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2),
        video_processor=Qwen3VLVideoProcessor(), tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _mrope_section(head_dim: int) -> list[int]:
    # Qwen2.5-VL splits head_dim/2 rotary frequencies into (temporal, height, width) sections.
    half = head_dim // 2
    t = half // 4 or 1
    h = (half - t) // 2
    return [t, h, half - t - h]


def build_tiny_siglip(out_dir: str | Path, *, image_size: int = 32, vocab_size: int = 600,
                      extra_text: Sequence[str] = (), seed: int = 0) -> Path:
    """Save a tiny random SigLIP (model, tokenizer, image processor) to ``out_dir``; return the path.

    Text length 64 with max-length padding, as the paper's SigLIP so400m.
    """
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    out = Path(out_dir)
    if (out / "config.json").exists() and (out / "tokenizer_config.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(vocab_size, extra_text)
    tokenizer.model_max_length = 64
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(image_size=image_size, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2),
    )
    torch.manual_seed(seed)
    SiglipModel(config).save_pretrained(out)
    SiglipImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
