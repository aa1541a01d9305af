"""The golden re-check on a device judges decision floors by what its few samples can measure."""

from __future__ import annotations

from math import comb

from edgekit.parity.golden import flips_allowed, small_sample_rule
from edgekit.parity.metrics import rule_for


def _tail(n: int, q: float, k: int) -> float:
    """P(more than k flips in n samples at flip rate q)."""
    return sum(comb(n, j) * q ** j * (1 - q) ** (n - j) for j in range(k + 1, n + 1))


def test_flips_allowed_is_the_binomial_99_percent_quantile():
    for n, floor in ((32, 0.98), (32, 0.99), (8, 0.98), (500, 0.98), (64, 0.9)):
        k = flips_allowed(n, floor)
        q = 1 - floor
        assert _tail(n, q, k) <= 0.01 < _tail(n, q, k - 1) if k else _tail(n, q, 0) <= 0.01
    assert flips_allowed(32, 1.0) == 0 and flips_allowed(0, 0.98) == 0


def test_int8_floors_are_lowered_on_32_samples_and_nothing_else_moves():
    rule = rule_for("int8")
    lowered, note = small_sample_rule(rule, 32)
    assert lowered.min_top1 == (32 - 3) / 32 and lowered.min_position_agreement == (32 - 3) / 32
    assert lowered.max_accuracy_drop == 100 * flips_allowed(32, 0.99) / 32 == 6.25
    # cosine and SNR statistics are measured, not counted: unchanged
    assert (lowered.min_mean_cosine, lowered.min_p1_cosine, lowered.min_snr_db) == \
        (rule.min_mean_cosine, rule.min_p1_cosine, rule.min_snr_db)
    assert note and "32 golden samples" in note and "min_top1 0.98 -> 0.906" in note
    # one flip in 32 (the LSTM seen refused) passes; a third of the decisions flipped still fails
    assert 21 / 32 < lowered.min_top1 <= 31 / 32


def test_rules_without_decision_floors_are_untouched():
    for precision in ("fp32",):
        rule = rule_for(precision)
        assert small_sample_rule(rule, 16) == (rule, None)
    big, _ = small_sample_rule(rule_for("int8"), 100_000)  # many samples: the floors barely move
    assert 0.978 < big.min_top1 <= 0.98 and 1.0 <= big.max_accuracy_drop < 1.1
