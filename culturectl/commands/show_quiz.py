"""`culturectl show-quiz`: print seeded world quizzes as coloured grids."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..options import SeedOpt, split_names

# torch, vendor_culture and the renderer are imported inside the command, so that
# `culturectl --help` and the other subcommands start without loading torch.


def show_quiz(
    task: Annotated[
        Optional[str],
        typer.Option(
            "--task",
            help="Task name, or comma-separated names drawn uniformly per quiz "
            "(default: the eight tasks of the released models).",
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of quizzes to print.")] = 4,
    seed: SeedOpt = 0,
    structure: Annotated[
        Optional[str],
        typer.Option(
            "--structure",
            help="Slot order: the predicted slot of a deterministic structure (f_B, B, f_A, A) "
            "or four comma-separated marker names such as f_A,A,f_B,B (default: A,f_A,B,f_B).",
        ),
    ] = None,
) -> None:
    """Print world quizzes as grids in the original colours.

    Each quiz shows its four grids in slot order under their marker names, with a title
    giving the task and the structure. Without a colour terminal (a pipe, NO_COLOR) each
    cell is one character: 0-9 for colours 0-9 and 'a' for colour 10.
    """
    import torch

    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.tokens import WORLD_STRUCT, reconfigure
    from vendor_culture.world import check_task_names, generate_world_quizzes

    from ..console import stdout
    from ..errors import CulturectlError
    from ..render import QuizGallery

    tasks = list(RELEASED_TASKS) if task is None else split_names(task)
    try:
        tasks = check_task_names(tasks)
    except ValueError as error:
        raise CulturectlError(f"invalid --task {task!r}: {error}") from error
    struct = WORLD_STRUCT if structure is None else parse_structure(structure)

    generator = torch.Generator().manual_seed(seed)
    quizzes, task_indices = generate_world_quizzes(n, tasks, generator, return_tasks=True)
    quizzes = reconfigure(quizzes, struct)

    predicted = predicted_names(struct)
    struct_text = ", ".join(struct)
    titles = []
    for number, index in enumerate(task_indices.tolist(), start=1):
        title = f"quiz {number}: {tasks[index]}, structure ({struct_text})"
        if predicted:
            title += f", predicts {', '.join(predicted)}"
        titles.append(title)

    stdout.print(QuizGallery(quizzes, titles=titles))


def parse_structure(text: str) -> tuple[str, str, str, str]:
    """Parse `text`, a predicted-slot name or four comma-separated markers, into a slot order.

    Raises CulturectlError on any other text.
    """
    from vendor_culture.tokens import MARKER_NAMES, STRUCTURE_BY_PREDICTED

    from ..errors import CulturectlError

    name = text.strip()
    if name in STRUCTURE_BY_PREDICTED:
        return STRUCTURE_BY_PREDICTED[name].struct

    names = split_names(text) or []
    if len(names) == len(MARKER_NAMES) and sorted(names) == sorted(MARKER_NAMES):
        return tuple(names)  # type: ignore[return-value]

    raise CulturectlError(
        f"invalid --structure {text!r}: give the predicted slot of a deterministic structure "
        f"({', '.join(STRUCTURE_BY_PREDICTED)}) or each of {', '.join(MARKER_NAMES)} once, "
        f"comma-separated, e.g. f_A,A,f_B,B"
    )


def predicted_names(struct: tuple[str, ...]) -> tuple[str, ...]:
    """Return the predicted slots of `struct` if the culture models train on it, else ()."""
    from vendor_culture.tokens import UNDERSTOOD_STRUCTURES

    for understood in UNDERSTOOD_STRUCTURES:
        if understood.struct == tuple(struct):
            return understood.predicted
    return ()
