"""Accuracy of culture models per task x structure, by teacher forcing and by decoding.

Greedy accuracy: a grid is right when every answer cell's argmax, given the true prefix,
is the true cell; that is exactly when greedy decoding reproduces the grid, so one
teacher-forced pass replaces 100 decoding steps. Expected sampled accuracy: the product of
the true cells' probabilities, the exact chance that sampling at temperature 1 (the
original protocol) gets the whole grid right. Sampled accuracy (optional) runs that
protocol: masked autoregression with the KV cache.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch

from vendor_culture.quiz_machine import masked_autoregression, teacher_forced
from vendor_culture.tokens import STRUCTURE_BY_PREDICTED, WORLD_STRUCT, Structure, inject_noise, make_ar_mask, reconfigure
from vendor_culture.world import generate_task_quizzes

from .stats import mean_interval, wilson_interval

PROMPT_NOISE = 0.05
# Task name under which culture quizzes (made by the models, not by a rule) are evaluated.
CULTURE_TASK = "culture"


@dataclass
class EvalSet:
    """Quizzes of one task in one structure, noised once and shared by every model."""

    task: str
    structure: Structure
    quizzes: torch.Tensor  # (n, 404), the model input: prompt noised, answer clean
    ar_mask: torch.Tensor  # (n, 404), 1 on the answer cells


@dataclass
class Record:
    """Accuracy of one model on one task in one structure; JSON-ready."""

    model: int
    source: str
    task: str
    structure: str
    n: int
    greedy: float
    greedy_lo: float
    greedy_hi: float
    expected_sampled: float
    expected_lo: float
    expected_hi: float
    perplexity: float
    sampled: float | None = None
    sampled_lo: float | None = None
    sampled_hi: float | None = None
    per_quiz_greedy: list[bool] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        record = asdict(self)
        record.pop("per_quiz_greedy")
        if self.sampled is None:
            for key in ("sampled", "sampled_lo", "sampled_hi"):
                record.pop(key)
        return record


def structure_for(name: str) -> Structure:
    """Map the name of a predicted slot (f_B, B, f_A, A) to its deterministic structure."""
    if name not in STRUCTURE_BY_PREDICTED:
        raise ValueError(f"unknown structure {name!r}; valid: {', '.join(STRUCTURE_BY_PREDICTED)}")
    return STRUCTURE_BY_PREDICTED[name]


def build_eval_sets(
    tasks: Sequence[str],
    structures: Sequence[str],
    num_samples: int,
    seed: int,
    noise: float = PROMPT_NOISE,
    culture_quizzes: torch.Tensor | None = None,
) -> list[EvalSet]:
    """Generate `num_samples` quizzes per task and put each set in every structure.

    Each task has its own generator seeded from (seed, task index), so adding a task does
    not change the quizzes of the others. The task `culture` takes the first
    `num_samples` of `culture_quizzes` instead, in their file order.
    """
    sets = []
    for index, task in enumerate(tasks):
        # Modulo 2**64, the range torch accepts; small seeds are unchanged.
        generator = torch.Generator().manual_seed((seed * 1_000_003 + index) % 2**64)
        if task == CULTURE_TASK:
            if culture_quizzes is None or culture_quizzes.size(0) == 0:
                raise ValueError("task 'culture' needs culture quizzes: pass --culture-quizzes FILE, or run `culturectl fetch` and use --source hub")
            world = reconfigure(culture_quizzes[:num_samples], WORLD_STRUCT)
        else:
            world = generate_task_quizzes(num_samples, task, generator)
        for name in structures:
            structure = structure_for(name)
            moved = reconfigure(world, structure.struct)
            noised = inject_noise(moved, noise, structure.noise_mask, generator)
            sets.append(EvalSet(task, structure, noised, make_ar_mask(noised, structure.ar_mask)))
    return sets


@torch.no_grad()
def score_set(
    model,
    eval_set: EvalSet,
    batch_size: int,
    device: torch.device,
    decode_generator: torch.Generator | None = None,
) -> dict:
    """Teacher-forced (and optionally sampled) results of one model on one set."""
    greedy, expected, nll, cells, sampled = [], [], 0.0, 0, []
    for start in range(0, eval_set.quizzes.size(0), batch_size):
        quizzes = eval_set.quizzes[start : start + batch_size].to(device)
        mask = eval_set.ar_mask[start : start + batch_size].to(device).bool()
        logprob, right = teacher_forced(model, quizzes)
        greedy.extend((right | ~mask).all(dim=1).tolist())
        answer_logprob = (logprob * mask).sum(dim=1)
        expected.extend(answer_logprob.exp().tolist())
        nll -= answer_logprob.sum().item()
        cells += int(mask.sum())
        if decode_generator is not None:
            blanked = quizzes.masked_fill(mask, 0)
            decoded = masked_autoregression(model, blanked, mask, 1.0, decode_generator)
            sampled.extend((decoded == quizzes).all(dim=1).tolist())
    return {"greedy": greedy, "expected": expected, "perplexity": math.exp(min(100.0, nll / max(cells, 1))), "sampled": sampled}


def evaluate_model(
    model,
    model_id: int,
    source: str,
    eval_sets: Sequence[EvalSet],
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    decode: bool = False,
    seed: int = 0,
    on_set_done=None,
) -> list[Record]:
    """Score one model on every eval set."""
    device = torch.device(device)
    model = model.to(device).eval()
    decode_generator = torch.Generator().manual_seed(seed) if decode else None
    records = []
    for eval_set in eval_sets:
        result = score_set(model, eval_set, batch_size, device, decode_generator)
        n = len(result["greedy"])
        wins = sum(result["greedy"])
        low, high = wilson_interval(wins, n)
        mean, e_low, e_high = mean_interval(result["expected"])
        record = Record(
            model=model_id, source=source, task=eval_set.task,
            structure=eval_set.structure.predicted[0], n=n,
            greedy=wins / n, greedy_lo=low, greedy_hi=high,
            expected_sampled=mean, expected_lo=e_low, expected_hi=e_high,
            perplexity=result["perplexity"], per_quiz_greedy=result["greedy"],
        )
        if decode:
            hits = sum(result["sampled"])
            record.sampled = hits / n
            record.sampled_lo, record.sampled_hi = wilson_interval(hits, n)
        records.append(record)
        if on_set_done is not None:
            on_set_done()
    return records
