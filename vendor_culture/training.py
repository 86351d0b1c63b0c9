"""The culture training protocol for one MyGPT on world quizzes.

Every quiz is put in a random one of the five understood structures (the four that
predict one slot and the generation order), its prompt slot is noised as that structure
says, and the loss is the cross-entropy over all 404 tokens, so that the model learns both
to solve quizzes and to generate whole ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .mygpt import MyGPT
from .tasks import RELEASED_TASKS
from .tokens import UNDERSTOOD_STRUCTURES, Structure, inject_noise, reconfigure
from .world import generate_world_quizzes

PROMPT_NOISE = 0.05


def structure_batch(
    quizzes: torch.Tensor,
    generator: torch.Generator,
    structures: Sequence[Structure] = UNDERSTOOD_STRUCTURES,
    noise: float = PROMPT_NOISE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put each (A, f_A, B, f_B) quiz in a uniformly drawn structure and noise its prompt
    slot. Returns (quizzes, structure indices)."""
    choice = torch.randint(0, len(structures), (quizzes.size(0),), generator=generator)
    result = quizzes.clone()
    for index, structure in enumerate(structures):
        rows = choice == index
        if rows.any():
            moved = reconfigure(quizzes[rows], structure.struct)
            result[rows] = inject_noise(moved, noise, structure.noise_mask, generator)
    return result, choice


@dataclass
class TrainingConfig:
    """Hyper-parameters of one training run. The learning rate warms up linearly over
    `warmup_steps`, then follows a cosine down to `lr * final_lr_ratio` at `samples`."""

    samples: int = 100_000
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 200
    final_lr_ratio: float = 0.05
    tasks: Sequence[str] = field(default_factory=lambda: list(RELEASED_TASKS))
    noise: float = PROMPT_NOISE
    bf16: bool = False

    @property
    def total_steps(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return self.lr * (self.final_lr_ratio + (1 - self.final_lr_ratio) * cosine)


@dataclass
class TrainingState:
    """Everything a resumed run needs besides the model and optimizer."""

    step: int = 0
    samples_seen: int = 0
    generator: torch.Generator = field(default_factory=torch.Generator)


def training_loss(model: MyGPT, quizzes: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """Cross-entropy over every token of the quizzes."""
    with torch.autocast(device_type=quizzes.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(quizzes)
    return F.cross_entropy(logits.float().transpose(1, 2), quizzes)


def train(
    model: MyGPT,
    optimizer: torch.optim.Optimizer,
    config: TrainingConfig,
    state: TrainingState,
    device: torch.device | str = "cpu",
    on_step: Callable[[TrainingState, float], None] | None = None,
) -> TrainingState:
    """Train until `config.samples` quizzes have been seen, continuing from `state`.

    `on_step(state, loss)` runs after every optimizer step (progress, checkpoints).
    """
    model.train()
    while state.samples_seen < config.samples:
        nb = min(config.batch_size, config.samples - state.samples_seen)
        world = generate_world_quizzes(nb, config.tasks, state.generator)
        quizzes, _ = structure_batch(world, state.generator, noise=config.noise)
        quizzes = quizzes.to(device)

        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(state.step)
        loss = training_loss(model, quizzes, config.bf16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        state.step += 1
        state.samples_seen += nb
        if on_step is not None:
            on_step(state, loss.item())
    return state
