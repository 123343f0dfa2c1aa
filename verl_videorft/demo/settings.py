"""Every size, step count and learning rate of the miniature pipeline, with the reason for each.

Measured here with plain PyTorch before wiring verl's stages (2 cores; a Qwen2.5-VL of 0.77 M
parameters): such a model reads a shape's colour from the frames only when the shape fills most of
the frame, and then needs a few hundred supervised samples to do it; an order question is learned
fastest of the three tasks once it is in the SFT data; held-out accuracy after ~100 SFT steps of 8 is
about a third, after ~200 about two thirds. GRPO from the 100-step checkpoint (lr 3e-4, 8 prompts x
8 rollouts) gained ~9 points of held-out accuracy in its first 10 steps. The settings below leave
GRPO that headroom: a short SFT (the paper's cold start teaches the format; RL brings the accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verl_videorft.demo.sft import SFTSettings

# 4 frames of 56 x 56: two temporal patches of 2 x 2 merged tokens = 8 video tokens. Few tokens keep
# a step cheap, and each merged token covers a quarter of the frame, so a shape is never a sliver
# of a token (at 112 x 112 a tiny model learnt the same tasks no faster, at 4x the vision cost).
DEMO_PROFILE = {"nframes": 4, "min_pixels": 56 * 56, "max_pixels": 56 * 56, "size_multiple": 28}
PROFILE_NAME = "cpu_demo"  # recipes/recipe/videorft_cpu.yaml defines it with DEMO_PROFILE's values


@dataclass(frozen=True)
class ModelSize:
    """Qwen2.5-VL dims. Text 128 wide x 4 layers learns the tasks (64 x 2, the test default, learns
    too slowly to show anything in minutes); vision 32 x 2 already separates the colours linearly at
    initialisation (a probe on its mean output: 100 %), so its width is not the bottleneck; a
    vocabulary of 800 with the task words makes each of them one token (responses of 16-32 tokens)."""

    hidden_size: int = 128
    num_layers: int = 4
    vision_hidden_size: int = 32
    vision_depth: int = 2
    vocab_size: int = 800
    encoder_image_size: int = 32  # tiny SigLIP: 4 x 4 patches of 8 px


@dataclass(frozen=True)
class GRPOSettings:
    """The GRPO run on top of ``+recipe=videorft_cpu`` (paper values in the recipe stay unless named)."""

    steps: int = 40
    prompts_per_step: int = 8  # paper: 8
    n: int = 8  # rollouts per prompt; paper: 8
    lr: float = 2e-4  # paper 1e-6 for 7B; a 1 M model needs far larger steps (1e-3 collapsed in 2 steps)
    kl_coef: float = 0.04  # paper's beta
    max_response_length: int = 48  # SFT responses are 16-32 tokens with the demo tokenizer
    # Length bonus scaled like the paper's window (320-512 of 1024 tokens, i.e. 31-50 % of the limit),
    # widened to the short answers' 16-32 tokens so a right answer of usual length earns it.
    length_min_tokens: int = 16
    length_max_tokens: int = 32
    timeout_s: int = 1200


@dataclass(frozen=True)
class DemoSettings:
    seed: int = 0
    n_train: int = 900  # 300 clips per task: fewer and SFT memorises them (held-out stays at chance)
    n_test: int = 210  # the held-out benchmark: 70 questions per task
    cot_per_task: int | None = None  # SFT on every training record's CoT (None) or the first k per task
    model: ModelSize = field(default_factory=ModelSize)
    encoder_pairs: int = 300  # training clips the encoder sees (decoding all 900 costs more than training)
    encoder_steps: int = 400  # held-out AUC 0.98 (200 steps at 5e-3: 0.87; 300 at 1e-2: 0.77)
    encoder_lr: float = 3e-3
    sft: SFTSettings = field(default_factory=lambda: SFTSettings(steps=130, batch_size=8, lr=1e-3))
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    eval_batch_size: int = 32
    prompt_style: str = "video_r1"  # its SFT system prompt is RL's default one; the R1 prompt is not (README)
