"""End to end: verl's real ``main_ppo`` with ``+recipe=videorft_tgrpo`` on CPU (the CPU recipe after it).

Two GRPO steps of the tiny model on the demo data with T-GRPO on: the step metrics in verl's log
carry ``tgrpo/ordered_acc``, ``tgrpo/shuffled_acc``, ``tgrpo/bonus_rate`` and
``reward/temporal_bonus/*``, every video group got its shuffled rollouts (``n_shuffled`` = n/2 = 2
per prompt), and the step completes.
"""

from __future__ import annotations

import pytest

pytest.importorskip("verl")

E2E_TIMEOUT_S = 480


@pytest.mark.slow
@pytest.mark.timeout(E2E_TIMEOUT_S + 120)
def test_tgrpo_metrics_in_verls_log(tmp_path):
    from verl_videorft import demo

    inputs = demo.prepare_inputs(tmp_path)
    overrides = [o if o != "+recipe=videorft_cpu" else "+recipe=[videorft_tgrpo,videorft_cpu]"
                 for o in demo.trainer_overrides(inputs, tmp_path, steps=2)] + ["trainer.save_freq=-1"]
    assert "+recipe=[videorft_tgrpo,videorft_cpu]" in overrides
    result = demo.run_trainer(overrides, tmp_path, timeout_s=E2E_TIMEOUT_S, echo=False)
    log = (tmp_path / "train.log").read_text()
    assert result.returncode == 0, log[-6000:]
    rows = demo.read_metrics(tmp_path)
    assert [r["step"] for r in rows][:2] == [1, 2], rows
    for row in rows[:2]:
        for key in ("tgrpo/ordered_acc", "tgrpo/shuffled_acc", "tgrpo/bonus_rate", "reward/temporal_bonus/mean"):
            assert key in row, f"{key} missing from {sorted(row)}"
        groups = row["tgrpo/video_groups"]
        assert groups >= 1 and row["tgrpo/groups_without_shuffled"] == 0
        assert row["tgrpo/shuffled_rollouts"] == 2 * groups and row["tgrpo/shuffled_missing"] == 0
    assert "tgrpo/bonus_rate" in log  # verl's console logger prints it too
