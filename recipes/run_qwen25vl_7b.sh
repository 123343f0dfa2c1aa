#!/usr/bin/env bash
# VideoRFT GRPO on one node of 8 GPUs (paper: 8×A800 80 GB), Qwen2.5-VL-7B after the SFT stage.
# Usage: DATA=/data/videorft MODEL=/ckpt/qwen25vl-7b-sft bash recipes/run_qwen25vl_7b.sh [overrides...]
set -euo pipefail
: "${DATA:?set DATA to the folder holding the RL json and its media}"
: "${MODEL:?set MODEL to the SFT checkpoint (or Qwen/Qwen2.5-VL-7B-Instruct)}"
export FORCE_QWENVL_VIDEO_READER=decord
videorft doctor
python -m verl.trainer.main_ppo +recipe=videorft \
    data.train_files="$DATA/VideoRFT-RL-310K.json" \
    data.val_files="$DATA/val.json" \
    data.videorft.media_root="$DATA" \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2 \
    actor_rollout_ref.model.enable_gradient_checkpointing=true \
    trainer.n_gpus_per_node=8 trainer.nnodes=1 \
    trainer.save_freq=100 trainer.test_freq=50 \
    "$@"
