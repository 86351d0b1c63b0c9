"""`culturectl eval`: full-grid accuracy of culture models per task and structure."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from pathlib import Path
from typing import Optional

from ..options import CheckpointsOpt, DeviceOpt, JsonOpt, SeedOpt, SourceOpt, TasksOpt, split_names


class Backend(str, Enum):
    """Model implementation that `eval` runs: MyGPT itself, or its HookedTransformer conversion."""

    mygpt = "mygpt"
    hooked = "hooked"


def eval_command(
    models: Annotated[str, typer.Option("--models", "-m", help="Model ids: '0-4', '0,2,3' or 'all'.")] = "all",
    tasks: TasksOpt = None,
    structures: Annotated[
        str, typer.Option("--structures", help="Predicted slots to score, comma-separated: f_B, B, f_A, A.")
    ] = "f_B,B,f_A,A",
    num_samples: Annotated[int, typer.Option("--num-samples", "-n", help="Quizzes per task.")] = 250,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="Prompt noise 0.05 on the noised slot, as in the original.")] = True,
    decode: Annotated[bool, typer.Option("--decode", help="Also sample answers autoregressively at temperature 1 (the original protocol).")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Quizzes per forward pass.")] = 64,
    checkpoints: CheckpointsOpt = None,
    source: SourceOpt = "bundled",
    culture_quizzes: Annotated[
        Optional[Path],
        typer.Option("--culture-quizzes", help="Culture-quiz file (original c_quizzes.pth or one written by `culturectl generate`) for the task 'culture'; its test quizzes are used."),
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    json_output: JsonOpt = False,
    backend: Annotated[
        Backend, typer.Option("--backend", help="Run each model as MyGPT or converted to a TransformerLens HookedTransformer.")
    ] = Backend.mygpt,
) -> None:
    """Evaluate models on fresh world quizzes: greedy and expected-sampled full-grid
    accuracy per task and structure, with 95% intervals, from one teacher-forced pass.

    Every model sees the same quizzes (seeded by --seed) in every selected structure.
    """
    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.world import check_task_names

    from ..console import logger, progress, stdout
    from ..devices import resolve_device
    from ..errors import CulturectlError
    from ..evaluation import CULTURE_TASK, PROMPT_NOISE, build_eval_sets, evaluate_model
    from ..report import model_tables
    from ..selection import load_models

    if num_samples < 1 or batch_size < 1:
        raise typer.BadParameter("--num-samples and --batch-size must be at least 1")
    try:
        task_names = split_names(tasks, "--tasks") or list(RELEASED_TASKS)
        check_task_names([name for name in task_names if name != CULTURE_TASK] or RELEASED_TASKS)
        structure_names = split_names(structures, "--structures") or []
        culture = _culture_quizzes(culture_quizzes, source) if CULTURE_TASK in task_names else None
        eval_sets = build_eval_sets(
            task_names, structure_names, num_samples, seed, PROMPT_NOISE if noise else 0.0, culture
        )
    except ValueError as error:
        raise CulturectlError(str(error)) from None
    resolved = resolve_device(device)
    loaded, source = load_models(models, checkpoints, source)
    logger.info("evaluating %d model(s) from %s on %d tasks x %d structures, %d quizzes each",
                len(loaded), source, len(task_names), len(structure_names), num_samples)

    records = []
    with progress() as bar:
        task = bar.add_task("eval", total=len(loaded) * len(eval_sets), status="")
        for entry in loaded:
            bar.update(task, status=f"gpt_{entry.model_id:03d}")
            model = entry.model
            if backend is Backend.hooked:
                from ..hooked import HookedQuizModel, to_hooked

                model = HookedQuizModel(to_hooked(entry.model, device=resolved))
            records += evaluate_model(
                model, entry.model_id, source, eval_sets, batch_size, resolved,
                decode=decode, seed=seed, on_set_done=lambda: bar.advance(task),
            )

    if json_output:
        stdout.print_json(json.dumps([record.to_json() for record in records]))
        return
    for table in model_tables(records):
        stdout.print(table)


def _culture_quizzes(path: Path | None, source: str):
    """Load the test culture quizzes, as one (n, 404) tensor, from `path` or the hub cache."""
    from ..generation import load_culture_quizzes
    from ..hub import hub_culture_quizzes_path

    if path is None and source != "hub":
        raise ValueError("task 'culture' needs culture quizzes: pass --culture-quizzes FILE, or run `culturectl fetch` and use --source hub")
    path = path if path is not None else hub_culture_quizzes_path()
    test = load_culture_quizzes(path).test
    if test.size(0) == 0:
        raise ValueError(f"{path}: the culture-quiz file has no test quizzes")
    return test
