"""`culturectl show-quiz`: print seeded world quizzes or saved quizzes as coloured grids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import SeedOpt, split_names

# A bound on --n, so that a mistyped count fails at once instead of filling memory.
MAX_QUIZZES = 10_000

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
    n: Annotated[
        Optional[int],
        typer.Option(
            "--n", min=1, max=MAX_QUIZZES,
            help="Number of quizzes to print (default: 4 world quizzes, or every quiz of --file).",
        ),
    ] = None,
    seed: SeedOpt = 0,
    structure: Annotated[
        Optional[str],
        typer.Option(
            "--structure",
            help="Slot order: the predicted slot of a deterministic structure (f_B, B, f_A, A) "
            "or four comma-separated marker names such as f_A,A,f_B,B (default: A,f_A,B,f_B).",
        ),
    ] = None,
    file: Annotated[
        Optional[Path],
        typer.Option(
            "--file",
            help="Draw the quizzes of a saved file instead of world quizzes: an original "
            "c_quizzes.pth or a .pth/.safetensors file written by `culturectl generate`.",
        ),
    ] = None,
    png: Annotated[Optional[Path], typer.Option("--png", help="Also write the quizzes as a PNG sheet.")] = None,
    svg: Annotated[Optional[Path], typer.Option("--svg", help="Also write the quizzes as an SVG sheet.")] = None,
) -> None:
    """Print world quizzes, or the quizzes of a saved file, as grids in the original colours.

    Each quiz shows its four grids in slot order under their marker names, with a title
    giving the task (or the split of --file) and the structure. Without a colour terminal
    (a pipe, NO_COLOR) each cell is one character: 0-9 for colours 0-9 and 'a' for colour 10.
    Quizzes that `generate` completed show their answers marked right or wrong.
    """
    import torch

    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.tokens import WORLD_STRUCT
    from vendor_culture.world import check_task_names, generate_world_quizzes

    from ..console import logger, stdout
    from ..errors import CulturectlError
    from ..generation import displayable_quizzes, reorder_slots
    from ..render import QuizGallery

    for path, suffix in ((png, ".png"), (svg, ".svg")):
        if path is not None and path.suffix != suffix:
            raise CulturectlError(f"invalid output file {path}: the suffix must be {suffix}")
    struct = WORLD_STRUCT if structure is None else parse_structure(structure)

    if file is not None:
        if task is not None:
            raise CulturectlError("--task and --file exclude each other: --file draws the quizzes saved in the file")
        quizzes, wrong, predicted_markers, labels = _saved_quizzes(file, n)
    else:
        tasks = list(RELEASED_TASKS) if task is None else split_names(task, "--task")
        try:
            tasks = check_task_names(tasks)
        except ValueError as error:
            raise CulturectlError(f"invalid --task {task!r}: {error}") from error
        generator = torch.Generator().manual_seed(seed)
        quizzes, task_indices = generate_world_quizzes(4 if n is None else n, tasks, generator, return_tasks=True)
        wrong, predicted_markers = None, ()
        labels = [tasks[index] for index in task_indices.tolist()]

    if wrong is None:
        (quizzes,) = reorder_slots(quizzes, struct)
    else:
        quizzes, wrong = reorder_slots(quizzes, struct, wrong)

    # Slots the file marks as model predictions take precedence over the structure's own.
    predicted = tuple(name for name in struct if name in predicted_markers) or predicted_names(struct)
    # Only model predictions, which come with a wrong-cell mask, get marked in the grids.
    answer_slots = [struct.index(name) for name in predicted] if wrong is not None else []
    struct_text = ", ".join(struct)
    titles = []
    for number, label in enumerate(labels, start=1):
        title = f"quiz {number}: {label}, structure ({struct_text})"
        if predicted:
            title += f", predicts {', '.join(predicted)}"
        titles.append(title)

    shown, invalid = displayable_quizzes(quizzes)
    if wrong is not None:
        invalid = invalid | wrong
    judged = wrong is not None or bool(invalid.any())
    stdout.print(QuizGallery(shown, titles=titles, predicted=answer_slots, wrong=invalid if judged else None))

    if png is not None or svg is not None:
        from ..render_image import MAX_SHEET_QUIZZES, write_png, write_svg

        if quizzes.size(0) > MAX_SHEET_QUIZZES:
            logger.warning("drawing the first %d of %d quizzes", MAX_SHEET_QUIZZES, quizzes.size(0))
        sheet = slice(0, MAX_SHEET_QUIZZES)
        sheet_wrong = None if wrong is None else wrong[sheet]
        if png is not None:
            write_png(png, quizzes[sheet], answer_slots, sheet_wrong)
        if svg is not None:
            write_svg(svg, quizzes[sheet], answer_slots, sheet_wrong, titles[sheet])


def _saved_quizzes(path: Path, n: int | None):
    """Return (quizzes, wrong mask or None, predicted marker names, labels) of the first
    `n` quizzes of a quiz file, train ones first."""
    import torch

    from ..generation import load_quiz_file

    quiz_file = load_quiz_file(path)
    quizzes = torch.cat([quiz_file.train, quiz_file.test])
    labels = [f"train {k + 1}" for k in range(quiz_file.train.size(0))]
    labels += [f"test {k + 1}" for k in range(quiz_file.test.size(0))]

    # `generate` stores a wrong-cell mask for each split of model predictions. A split
    # without one has no wrong cells.
    wrong = None
    splits = {"train": quiz_file.train, "test": quiz_file.test}
    if any(f"{split}_wrong" in quiz_file.extras for split in splits):
        parts = [
            quiz_file.extras.get(f"{split}_wrong", torch.zeros_like(split_quizzes)).bool()
            for split, split_quizzes in splits.items()
        ]
        if all(part.shape == split_quizzes.shape for part, split_quizzes in zip(parts, splits.values())):
            wrong = torch.cat(parts)
    predicted = ()
    if wrong is not None:
        predicted = tuple(quiz_file.metadata.get("summary", {}).get("predicted", ()))

    count = quizzes.size(0) if n is None else n
    return quizzes[:count], None if wrong is None else wrong[:count], predicted, labels[:count]


def parse_structure(text: str) -> tuple[str, str, str, str]:
    """Parse `text`, a predicted-slot name or four comma-separated markers, into a slot order.

    Raises CulturectlError on any other text.
    """
    from vendor_culture.tokens import MARKER_NAMES, STRUCTURE_BY_PREDICTED

    from ..errors import CulturectlError

    name = text.strip()
    if name in STRUCTURE_BY_PREDICTED:
        return STRUCTURE_BY_PREDICTED[name].struct

    names = split_names(text, "--structure") or []
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
