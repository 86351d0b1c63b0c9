"""Seeded, batched generation of world quizzes."""

from __future__ import annotations

from typing import Sequence

import torch

from .drawing import RandomStream
from .tasks import TASKS
from .tokens import HEIGHT, NB_SLOTS, WIDTH, create_empty_quizzes, grids_view

# Uniforms per generator call. Large enough that one call serves several quizzes.
STREAM_BATCH = 256


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
    uniformly from `tasks`. With `return_tasks`, also return the (nb,) task indices.

    Every random number comes from `generator`: first the task of each quiz, then the
    quizzes in order from one `RandomStream`."""
    tasks = check_task_names(tasks)
    functions = [TASKS[name] for name in tasks]
    choices = torch.randint(0, len(tasks), (nb,), generator=generator)
    stream = RandomStream(generator, STREAM_BATCH)
    cells = bytearray()
    for index in choices.tolist():
        for grid in functions[index](stream):
            cells += bytes(grid)

    quizzes = create_empty_quizzes(nb)
    if nb > 0:
        values = torch.frombuffer(cells, dtype=torch.uint8)
        grids_view(quizzes).copy_(values.view(nb, NB_SLOTS, HEIGHT, WIDTH))
    return (quizzes, choices) if return_tasks else quizzes


def generate_task_quizzes(nb: int, task: str, generator: torch.Generator) -> torch.Tensor:
    """Generate `nb` quizzes of a single task."""
    return generate_world_quizzes(nb, [task], generator)
