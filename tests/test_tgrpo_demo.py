"""The demo's T-GRPO pieces: the variant's overrides, the CLI flag, and the report section."""

from __future__ import annotations

import pytest

from verl_videorft.demo.tgrpo import TGRPO_RECIPE, tgrpo_section, tgrpo_summary, with_tgrpo


@pytest.mark.parametrize("given, expected", [
    (["+recipe=videorft_cpu", "x=1"], [TGRPO_RECIPE, "x=1"]),
    (["+recipe=videorft_qwen3vl_cpu"], ["+recipe=videorft_qwen3vl_cpu", "++reward.videorft.temporal.enable=true"]),
])
def test_with_tgrpo(given, expected):
    assert with_tgrpo(given) == expected


def test_cli_flag_parses():
    import argparse

    from verl_videorft.cli.demo import add_arguments

    args = add_arguments(argparse.ArgumentParser()).parse_args(["--grpo-only", "--steps", "2", "--tgrpo"])
    assert args.tgrpo and args.grpo_only and args.steps == 2


GRPO = [{"step": s, "reward/acc/mean": a, "critic/score/mean": a + 1} for s, a in enumerate([0.1, 0.2, 0.3, 0.4], 1)]
TGRPO = [{"step": s, "reward/acc/mean": a, "critic/score/mean": a + 1.1, "tgrpo/ordered_acc": a,
          "tgrpo/shuffled_acc": 0.25, "tgrpo/bonus_rate": float(a >= 0.2), "reward/temporal_bonus/mean": 0.1}
         for s, a in enumerate([0.1, 0.2, 0.5, 0.6], 1)]


def test_summary_quarters():
    s = tgrpo_summary(TGRPO)
    assert (s["acc_first_quarter"], s["acc_last_quarter"], s["tgrpo/bonus_rate"]) == pytest.approx((0.1, 0.6, 0.75))
    assert tgrpo_summary(GRPO)["tgrpo/bonus_rate"] is None


def test_section_shows_both_runs_held_out_and_each_step():
    text = tgrpo_section(GRPO, TGRPO, held_out={"grpo": {"multiple choice": 0.3}, "tgrpo": {"multiple choice": 0.5}},
                         order_type="multiple choice")
    assert "| GRPO | 4 | 0.100 | 0.400 |" in text and "| T-GRPO | 4 | 0.100 | 0.600 |" in text
    assert "| tgrpo | 0.500 |" in text and "order-dependent: `multiple choice`" in text
    assert "| 4 | 0.600 | 0.250 | 1.000 | 0.100 |" in text


def test_section_lists_held_out_rows_in_the_callers_order():
    rows = {"T-GRPO": {"multiple choice": 0.5}, "T-GRPO, shuffled frames": {"multiple choice": 0.25}}
    text = tgrpo_section(GRPO, TGRPO, held_out=rows, order_type="multiple choice")
    assert text.index("| T-GRPO | 0.500 |") < text.index("| T-GRPO, shuffled frames | 0.250 |")
