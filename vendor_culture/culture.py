"""Culture quizzes: models write quizzes, and a quiz is kept when most models solve it.

One round has three parts:

1. Generation, in three passes by one generating model (`CULTURE_STEPS`): f_B from
   nothing at the hot temperature, then f_A, A and B given f_B, then f_B again given
   A, f_A and B. Quizzes with A == f_A or B == f_B are trivial and dropped.
2. Validation: every model scores each candidate by the teacher-forced probability of
   the quiz's own answer in both directions, f_B given (A, f_A, B) and B given
   (f_A, A, f_B), with prompt noise, averaged over several noisy rounds.
3. The keep rule (`KeepRule`, `judge`) on the resulting (quizzes, models) probability
   table: every model either understands or fails, and the number failing is in range.

The generating model is an explicit argument and `culture_rounds` rotates it through a
list. (The original picked one at random for its records but generated with whichever
model a global variable last named.) Every function works with any model implementing
the incremental-decoding interface of `quiz_machine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import torch

from .quiz_machine import IncrementalModel, masked_autoregression, teacher_forced
from .tokens import (
    GENERATION_STRUCTURE,
    STRUCTURE_BY_PREDICTED,
    WORLD_STRUCT,
    Struct,
    Structure,
    create_empty_quizzes,
    inject_noise,
    is_trivial,
    make_ar_mask,
    reconfigure,
)

# Defaults of the original run.
TEMPERATURE_HOT = 1.5
TEMPERATURE_COLD = 1.0
NB_AVERAGING_ROUNDS = 3
PROMPT_NOISE = 0.05
BATCH_SIZE = 50


class GenerationStep(NamedTuple):
    """One generation pass: the slot order, the slots to fill and which temperature."""

    struct: Struct
    slot_mask: tuple[int, int, int, int]
    hot: bool


CULTURE_STEPS = (
    GenerationStep(GENERATION_STRUCTURE.struct, (1, 0, 0, 0), hot=True),
    GenerationStep(GENERATION_STRUCTURE.struct, (0, 1, 1, 1), hot=False),
    GenerationStep(WORLD_STRUCT, (0, 0, 0, 1), hot=False),
)

# Validation scores the answer in both "time directions".
FORWARD = STRUCTURE_BY_PREDICTED["f_B"]  # (A, f_A, B, f_B), noise on B
BACKWARD = STRUCTURE_BY_PREDICTED["B"]  # (f_A, A, f_B, B), noise on f_B


# ---------------------------------------------------------------------------
# Decoding by full recomputation, the reference for the KV-cached decoder


@torch.no_grad()
def full_recompute_autoregression(
    model: IncrementalModel,
    quizzes: torch.Tensor,
    ar_mask: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill the `ar_mask` positions like `masked_autoregression`, but rerun the model on
    the whole sequence for every position, without a cache, as the interpretability fork
    of the culture code (tom-pollak/interpretability-culture) decodes.

    Random numbers are drawn in the same order as `masked_autoregression`, so both return
    the same tokens for the same generator state, up to float rounding in the logits.
    """
    result = quizzes.clone()
    mask = ar_mask.bool()
    for position in mask.any(dim=0).nonzero().flatten().tolist():
        logits = model(result)[:, position].float()
        if temperature <= 0:
            token = logits.argmax(dim=-1)
        else:
            probabilities = (logits / temperature).softmax(dim=-1).cpu()
            token = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
        result[:, position] = torch.where(mask[:, position], token.to(result.device), result[:, position])
    return result


# ---------------------------------------------------------------------------
# Generation


def _in_batches(function, quizzes: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """Apply `function` to slices of `quizzes` moved to `device`; return the CPU result."""
    pieces = [
        function(quizzes[start : start + batch_size].to(device)).cpu()
        for start in range(0, quizzes.size(0), batch_size)
    ]
    return torch.cat(pieces) if pieces else quizzes.clone()


def generate_candidates(
    model: IncrementalModel,
    nb: int,
    generator: torch.Generator,
    temperature_hot: float = TEMPERATURE_HOT,
    temperature_cold: float = TEMPERATURE_COLD,
    recycled: torch.Tensor | None = None,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Write `nb` candidate quizzes with `model`; return them (nb, 404) on the CPU in
    structure (A, f_A, B, f_B), trivial ones included.

    `recycled`, optional quizzes in any structure, replaces the first rows after the
    first pass, so that their f_B is kept and f_A, A and B are written anew, as the
    original does with rejected candidates.
    """
    quizzes = create_empty_quizzes(nb, CULTURE_STEPS[0].struct)
    for number, step in enumerate(CULTURE_STEPS):
        quizzes = reconfigure(quizzes, step.struct)
        if number == 1 and recycled is not None and recycled.size(0) > 0:
            count = min(nb, recycled.size(0))
            quizzes[:count] = reconfigure(recycled[:count], step.struct)

        temperature = temperature_hot if step.hot else temperature_cold

        def decode(batch, step=step, temperature=temperature):
            ar_mask = make_ar_mask(batch, step.slot_mask)
            return masked_autoregression(model, batch, ar_mask, temperature, generator)

        quizzes = _in_batches(decode, quizzes, batch_size, device)
    return reconfigure(quizzes, WORLD_STRUCT)


# ---------------------------------------------------------------------------
# Validation


@torch.no_grad()
def answer_logprob(
    model: IncrementalModel,
    quizzes: torch.Tensor,
    structure: Structure,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Return the (N,) teacher-forced log-probability of the answer cells of `quizzes`,
    which must already be in `structure`."""
    ar_mask = make_ar_mask(quizzes, structure.ar_mask).bool()
    pieces = []
    for start in range(0, quizzes.size(0), batch_size):
        batch = quizzes[start : start + batch_size].to(device)
        logprob, _ = teacher_forced(model, batch)
        mask = ar_mask[start : start + batch_size].to(device)
        pieces.append((logprob * mask).sum(dim=1).cpu())
    return torch.cat(pieces) if pieces else torch.zeros(0)


def validation_probabilities(
    models: Sequence[IncrementalModel],
    quizzes: torch.Tensor,
    generator: torch.Generator,
    nb_rounds: int = NB_AVERAGING_ROUNDS,
    noise: float = PROMPT_NOISE,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Return the (N, nb_models) probability that each model gives each quiz's answer.

    Per round, a model's probability is exp(log P(f_B | A, f_A, B) + log P(B | f_A, A, f_B)),
    with prompt noise on B and on f_B respectively. The table averages the probabilities
    (not the log-probabilities) over `nb_rounds` rounds. Each round draws its noise once
    and every model scores the same noised quizzes.
    """
    if nb_rounds < 1:
        raise ValueError(f"nb_rounds must be at least 1, got {nb_rounds}")
    quizzes = quizzes.cpu()
    total = torch.zeros(quizzes.size(0), len(models))
    for _ in range(nb_rounds):
        forward = inject_noise(reconfigure(quizzes, FORWARD.struct), noise, FORWARD.noise_mask, generator)
        backward = inject_noise(reconfigure(quizzes, BACKWARD.struct), noise, BACKWARD.noise_mask, generator)
        for index, model in enumerate(models):
            logprob = answer_logprob(model, forward, FORWARD, batch_size, device)
            logprob = logprob + answer_logprob(model, backward, BACKWARD, batch_size, device)
            total[:, index] += logprob.exp()
    return total / nb_rounds


# ---------------------------------------------------------------------------
# The keep rule


@dataclass(frozen=True)
class KeepRule:
    """Thresholds and failing-model range of the rule that keeps validated quizzes.

    A model understands a quiz when its probability is at least `understands` and fails
    it when the probability is at most `fails`. A quiz is kept when no model is in
    between and the number of failing models is in [min_failing, max_failing].
    """

    understands: float = 0.95
    fails: float = 0.5
    min_failing: int = 1
    max_failing: int = 2

    def __post_init__(self):
        if not 0.0 <= self.fails < self.understands <= 1.0:
            raise ValueError(
                f"need 0 <= fails < understands <= 1, got fails={self.fails}, understands={self.understands}"
            )
        if not 0 <= self.min_failing <= self.max_failing:
            raise ValueError(
                f"need 0 <= min_failing <= max_failing, got {self.min_failing} and {self.max_failing}"
            )


KEEP_RULE_PRESETS = {
    # The original run: every model understands or fails, and 1 or 2 fail.
    "original": KeepRule(),
    # The README's "solved by all the other GPTs but one": exactly one model fails and all
    # the others understand (with 5 models, 4 agree and one fails).
    "all-but-one": KeepRule(min_failing=1, max_failing=1),
}

# Reasons in the order `judge` tests them; a quiz gets the first that applies.
KEPT, IN_BETWEEN, TOO_FEW_FAILING, TOO_MANY_FAILING = range(4)
REASON_NAMES = ("kept", "in_between", "too_few_failing", "too_many_failing")


class Verdict(NamedTuple):
    """The keep rule applied to an (N, nb_models) probability table."""

    understands: torch.Tensor  # (N, nb_models) bool
    fails: torch.Tensor  # (N, nb_models) bool
    nb_failing: torch.Tensor  # (N,) int64
    keep: torch.Tensor  # (N,) bool
    reason: torch.Tensor  # (N,) int64, an index into REASON_NAMES


def judge(probabilities: torch.Tensor, rule: KeepRule = KeepRule()) -> Verdict:
    """Apply `rule` to a (nb_quizzes, nb_models) table of probabilities. A NaN counts as
    in between."""
    if probabilities.dim() != 2:
        raise ValueError(f"expected a (nb_quizzes, nb_models) table, got shape {tuple(probabilities.shape)}")
    understands = probabilities >= rule.understands
    fails = probabilities <= rule.fails
    in_between = ~(understands | fails)
    nb_failing = fails.sum(dim=1)

    reason = torch.full((probabilities.size(0),), KEPT, dtype=torch.int64)
    reason[nb_failing > rule.max_failing] = TOO_MANY_FAILING
    reason[nb_failing < rule.min_failing] = TOO_FEW_FAILING
    reason[in_between.any(dim=1)] = IN_BETWEEN
    return Verdict(understands, fails, nb_failing, reason == KEPT, reason)


def keep_mask(probabilities: torch.Tensor, rule: KeepRule = KeepRule()) -> torch.Tensor:
    """Return the (nb_quizzes,) boolean mask of quizzes that `rule` keeps."""
    return judge(probabilities, rule).keep


# ---------------------------------------------------------------------------
# Rounds


@dataclass
class CultureRound:
    """One round: the candidates of one generating model and their validation."""

    number: int
    generating_model: int  # index into the list of models
    candidates: torch.Tensor  # (nb, 404) in (A, f_A, B, f_B)
    trivial: torch.Tensor  # (nb,) bool
    probabilities: torch.Tensor  # (nb non-trivial, nb_models), rows in candidate order
    verdict: Verdict  # for the non-trivial candidates

    @property
    def validated(self) -> torch.Tensor:
        """The non-trivial candidates, the rows of `probabilities`."""
        return self.candidates[~self.trivial]

    @property
    def kept(self) -> torch.Tensor:
        return self.validated[self.verdict.keep]

    @property
    def rejected(self) -> torch.Tensor:
        return self.validated[~self.verdict.keep]


def culture_rounds(
    models: Sequence[IncrementalModel],
    generating_models: Sequence[int],
    nb_per_round: int,
    generator: torch.Generator,
    rule: KeepRule = KeepRule(),
    temperature_hot: float = TEMPERATURE_HOT,
    temperature_cold: float = TEMPERATURE_COLD,
    nb_averaging_rounds: int = NB_AVERAGING_ROUNDS,
    noise: float = PROMPT_NOISE,
    recycle: bool = True,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> Iterator[CultureRound]:
    """Yield rounds without end; round r is written by models[generating_models[r % k]].

    With `recycle`, the rejected candidates of a round seed the next one (their f_B is
    kept). Every random draw comes from `generator`, so the same generator state gives the
    same rounds.
    """
    if not generating_models:
        raise ValueError("generating_models is empty; give at least one model index")
    for index in generating_models:
        if not 0 <= index < len(models):
            raise ValueError(f"generating model index {index} is out of range for {len(models)} models")

    recycled = None
    number = 0
    while True:
        generating = generating_models[number % len(generating_models)]
        candidates = generate_candidates(
            models[generating], nb_per_round, generator, temperature_hot, temperature_cold,
            recycled, batch_size, device,
        )
        trivial = is_trivial(candidates)
        probabilities = validation_probabilities(
            models, candidates[~trivial], generator, nb_averaging_rounds, noise, batch_size, device
        )
        result = CultureRound(number, generating, candidates, trivial, probabilities, judge(probabilities, rule))
        recycled = result.rejected if recycle else None
        yield result
        number += 1


def record_culture_quizzes(
    models: Sequence[IncrementalModel],
    nb_train: int,
    nb_test: int,
    generator: torch.Generator,
    max_rounds: int,
    generating_models: Sequence[int] | None = None,
    nb_per_round: int = BATCH_SIZE,
    **round_options,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Run rounds until nb_train + nb_test quizzes are kept or `max_rounds` have run.

    Returns (train list, test list) of (n, 404) tensors, the layout of the original
    `c_quizzes.pth`: the first kept quizzes go to train, the next to test. Fewer quizzes
    than requested come back when `max_rounds` is reached first. `round_options` go to
    `culture_rounds`.
    """
    if generating_models is None:
        generating_models = range(len(models))
    wanted = nb_train + nb_test
    kept: list[torch.Tensor] = []
    total = 0
    rounds = culture_rounds(models, list(generating_models), nb_per_round, generator, **round_options)
    for _ in range(max_rounds):
        if total >= wanted:
            break
        result = next(rounds)
        kept.append(result.kept)
        total += result.kept.size(0)
    everything = torch.cat(kept)[:wanted] if kept else create_empty_quizzes(0)
    return [everything[:nb_train]], [everything[nb_train:]]
