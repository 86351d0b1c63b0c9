"""`culturectl dataset`: world and culture quizzes as a Hugging Face dataset."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import SeedOpt, TasksOpt, split_names

# torch, datasets, pyarrow and the core modules are imported inside the command, so that
# `culturectl --help` and the other subcommands start without loading them.


def dataset(
    n: Annotated[int, typer.Option("--n", min=0, help="Number of world quizzes, split evenly over the tasks (the first tasks get one more when it does not divide).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder; it must not exist or be empty.")],
    tasks: TasksOpt = None,
    culture: Annotated[
        Optional[Path],
        typer.Option("--culture", help="Culture quiz file (.pth or .safetensors); all its test quizzes are added with label 'culture'."),
    ] = None,
    seed: SeedOpt = 0,
    workers: Annotated[
        Optional[int],
        typer.Option("--workers", min=1, help="Worker processes that generate rows (default: every CPU available). The output does not depend on it."),
    ] = None,
    shard_size: Annotated[
        int, typer.Option("--shard-size", min=1, help="Rows per parquet shard and per save_to_disk shard.")
    ] = 100_000,
    structures: Annotated[
        bool,
        typer.Option("--structures/--no-structures", help="Put each quiz in a random one of the four structures that predict the last slot, or keep A,f_A,B,f_B."),
    ] = True,
    noise: Annotated[
        bool, typer.Option("--noise/--no-noise", help="Replace each prompt cell with a random colour with probability 0.05, as in training.")
    ] = True,
    partitioned: Annotated[
        bool, typer.Option("--partitioned", help="Also write the rows with one split per label, in OUT/partitioned.")
    ] = False,
    push_to_hub: Annotated[
        Optional[str],
        typer.Option("--push-to-hub", help="Upload the parquet shards to this Hugging Face dataset repository (owner/name); the partitioned copy goes to <owner/name>-partitioned."),
    ] = None,
) -> None:
    """Write quizzes as a Hugging Face dataset: parquet shards and a save_to_disk copy.

    Each row has input_ids (405 int32 tokens: a leading 0, then the quiz), label (the task,
    or culture), structure (the slot order) and seed (the seed of the row's generator).
    The same options give byte-identical parquet shards for any --workers.

    Load it with datasets.load_dataset("parquet", data_files="OUT/data/*.parquet") or
    datasets.load_from_disk("OUT/arrow"). OUT/manifest.json records the run.
    """
    import time

    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.training import PROMPT_NOISE

    from ..console import logger, progress, stdout
    from ..dataset import DatasetOptions, check_push_repo, push_dataset, write_dataset

    options = DatasetOptions(
        n=n, tasks=tuple(split_names(tasks, "--tasks") or RELEASED_TASKS), seed=seed, culture=culture,
        structures=structures, noise=PROMPT_NOISE if noise else 0.0, shard_size=shard_size,
        partitioned=partitioned,
    )
    if push_to_hub is not None:
        check_push_repo(push_to_hub, partitioned)

    with progress() as bar:
        task = bar.add_task("rows", total=None, status="")
        started = time.perf_counter()

        def on_progress(written: int, total: int) -> None:
            rate = written / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=written, total=total, status=f"{rate:,.0f} rows/s")

        summary = write_dataset(out, options, workers, on_progress, command=shlex.join(["culturectl", *sys.argv[1:]]))

    counts = ", ".join(f"{label} {count}" for label, count in summary.label_counts.items() if count)
    logger.info("wrote %d rows (%s) in %.1f s, %.0f rows/s", summary.rows, counts, summary.seconds, summary.rows_per_second)
    stdout.print(str(summary.out))
    if push_to_hub is not None:
        for commit in push_dataset(summary.out, push_to_hub, partitioned):
            logger.info("pushed: %s", commit)
