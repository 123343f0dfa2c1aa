"""Names shared between the plugin, verl's registries and the pieces that read each other's output.

One copy of each: the registration names (what a recipe writes after ``name:`` / ``trainer_mode:``)
and the keys one piece writes and another reads (``extra_fields`` of a trajectory, the reward
manager's ``reward_extra_info``). Importing this module imports nothing else.

    >>> REWARD_MANAGER_NAME, TRAINER_MODE
    ('videorft', 'videorft_sync')
"""

from __future__ import annotations

# -- registry names -----------------------------------------------------------------------------
REWARD_MANAGER_NAME = "videorft"  # reward.reward_manager.name
AGENT_LOOP_NAME = "videorft_agent"  # actor_rollout_ref.rollout.agent.default_agent_loop
ROLLOUT_NAME = "hf"  # actor_rollout_ref.rollout.name (the CPU / HF-transformers rollout server)
PLATFORM_NAME = "cpu"  # verl platform and engine-registry device
TRAINER_MODE = "videorft_sync"  # trainer.v1.trainer_mode

# -- a trajectory's extra_fields, written by the agent loop ---------------------------------------
FRAMES_KEY = "videorft_frames"  # per vision item: path, frame indices, profile, sample fps
ERROR_KEY = "videorft_error"  # None, or why the sample was replaced (decode error, over-long prompt)
REWARD_EXTRA_INFO_KEY = "reward_extra_info"  # verl's own key for the manager's per-sample extras
# T-GRPO: {"video": bool, "planned": int, "acc": [float, ...]} of this trajectory's shuffled-frame
# rollouts (only their accuracies: the rollouts themselves never leave the agent loop)
SHUFFLED_KEY = "videorft_shuffled"

# -- the reward manager's reward_extra_info (one logged curve each) -------------------------------
ACC_KEY = "acc"
FORMAT_KEY = "format"
SEM_KEY = "sem"  # gated semantic term as added to the score
SEM_RAW_KEY = "sem_raw"  # semantic similarity before the accuracy gate
SEM_MEDIA_ERROR_KEY = "sem_media_error"  # 1.0 when the video could not be read for the semantic term
RESPONSE_LENGTH_KEY = "response_length"  # response tokens, read by the trainer's group terms
