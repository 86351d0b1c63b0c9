"""vendor_culture.culture: decoding with and without the KV cache, the three-pass
generation, validation probabilities, the keep rule and the rotation of generating models."""

from __future__ import annotations

import pytest
import torch

from vendor_culture.culture import (
    BACKWARD,
    FORWARD,
    IN_BETWEEN,
    KEEP_RULE_PRESETS,
    KEPT,
    TOO_FEW_FAILING,
    TOO_MANY_FAILING,
    KeepRule,
    answer_logprob,
    culture_rounds,
    full_recompute_autoregression,
    generate_candidates,
    judge,
    keep_mask,
    record_culture_quizzes,
    validation_probabilities,
)
from vendor_culture.mygpt import MyGPT, MyGPTConfig
from vendor_culture.quiz_machine import masked_autoregression, teacher_forced
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import (
    GENERATION_STRUCTURE,
    MARKER_TOKENS,
    QUIZ_LEN,
    SLOT_LEN,
    UNDERSTOOD_STRUCTURES,
    VOCAB_SIZE,
    WORLD_STRUCT,
    make_ar_mask,
    reconfigure,
)
from vendor_culture.world import generate_world_quizzes

# Positions of the f_B cells in structure (A, f_A, B, f_B).
F_B_CELLS = slice(3 * SLOT_LEN + 1, QUIZ_LEN)


def small_model(seed: int, dim_keys: int = 8) -> MyGPT:
    """A random two-block MyGPT with value heads of 8 features."""
    torch.manual_seed(seed)
    config = MyGPTConfig(dim_model=32, dim_keys=dim_keys, dim_hidden=48, nb_heads=4, nb_blocks=2)
    return MyGPT(config).eval()


@pytest.fixture(scope="module")
def models() -> list[MyGPT]:
    return [small_model(seed) for seed in range(3)]


@pytest.fixture(scope="module")
def world() -> torch.Tensor:
    return generate_world_quizzes(6, RELEASED_TASKS, torch.Generator().manual_seed(4))


@pytest.fixture(scope="module")
def few(world) -> torch.Tensor:
    """Three quizzes, enough for the slow decoding by full recomputation."""
    return world[:3]


# ---------------------------------------------------------------------------
# Decoding


@pytest.mark.parametrize("structure", UNDERSTOOD_STRUCTURES, ids=lambda s: ",".join(s.struct))
def test_cached_equals_full_recompute_greedy(models, few, structure):
    quizzes = reconfigure(few, structure.struct)
    mask = make_ar_mask(quizzes, structure.ar_mask).bool()
    blank = quizzes.masked_fill(mask, 0)

    cached = masked_autoregression(models[0], blank, mask, 0.0)
    full = full_recompute_autoregression(models[0], blank, mask, 0.0)

    assert torch.equal(cached, full)
    assert torch.equal(cached[~mask], quizzes[~mask])


def test_cached_equals_full_recompute_sampled(few):
    # Query/key heads (12 features) wider than value heads (8) take another attention path.
    model = small_model(7, dim_keys=12)
    mask = make_ar_mask(few, (0, 0, 0, 1)).bool()
    blank = few.masked_fill(mask, 0)

    cached = masked_autoregression(model, blank, mask, 1.0, torch.Generator().manual_seed(9))
    full = full_recompute_autoregression(model, blank, mask, 1.0, torch.Generator().manual_seed(9))

    assert torch.equal(cached, full)


def test_cached_equals_full_recompute_ragged_mask(models, few):
    # Rows that predict different slots decode in one batch; unmasked rows keep their tokens.
    mask = make_ar_mask(few, (0, 0, 0, 1)).bool()
    mask[::2] = make_ar_mask(few[::2], (0, 0, 1, 0)).bool()
    blank = few.masked_fill(mask, 0)

    cached = masked_autoregression(models[2], blank, mask, 0.7, torch.Generator().manual_seed(2))
    full = full_recompute_autoregression(models[2], blank, mask, 0.7, torch.Generator().manual_seed(2))

    assert torch.equal(cached, full)
    assert torch.equal(cached[~mask], few[~mask])


def test_temperature_zero_is_greedy_argmax(models, world):
    mask = make_ar_mask(world, (0, 0, 0, 1)).bool()
    decoded = masked_autoregression(models[0], world.masked_fill(mask, 0), mask, 0.0)

    # Given its own output as the prefix, every decoded cell is the model's argmax.
    _, argmax_right = teacher_forced(models[0], decoded)
    assert bool(argmax_right[mask].all())

    # No generator is needed, and a generator in any state changes nothing.
    again = masked_autoregression(models[0], world.masked_fill(mask, 0), mask, 0.0, torch.Generator().manual_seed(5))
    assert torch.equal(decoded, again)


def test_sampling_depends_on_generator_only(models, world):
    mask = make_ar_mask(world, (0, 0, 0, 1)).bool()
    blank = world.masked_fill(mask, 0)
    first = masked_autoregression(models[0], blank, mask, 1.0, torch.Generator().manual_seed(3))
    second = masked_autoregression(models[0], blank, mask, 1.0, torch.Generator().manual_seed(3))
    other = masked_autoregression(models[0], blank, mask, 1.0, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


# ---------------------------------------------------------------------------
# Generation


def test_candidates_are_world_quizzes(models):
    candidates = generate_candidates(models[0], 5, torch.Generator().manual_seed(0), batch_size=2)

    assert candidates.shape == (5, QUIZ_LEN)
    assert candidates.dtype == torch.int64
    markers = torch.tensor([MARKER_TOKENS[name] for name in WORLD_STRUCT])
    assert torch.equal(candidates[:, ::SLOT_LEN], markers.expand(5, -1))
    cells = make_ar_mask(candidates, (1, 1, 1, 1)).bool()
    assert bool(((candidates[cells] >= 0) & (candidates[cells] < VOCAB_SIZE)).all())


def test_candidates_same_seed_same_quizzes(models):
    first = generate_candidates(models[1], 4, torch.Generator().manual_seed(6))
    second = generate_candidates(models[1], 4, torch.Generator().manual_seed(6))
    other = generate_candidates(models[1], 4, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_greedy_candidates_ignore_batch_size(models):
    # Sampled batches draw their random numbers in another order, so only greedy
    # generation returns the same quizzes whatever the batch size.
    whole = generate_candidates(models[1], 4, torch.Generator(), 0.0, 0.0, batch_size=4)
    split = generate_candidates(models[1], 4, torch.Generator(), 0.0, 0.0, batch_size=3)
    assert torch.equal(whole, split)


def test_recycled_quizzes_keep_their_f_b(models, world):
    recycled = world[:3]
    candidates = generate_candidates(models[0], 4, torch.Generator(), 0.0, 0.0, recycled=recycled)

    # Greedy passes two and three, run by hand from the recycled quizzes.
    quizzes = reconfigure(recycled, GENERATION_STRUCTURE.struct)
    quizzes = masked_autoregression(models[0], quizzes, make_ar_mask(quizzes, (0, 1, 1, 1)), 0.0)
    quizzes = reconfigure(quizzes, WORLD_STRUCT)
    expected = masked_autoregression(models[0], quizzes, make_ar_mask(quizzes, (0, 0, 0, 1)), 0.0)
    assert torch.equal(candidates[:3], expected)

    # The row past the recycled ones is written from nothing.
    fresh = generate_candidates(models[0], 1, torch.Generator(), 0.0, 0.0)
    assert torch.equal(candidates[3:], fresh)


# ---------------------------------------------------------------------------
# Validation


def test_validation_without_noise_is_both_directions(models, world):
    table = validation_probabilities(models[:2], world[:4], torch.Generator(), nb_rounds=2, noise=0.0)

    assert table.shape == (4, 2)
    for index, model in enumerate(models[:2]):
        forward = answer_logprob(model, reconfigure(world[:4], FORWARD.struct), FORWARD)
        backward = answer_logprob(model, reconfigure(world[:4], BACKWARD.struct), BACKWARD)
        torch.testing.assert_close(table[:, index], (forward + backward).exp())


def test_answer_logprob_sums_answer_cells(models, world):
    logprob, _ = teacher_forced(models[0], world[:2])
    expected = logprob[:, F_B_CELLS].sum(dim=1)
    torch.testing.assert_close(answer_logprob(models[0], world[:2], FORWARD, batch_size=1), expected)


def test_validation_noise_touches_prompts_only(models, world):
    class Recorder:
        """Wraps a model and keeps every batch it scores."""

        def __init__(self, model):
            self.model, self.seen = model, []

        def __call__(self, quizzes):
            self.seen.append(quizzes.clone())
            return self.model(quizzes)

    recorder = Recorder(models[0])
    table = validation_probabilities([recorder], world, torch.Generator().manual_seed(0), nb_rounds=3, noise=0.5)

    assert table.shape == (world.size(0), 1)
    assert bool(((table >= 0) & (table <= 1)).all())
    assert len(recorder.seen) == 6  # 3 rounds x 2 directions
    for number, seen in enumerate(recorder.seen):
        structure = FORWARD if number % 2 == 0 else BACKWARD
        clean = reconfigure(world, structure.struct)
        changed = (seen != clean).any(dim=0).nonzero().flatten()
        # Both directions noise slot 2 only, cells 203..302.
        assert changed.numel() > 0
        assert changed.min() >= 2 * SLOT_LEN + 1
        assert changed.max() < 3 * SLOT_LEN


def test_validation_rounds_must_be_positive(models, world):
    with pytest.raises(ValueError, match="nb_rounds"):
        validation_probabilities(models[:1], world, torch.Generator(), nb_rounds=0)


# ---------------------------------------------------------------------------
# The keep rule


def verdict_of(row, rule=KeepRule()):
    result = judge(torch.tensor([row]), rule)
    return bool(result.keep[0]), int(result.reason[0]), int(result.nb_failing[0])


@pytest.mark.parametrize(
    "row, kept, reason, failing",
    [
        ([0.99, 0.98, 0.97, 0.99, 0.96], False, TOO_FEW_FAILING, 0),  # all understand
        ([0.95, 0.95, 0.95, 0.95, 0.95], False, TOO_FEW_FAILING, 0),  # 0.95 exactly understands
        ([0.99, 0.98, 0.97, 0.99, 0.10], True, KEPT, 1),  # one fails
        ([0.99, 0.98, 0.97, 0.50, 0.00], True, KEPT, 2),  # two fail, 0.5 exactly fails
        ([0.99, 0.98, 0.20, 0.30, 0.00], False, TOO_MANY_FAILING, 3),  # three fail
        ([0.00, 0.00, 0.00, 0.00, 0.00], False, TOO_MANY_FAILING, 5),  # all fail
        ([0.99, 0.98, 0.97, 0.70, 0.10], False, IN_BETWEEN, 1),  # one in between
        ([0.99, 0.98, 0.97, 0.99, 0.51], False, IN_BETWEEN, 0),  # just above "fails"
        ([0.99, 0.98, 0.97, 0.949, 0.1], False, IN_BETWEEN, 1),  # just below "understands"
        ([0.99, 0.20, 0.10, 0.60, 0.10], False, IN_BETWEEN, 3),  # in between wins over too many
        ([0.99, 0.98, 0.97, float("nan"), 0.1], False, IN_BETWEEN, 1),  # NaN counts as in between
    ],
)
def test_keep_rule_original(row, kept, reason, failing):
    assert verdict_of(row) == (kept, reason, failing)


@pytest.mark.parametrize(
    "row, kept, reason",
    [
        ([0.99, 0.98, 0.97, 0.99, 0.10], True, KEPT),  # 4 of 5 understand, one fails
        ([0.99, 0.98, 0.97, 0.10, 0.10], False, TOO_MANY_FAILING),  # two fail
        ([0.99, 0.98, 0.97, 0.99, 0.99], False, TOO_FEW_FAILING),  # nobody fails
        ([0.99, 0.98, 0.97, 0.80, 0.10], False, IN_BETWEEN),  # 3 understand, 1 unsure, 1 fails
    ],
)
def test_keep_rule_all_but_one_preset(row, kept, reason):
    rule = KEEP_RULE_PRESETS["all-but-one"]
    assert (rule.min_failing, rule.max_failing) == (1, 1)
    assert verdict_of(row, rule)[:2] == (kept, reason)


def test_keep_rule_original_preset_is_default():
    assert KEEP_RULE_PRESETS["original"] == KeepRule(understands=0.95, fails=0.5, min_failing=1, max_failing=2)


def test_keep_rule_table_of_many_quizzes():
    table = torch.tensor([
        [1.0, 1.0, 0.0],
        [1.0, 1.0, 1.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, 0.0],
        [1.0, 0.7, 0.0],
    ])
    verdict = judge(table)
    assert verdict.keep.tolist() == [True, False, True, False, False]
    assert verdict.nb_failing.tolist() == [1, 0, 2, 3, 1]
    assert verdict.reason.tolist() == [KEPT, TOO_FEW_FAILING, KEPT, TOO_MANY_FAILING, IN_BETWEEN]
    assert verdict.understands[0].tolist() == [True, True, False]
    assert verdict.fails[0].tolist() == [False, False, True]
    assert torch.equal(keep_mask(table), verdict.keep)


def test_keep_rule_custom_thresholds():
    rule = KeepRule(understands=0.8, fails=0.2, min_failing=0, max_failing=0)
    assert verdict_of([0.85, 0.9, 0.8], rule)[:2] == (True, KEPT)
    assert verdict_of([0.85, 0.9, 0.2], rule)[:2] == (False, TOO_MANY_FAILING)
    assert verdict_of([0.85, 0.9, 0.5], rule)[:2] == (False, IN_BETWEEN)


def test_keep_rule_empty_table():
    verdict = judge(torch.zeros(0, 5))
    assert verdict.keep.shape == (0,)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(understands=0.5, fails=0.5), "fails < understands"),
        (dict(understands=1.5), "understands <= 1"),
        (dict(fails=-0.1), "0 <= fails"),
        (dict(min_failing=3, max_failing=2), "min_failing <= max_failing"),
        (dict(min_failing=-1), "0 <= min_failing"),
    ],
)
def test_keep_rule_rejects_invalid_settings(arguments, message):
    with pytest.raises(ValueError, match=message):
        KeepRule(**arguments)


def test_judge_rejects_a_vector():
    with pytest.raises(ValueError, match="nb_quizzes, nb_models"):
        judge(torch.zeros(5))


# ---------------------------------------------------------------------------
# Rounds


def test_rounds_rotate_generating_models(models):
    rounds = culture_rounds(models, [2, 0], 2, torch.Generator().manual_seed(0), nb_averaging_rounds=1)
    numbers_and_writers = [(r.number, r.generating_model) for r in (next(rounds) for _ in range(4))]
    assert numbers_and_writers == [(0, 2), (1, 0), (2, 2), (3, 0)]


def test_round_counts_are_consistent(models):
    result = next(culture_rounds(models, [0], 4, torch.Generator().manual_seed(1), nb_averaging_rounds=1))

    nb_validated = int((~result.trivial).sum())
    assert result.candidates.shape == (4, QUIZ_LEN)
    assert result.probabilities.shape == (nb_validated, len(models))
    assert result.validated.size(0) == nb_validated
    assert result.kept.size(0) + result.rejected.size(0) == nb_validated


def test_rounds_reject_bad_generating_models(models):
    with pytest.raises(ValueError, match="out of range"):
        next(culture_rounds(models, [3], 2, torch.Generator()))
    with pytest.raises(ValueError, match="empty"):
        next(culture_rounds(models, [], 2, torch.Generator()))


def test_record_culture_quizzes_layout(models):
    # Random models fail every quiz, so with max_failing = 3 every validated quiz is kept.
    rule = KeepRule(min_failing=0, max_failing=3, fails=1.0 - 1e-9, understands=1.0)
    train, test = record_culture_quizzes(
        models, 3, 2, torch.Generator().manual_seed(0), max_rounds=4, nb_per_round=3,
        rule=rule, nb_averaging_rounds=1,
    )
    assert isinstance(train, list) and isinstance(test, list)
    assert train[0].shape == (3, QUIZ_LEN)
    assert test[0].shape == (2, QUIZ_LEN)
    assert train[0].dtype == test[0].dtype == torch.int64
    markers = torch.tensor([MARKER_TOKENS[name] for name in WORLD_STRUCT])
    assert torch.equal(train[0][:, ::SLOT_LEN], markers.expand(3, -1))
