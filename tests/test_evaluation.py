"""Evaluation: one teacher-forced pass agrees with decoding, quiz by quiz."""

import math

import pytest
import torch

from culturectl.evaluation import build_eval_sets, evaluate_model
from culturectl.stats import mean_interval, wilson_interval
from vendor_culture.quiz_machine import masked_autoregression, teacher_forced
from vendor_culture.tokens import STRUCTURE_BY_PREDICTED, make_ar_mask, reconfigure
from vendor_culture.world import generate_world_quizzes

# Two logits closer than this can swap their order between a full pass and a cached step.
TIE_TOLERANCE = 1e-4


def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_mean_interval_contains_mean():
    mean, low, high = mean_interval([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4)
    assert low < mean < high
    assert high - mean == pytest.approx(1.96 * 0.2 / math.sqrt(3), rel=1e-3)


def test_eval_sets_deterministic():
    first = build_eval_sets(["grow", "frame"], ["f_B", "A"], 5, seed=3)
    second = build_eval_sets(["grow", "frame"], ["f_B", "A"], 5, seed=3)
    other = build_eval_sets(["grow", "frame"], ["f_B", "A"], 5, seed=4)
    assert all(torch.equal(a.quizzes, b.quizzes) for a, b in zip(first, second))
    assert not torch.equal(first[0].quizzes, other[0].quizzes)


def test_eval_sets_noise_only_on_prompt():
    clean = build_eval_sets(["replace_color"], ["f_B"], 50, seed=1, noise=0.0)[0]
    noisy = build_eval_sets(["replace_color"], ["f_B"], 50, seed=1, noise=0.05)[0]
    changed = (clean.quizzes != noisy.quizzes).any(dim=0).nonzero().flatten()
    # Structure (A, f_A, B, f_B) noises B, the cells at positions 203..302.
    assert changed.numel() > 0
    assert changed.min() >= 203
    assert changed.max() <= 302


@pytest.fixture(scope="module")
def bundled_model():
    from culturectl.checkpoints import BUNDLED_DIR, checkpoints_in, load_checkpoint

    return load_checkpoint(checkpoints_in(BUNDLED_DIR)[0]).model


@pytest.fixture(scope="module")
def mixed_quizzes():
    # The bundled models solve part of these: frame is easiest when predicting A.
    world = generate_world_quizzes(64, ["frame", "replace_color"], torch.Generator().manual_seed(11))
    quizzes = reconfigure(world, STRUCTURE_BY_PREDICTED["A"].struct)
    return quizzes, make_ar_mask(quizzes, (0, 0, 0, 1)).bool()


def test_greedy_forced_equals_cached_decoding(bundled_model, mixed_quizzes):
    quizzes, mask = mixed_quizzes
    _, right = teacher_forced(bundled_model, quizzes)
    forced = (right | ~mask).all(dim=1)
    decoded = masked_autoregression(bundled_model, quizzes.masked_fill(mask, 0), mask, 0.0)
    decoded_correct = (decoded == quizzes).all(dim=1)

    accuracy = forced.float().mean().item()
    assert 0.0 < accuracy < 1.0, f"model accuracy {accuracy} proves nothing"
    assert torch.equal(forced, decoded_correct)


def test_cached_equals_uncached_tokens(bundled_model, mixed_quizzes):
    quizzes, mask = mixed_quizzes
    quizzes, mask = quizzes[:16], mask[:16]
    blank = quizzes.masked_fill(mask, 0)
    cached = masked_autoregression(bundled_model, blank, mask, 0.0)

    uncached = blank.clone()
    with torch.no_grad():
        for position in mask[0].nonzero().flatten().tolist():
            logits = bundled_model(uncached)[:, position]
            uncached[:, position] = logits.argmax(dim=-1)
            differs = uncached[:, position] != cached[:, position]
            for row in differs.nonzero().flatten().tolist():
                top2 = logits[row].topk(2).values
                assert top2[0] - top2[1] < TIE_TOLERANCE, f"quiz {row} differs at {position}"
                uncached[row] = cached[row]
    assert (uncached == cached).float().mean() > 0.99


def test_expected_sampled_matches_sampling(bundled_model):
    eval_sets = build_eval_sets(["replace_color", "frame"], ["f_B"], 48, seed=5)
    records = evaluate_model(bundled_model, 0, "bundled", eval_sets, decode=True, seed=5)
    for record in records:
        expected, sampled = record.expected_sampled, record.sampled
        # Sampled accuracy is a mean of Bernoulli draws whose expectation is `expected`.
        se = math.sqrt(max(expected * (1 - expected), 1e-3) / record.n)
        assert abs(sampled - expected) < 4 * se + 1e-9, record
        assert record.greedy_lo <= record.greedy <= record.greedy_hi
