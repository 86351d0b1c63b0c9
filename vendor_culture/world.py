"""Seeded, batched generation of world quizzes."""

from __future__ import annotations

from typing import Sequence

import torch

from .tasks import TASKS
from .tokens import create_empty_quizzes, grids_view


def check_task_names(names: Sequence[str]) -> list[str]:
    """Return `names` as a list, raising ValueError on an unknown task."""
    unknown = [name for name in names if name not in TASKS]
    if unknown:
        raise ValueError(
            f"unknown task {', '.join(unknown)}; valid tasks: {', '.join(sorted(TASKS))}"
        )
    if not names:
        raise ValueError("the task list is empty")
    return list(names)


def generate_world_quizzes(
    nb: int, tasks: Sequence[str], generator: torch.Generator, return_tasks: bool = False
):
    """Generate `nb` quizzes in structure (A, f_A, B, f_B), each from a task drawn
    uniformly from `tasks`. With `return_tasks`, also return the (nb,) task indices."""
    tasks = check_task_names(tasks)
    quizzes = create_empty_quizzes(nb)
    grids = grids_view(quizzes)
    choices = torch.randint(0, len(tasks), (nb,), generator=generator)
    for n, index in enumerate(choices.tolist()):
        TASKS[tasks[index]](*grids[n], generator)
    return (quizzes, choices) if return_tasks else quizzes


def generate_task_quizzes(nb: int, task: str, generator: torch.Generator) -> torch.Tensor:
    """Generate `nb` quizzes of a single task."""
    return generate_world_quizzes(nb, [task], generator)
