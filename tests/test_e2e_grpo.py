"""End to end: verl's real ``main_ppo`` GRPO on CPU with the project's dataset, agent loop and rewards.

Runs what ``make demo`` runs (tiny random Qwen2.5-VL, demo data, ``+recipe=videorft_cpu``) under a
hard timeout, so a hang fails in minutes instead of eating CI's budget. Asserts: >= 2 steps logged,
reward components in the metrics, a checkpoint on disk, a corrupt video in step 1 flagged without
stopping the step, and that after the first update the rollout
generated with the new weights (verl's ``rollout_corr/*`` and ``training/rollout_probs_diff_*``
compare the rollout's log-probs of its own samples with the actor's recomputation; a stale rollout
would differ by the update, which the test makes large enough to tell the two apart).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("verl")

E2E_TIMEOUT_S = 420  # < 8 minutes including start-up, on 2 cores


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory):
    from verl_videorft import demo

    workdir = tmp_path_factory.mktemp("e2e")
    inputs = demo.prepare_inputs(workdir)
    # The first prompt's video is corrupt: step 1 must go on without it.
    data_dir = inputs["train"].parent
    (data_dir / "videos" / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 8)
    lines = inputs["train"].read_text().splitlines()
    first = json.loads(lines[0])
    first.update(problem_id="bad-video", path="./videos/corrupt.mp4")
    inputs["train"] = data_dir / "train_with_bad.jsonl"
    inputs["train"].write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    overrides = demo.trainer_overrides(inputs, workdir, steps=2) + [
        "data.shuffle=false",
        "++data.videorft.on_decode_error=raise",  # the dataset raises, videorft_agent catches + flags
        # Random tiny policy: every reward is 0, so GRPO's advantages are 0. An entropy bonus gives the
        # update a real gradient, so the step-1 weights differ visibly from the initial ones.
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "actor_rollout_ref.actor.entropy_coeff=0.1",
        "actor_rollout_ref.actor.calculate_entropy=true",
        "actor_rollout_ref.rollout.calculate_log_probs=true",
        f"trainer.rollout_data_dir={workdir / 'rollouts'}",
    ]
    result = demo.run_trainer(overrides, workdir, timeout_s=E2E_TIMEOUT_S, echo=False)
    log = (workdir / "train.log").read_text()
    return workdir, result, log


@pytest.mark.slow
@pytest.mark.timeout(E2E_TIMEOUT_S + 120)
def test_two_grpo_steps_complete_with_rewards_and_checkpoint(e2e_run):
    from verl_videorft import demo

    workdir, result, log = e2e_run
    assert result.returncode == 0, f"trainer failed (exit {result.returncode}); log tail:\n{log[-6000:]}"
    rows = demo.read_metrics(workdir)
    assert [r["step"] for r in rows][:2] == [1, 2], rows
    for row in rows[:2]:
        assert row["timing_s/gen"] > 0 and row["timing_s/update_actor"] > 0
        # every component of the videorft manager, logged by the videorft_sync trainer
        for comp in ("acc", "format", "sem", "length_bonus"):
            assert f"reward/{comp}/mean" in row, f"reward/{comp} missing from {sorted(row)}"
    # step 1 holds the corrupt prompt: its n rollouts are flagged (and scored 0), the step completes
    assert rows[0]["videorft/bad_samples"] == 4 and rows[1]["videorft/bad_samples"] == 0
    ckpts = demo.checkpoints(workdir)
    assert ckpts and any(ckpts[-1].rglob("*")), "no checkpoint written"


@pytest.mark.slow
@pytest.mark.timeout(E2E_TIMEOUT_S + 120)
def test_rollout_uses_updated_weights(e2e_run):
    from verl_videorft import demo

    workdir, result, log = e2e_run
    rows = demo.read_metrics(workdir)
    assert len(rows) >= 2, log[-4000:]
    step2 = rows[1]
    # The update moved the policy: its KL to the initial (reference) weights on step-2 samples...
    assert step2["actor/kl_loss"] > 1e-3, step2["actor/kl_loss"]
    # ...while the rollout's own log-probs match the updated actor's recomputation about as closely
    # as on step 1, when both held the initial weights: a stale rollout would sit at ~kl_loss.
    assert step2["rollout_corr/k3_kl"] < 0.1 * step2["actor/kl_loss"], (step2["rollout_corr/k3_kl"],
                                                                         step2["actor/kl_loss"])
    assert step2["rollout_corr/k3_kl"] < 10 * max(rows[0]["rollout_corr/k3_kl"], 1e-6)
    assert step2["training/rollout_probs_diff_max"] < 1e-3
