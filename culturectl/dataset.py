"""Culture quizzes as a Hugging Face dataset: parquet shards plus a `save_to_disk` copy.

Each row is a 405-token dataset row (the BOS 0, then a quiz in one of the four structures
that predict the last slot) with its label (the world task, or `culture`), its structure
and its seed. Layout of the output folder:

    README.md                       dataset card; its YAML lists the parquet splits
    manifest.json                   command, options, versions, input hashes, file hashes
    data/train-00000-of-0000N.parquet
    arrow/                          datasets.load_from_disk(OUT / "arrow")
    partitioned/                    with partitioned=True: the same rows, one split per label
        README.md
        data/<label>-00000-of-0000N.parquet
        arrow/                      a DatasetDict

Determinism: the row at index i is made from its own generator, seeded from (seed, i), and
the assignment of tasks and culture quizzes to row indices is one permutation drawn from
the seed. So the same options give byte-identical parquet shards for any number of worker
processes, given the same versions of culturectl, torch and pyarrow (all in the manifest).

pyarrow and datasets are imported inside the functions that need them, so worker processes
that only generate rows start without them.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import (
    DETERMINISTIC_STRUCTURES,
    QUIZ_LEN,
    ROW_LEN,
    WORLD_STRUCT,
    create_empty_quizzes,
    quizzes_to_rows,
)
from vendor_culture.training import PROMPT_NOISE, structure_batch
from vendor_culture.world import check_task_names, generate_task_quizzes

from .atomic import default_mode
from .console import logger
from .errors import CulturectlError

CULTURE_LABEL = "culture"
TRAIN_SPLIT = "train"
# Names of the `structure` column's classes: the slot order, as `--structure` takes it.
STRUCTURE_NAMES = tuple(",".join(structure.struct) for structure in DETERMINISTIC_STRUCTURES)

PARQUET_DIR = "data"
ARROW_DIR = "arrow"
PARTITIONED_DIR = "partitioned"
MANIFEST_NAME = "manifest.json"
CARD_NAME = "README.md"

DEFAULT_SHARD_SIZE = 100_000
# Rows per work item sent to a worker, and per parquet row group. Row groups never cross a
# shard boundary. Changing this changes the parquet bytes, not the rows.
CHUNK_ROWS = 1000
PARQUET_COMPRESSION = "zstd"
# Above this many bytes of rows, the save_to_disk copy is written by child processes.
# Reading a memory-mapped file counts its pages in the reader's resident memory: with
# datasets 5.2, copying 1M rows (1.6 GB) in the main process raised its peak RSS from 0.35
# to 1.9 GB. A child process maps one shard at a time.
SAVE_IN_PROCESS_MAX_BYTES = 256 * 1024 * 1024
ROW_BYTES = ROW_LEN * 4 + 3 * 8  # int32 input_ids, int64 label, structure and seed
# Work items in flight per worker, so the main process keeps at most
# IN_FLIGHT_PER_WORKER * workers * CHUNK_ROWS generated rows in memory.
IN_FLIGHT_PER_WORKER = 2

_INT63_MASK = (1 << 63) - 1


@dataclass(frozen=True)
class DatasetOptions:
    """Options of a dataset. `n` world quizzes are split as evenly as possible over
    `tasks`, and every test quiz of the culture file is added once."""

    n: int
    tasks: tuple[str, ...] = RELEASED_TASKS
    seed: int = 0
    culture: Path | None = None
    structures: bool = True
    noise: float = PROMPT_NOISE
    shard_size: int = DEFAULT_SHARD_SIZE
    partitioned: bool = False


@dataclass(frozen=True)
class RowRecipe:
    """Everything needed to make any row of a dataset, sent once to each worker."""

    tasks: tuple[str, ...]
    task_ends: tuple[int, ...]  # world source ids in [task_ends[k-1], task_ends[k]) are of task k
    task_labels: tuple[int, ...]
    culture_label: int
    culture: torch.Tensor  # (m, 404) int64 culture quizzes in (A, f_A, B, f_B)
    seed: int
    structures: bool
    noise: float

    @property
    def nb_world(self) -> int:
        return self.task_ends[-1] if self.task_ends else 0


@dataclass
class RowBatch:
    """Consecutive dataset rows as numpy columns."""

    input_ids: np.ndarray  # (n, 405) int32
    label: np.ndarray  # (n,) int64
    structure: np.ndarray  # (n,) int64
    seed: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class DatasetSummary:
    """Result of `write_dataset`: the output folder, row counts, parquet files and timing."""

    out: Path
    rows: int
    label_counts: dict[str, int]
    parquet_files: list[Path]
    seconds: float
    manifest: dict = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


# ---------------------------------------------------------------------------
# Schema


def label_names(tasks: Sequence[str]) -> list[str]:
    """Return the class names of the `label` column: the task names and `culture`, sorted.
    For the eight released tasks the ids match the published dataset."""
    return sorted(set(tasks) | {CULTURE_LABEL})


def dataset_features(labels: Sequence[str]):
    """Return the datasets.Features of a row."""
    from datasets import ClassLabel, Features, List, Value

    return Features({
        "input_ids": List(Value("int32"), length=ROW_LEN),
        "label": ClassLabel(names=list(labels)),
        "structure": ClassLabel(names=list(STRUCTURE_NAMES)),
        "seed": Value("int64"),
    })


# ---------------------------------------------------------------------------
# Rows


def task_counts(n: int, nb_tasks: int) -> list[int]:
    """Split `n` quizzes over `nb_tasks` tasks, one more for each of the first n % nb_tasks."""
    base, extra = divmod(n, nb_tasks)
    return [base + (1 if k < extra else 0) for k in range(nb_tasks)]


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """Apply SplitMix64's output mix to uint64 values, with wrapping arithmetic."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def row_seeds(seed: int, indices: np.ndarray) -> np.ndarray:
    """Return the seed of each row index: output i+1 of a SplitMix64 generator whose state
    starts at a SplitMix64 hash of the dataset seed, cut to 63 bits (an int64 >= 0)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        base = _splitmix64(np.array([seed & ((1 << 64) - 1)], dtype=np.uint64))[0]
        states = base + (np.asarray(indices, dtype=np.uint64) + np.uint64(1)) * golden
        return (_splitmix64(states) & np.uint64(_INT63_MASK)).astype(np.int64)


def make_quiz(source: str | torch.Tensor, row_seed: int, structures: bool = True,
              noise: float = PROMPT_NOISE) -> tuple[torch.Tensor, int]:
    """Make the quiz of one dataset row from its seed and return it with its structure
    index (into STRUCTURE_NAMES).

    `source` is a task name, or a (404,) culture quiz in (A, f_A, B, f_B). A generator
    seeded with `row_seed` draws the world quiz (for a task), then the structure (one of
    the four that predict the last slot, or always A,f_A,B,f_B without `structures`) and
    the prompt noise, as `structure_batch` draws them."""
    generator = torch.Generator().manual_seed(row_seed)
    if isinstance(source, str):
        quiz = generate_task_quizzes(1, source, generator)
    else:
        quiz = source.reshape(1, QUIZ_LEN)
    choices = DETERMINISTIC_STRUCTURES if structures else DETERMINISTIC_STRUCTURES[:1]
    structured, choice = structure_batch(quiz, generator, choices, noise)
    return structured[0], int(choice[0])


def make_rows(recipe: RowRecipe, start: int, sources: np.ndarray) -> RowBatch:
    """Make the rows at indices start, start+1, ... whose sources are `sources`: a source
    below `recipe.nb_world` is a world quiz of the task whose range contains it, and source
    nb_world + j is culture quiz j."""
    count = len(sources)
    seeds = row_seeds(recipe.seed, np.arange(start, start + count))
    quizzes = torch.empty(count, QUIZ_LEN, dtype=torch.int64)
    labels = np.empty(count, dtype=np.int64)
    chosen = np.empty(count, dtype=np.int64)
    for row, (source, row_seed) in enumerate(zip(sources.tolist(), seeds.tolist())):
        if source < recipe.nb_world:
            task = bisect.bisect_right(recipe.task_ends, source)
            origin, labels[row] = recipe.tasks[task], recipe.task_labels[task]
        else:
            origin, labels[row] = recipe.culture[source - recipe.nb_world], recipe.culture_label
        quizzes[row], chosen[row] = make_quiz(origin, row_seed, recipe.structures, recipe.noise)
    input_ids = quizzes_to_rows(quizzes).to(torch.int32).numpy()
    return RowBatch(input_ids, labels, chosen, seeds)


def plan_sources(total: int, seed: int) -> np.ndarray:
    """Return the source of each row index: a permutation of range(total) drawn from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=generator).numpy()


def build_recipe(options: DatasetOptions, culture: torch.Tensor) -> RowRecipe:
    labels = label_names(options.tasks)
    counts = task_counts(options.n, len(options.tasks))
    return RowRecipe(
        tasks=tuple(options.tasks),
        task_ends=tuple(np.cumsum(counts).tolist()),
        task_labels=tuple(labels.index(task) for task in options.tasks),
        culture_label=labels.index(CULTURE_LABEL),
        culture=culture,
        seed=options.seed,
        structures=options.structures,
        noise=options.noise,
    )


def chunk_bounds(total: int, shard_size: int) -> list[tuple[int, int]]:
    """Return the (start, stop) row ranges of the work items: CHUNK_ROWS rows each,
    never crossing a shard boundary."""
    bounds = []
    for shard_start in range(0, total, shard_size):
        shard_stop = min(total, shard_start + shard_size)
        for start in range(shard_start, shard_stop, CHUNK_ROWS):
            bounds.append((start, min(shard_stop, start + CHUNK_ROWS)))
    return bounds


# Worker processes: the recipe arrives once, through the executor's initializer.
_worker_recipe: RowRecipe | None = None


def _init_worker(recipe: RowRecipe) -> None:
    global _worker_recipe
    _worker_recipe = recipe
    torch.set_num_threads(1)
    # The main process handles Ctrl-C and shuts the workers down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_rows(start: int, sources: np.ndarray) -> RowBatch:
    assert _worker_recipe is not None, "worker used before _init_worker"
    return make_rows(_worker_recipe, start, sources)


def generate_batches(recipe: RowRecipe, sources: np.ndarray, bounds: Sequence[tuple[int, int]],
                     workers: int) -> Iterator[RowBatch]:
    """Yield the row batches of `bounds` in order, made by `workers` processes (in this
    process when workers is 1). At most IN_FLIGHT_PER_WORKER items per worker are pending.

    An exception in a worker, or a worker that dies, raises here. Closing the generator
    cancels the pending items and waits for the running ones."""
    if workers <= 1:
        for start, stop in bounds:
            yield make_rows(recipe, start, sources[start:stop])
        return

    # spawn, not fork: a forked child of a process that has used torch's thread pools can hang.
    executor = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(recipe,)
    )
    pending: deque = deque()
    remaining = iter(bounds)
    limit = IN_FLIGHT_PER_WORKER * workers

    def submit_more() -> None:
        while len(pending) < limit:
            bound = next(remaining, None)
            if bound is None:
                return
            start, stop = bound
            pending.append(executor.submit(_worker_rows, start, sources[start:stop]))

    try:
        # The workers start during the first submissions. Started while Ctrl-C is ignored
        # here, they keep ignoring it from their first instruction, and so print no
        # traceback when it comes while they import torch.
        with _interrupts_ignored():
            submit_more()
        while pending:
            yield pending.popleft().result()
            submit_more()
    except BaseException:
        # Interrupted, failed or closed early: stop the workers at once rather than wait
        # for their items. A second Ctrl-C during a graceful shutdown could leave them
        # waiting for work forever, and the interpreter waiting for them at exit.
        with _interrupts_ignored():
            processes = list(getattr(executor, "_processes", {}).values())
            for process in processes:
                process.terminate()
            executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
        raise
    with _interrupts_ignored():
        executor.shutdown(wait=True)


@contextlib.contextmanager
def _first_interrupt_only():
    """Turn the first Ctrl-C in this block into KeyboardInterrupt and ignore the later
    ones, so that the clean-up the first one starts runs to its end. (A terminal sends
    SIGINT to every process of the group, and `timeout -s INT` sends it twice.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _interrupts_ignored():
    """Ignore SIGINT in this block (only the main thread can change signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        # None: the handler was not set from Python, so it cannot be restored from here.
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------
# Writing


def shard_file_name(split: str, index: int, count: int) -> str:
    """Return the Hugging Face hub's file name for parquet shard `index` of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


class ShardedParquetWriter:
    """Stream rows of one split into parquet shards of `shard_size` rows, in row groups
    of CHUNK_ROWS rows that never cross a shard boundary, and into one arrow stream file
    for the `save_to_disk` copy."""

    def __init__(self, folder: Path, split: str, total: int, shard_size: int, schema, arrow_path: Path):
        import pyarrow as pa

        self.folder, self.split, self.total, self.shard_size, self.schema = folder, split, total, shard_size, schema
        self.nb_shards = max(1, -(-total // shard_size))
        self.files: list[Path] = []
        self._buffer: list = []
        self._buffered = 0
        self._written = 0
        self._writer = None
        self._arrow_sink = pa.OSFile(str(arrow_path), "wb")
        self._arrow_writer = pa.ipc.new_stream(self._arrow_sink, schema)

    def append(self, table) -> None:
        self._buffer.append(table)
        self._buffered += table.num_rows
        while self._buffered and self._buffered >= self._next_group_rows():
            self._write_group(self._next_group_rows())

    def _next_group_rows(self) -> int:
        left_in_shard = self.shard_size - self._written % self.shard_size
        return min(CHUNK_ROWS, left_in_shard, self.total - self._written)

    def _write_group(self, rows: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._buffer).combine_chunks()
        group, rest = table.slice(0, rows), table.slice(rows)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

        if self._writer is None:
            index = self._written // self.shard_size
            path = self.folder / shard_file_name(self.split, index, self.nb_shards)
            self.files.append(path)
            self._writer = pq.ParquetWriter(str(path), self.schema, compression=PARQUET_COMPRESSION)
        self._writer.write_table(group, row_group_size=rows)
        self._arrow_writer.write_table(group)
        self._written += rows
        if self._written % self.shard_size == 0 or self._written == self.total:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        if self._buffered:
            raise RuntimeError(f"{self._buffered} rows of split {self.split} were never written")
        if self._written != self.total:
            raise RuntimeError(f"split {self.split} has {self._written} rows, expected {self.total}")
        if self._writer is not None:
            self._writer.close()
        self._arrow_writer.close()
        self._arrow_sink.close()

    def abort(self) -> None:
        """Close the files without checking the row counts, after a failed generation."""
        for closable in (self._writer, self._arrow_writer, self._arrow_sink):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - the staging folder is deleted next
                    pass


def batch_table(batch: RowBatch, schema):
    """Return a RowBatch as a pyarrow Table with the dataset schema."""
    import pyarrow as pa

    values = pa.array(batch.input_ids.reshape(-1), type=pa.int32())
    input_ids = pa.FixedSizeListArray.from_arrays(values, ROW_LEN)
    columns = [input_ids, pa.array(batch.label), pa.array(batch.structure), pa.array(batch.seed)]
    return pa.Table.from_arrays(columns, schema=schema)


def _save_arrow_copy(arrow_files: dict[str, Path], target: Path, shards: dict[str, int], as_dict: bool,
                     num_proc: int | None) -> None:
    """Write the `save_to_disk` form of the splits, read from their arrow stream files, in
    `num_proc` processes (None: in this process)."""
    import datasets

    bars_were_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        # from_file memory-maps the stream file and reads the features from its schema.
        splits = {name: datasets.Dataset.from_file(str(path), split=name) for name, path in arrow_files.items()}
        if as_dict:
            datasets.DatasetDict(splits).save_to_disk(str(target), num_shards=shards, num_proc=num_proc)
        else:
            (split,) = splits.values()
            split.save_to_disk(str(target), num_shards=next(iter(shards.values())), num_proc=num_proc)
        del splits
    finally:
        if not bars_were_disabled:
            datasets.enable_progress_bars()


def _dataset_card(title: str, splits: Sequence[str], options: DatasetOptions, labels: Sequence[str]) -> str:
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: {PARQUET_DIR}/{split}-*.parquet"]
    lines += ["---", "", f"# {title}", ""]
    lines.append(
        "Quizzes of François Fleuret's culture experiment as rows of 405 int32 tokens: a leading 0 "
        "(the BOS the models were trained with), then four slots of a marker and a 10x10 grid. "
        "Colours are tokens 0-10 and the markers A, f_A, B, f_B are 11-14."
    )
    lines.append("")
    lines.append(
        f"Columns: `input_ids`; `label` with classes {', '.join(labels)}; `structure`, the slot order "
        f"({'; '.join(STRUCTURE_NAMES)}), in which the last slot is the answer; `seed`, the seed of the "
        "row's random generator."
    )
    lines.append("")
    noise = f"prompt noise {options.noise:g}" if options.noise > 0 else "no prompt noise"
    order = "a random structure per row" if options.structures else "the structure A,f_A,B,f_B"
    lines.append(f"Generated by `culturectl dataset` with seed {options.seed}, {order} and {noise}.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The whole run


def default_workers() -> int:
    """Return the number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on macOS and Windows
        return os.cpu_count() or 1


def check_options(options: DatasetOptions) -> None:
    """Raise CulturectlError for options that cannot make a dataset."""
    try:
        check_task_names(options.tasks)
    except ValueError as error:
        raise CulturectlError(f"invalid --tasks: {error}") from None
    duplicates = sorted({task for task in options.tasks if options.tasks.count(task) > 1})
    if duplicates:
        raise CulturectlError(f"invalid --tasks: {', '.join(duplicates)} given more than once")
    if CULTURE_LABEL in options.tasks:
        raise CulturectlError(f"invalid --tasks: {CULTURE_LABEL!r} is the label of the culture quizzes, not a task")
    if options.n < 0:
        raise CulturectlError(f"invalid --n {options.n}: the number of world quizzes must be 0 or more")
    if options.shard_size < 1:
        raise CulturectlError(f"invalid --shard-size {options.shard_size}: it must be at least 1")
    if not 0 <= options.noise <= 1:
        raise CulturectlError(f"invalid noise {options.noise}: it must be a probability in [0, 1]")
    if not 0 <= options.seed < 1 << 63:
        raise CulturectlError(f"invalid --seed {options.seed}: use an integer in [0, 2**63)")


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CulturectlError(f"--out {out} already exists and is not an empty folder; remove it or choose another")


def load_culture(path: Path | None) -> tuple[torch.Tensor, dict | None]:
    """Return the test culture quizzes of `path` (none without a path) and the file's
    record for the manifest."""
    if path is None:
        return create_empty_quizzes(0), None
    from .checkpoints import file_sha256
    from .generation import load_culture_quizzes

    quizzes = load_culture_quizzes(Path(path))
    record = {"path": str(path), "sha256": file_sha256(Path(path)), "test_quizzes": int(quizzes.test.size(0))}
    return quizzes.test.to(torch.int64).contiguous(), record


def write_dataset(
    out: Path,
    options: DatasetOptions,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
) -> DatasetSummary:
    """Generate the dataset of `options` into the folder `out` with `workers` processes
    (default: every CPU this process may use) and return a summary.

    Everything is written into a hidden staging folder beside `out`, renamed to `out` at
    the end. A failed or interrupted run deletes the staging folder, so `out` appears only
    when complete. A killed process leaves the staging folder, `.<out name>.*.partial`,
    to be deleted by hand. `out` must not exist or be an empty folder.

    `on_progress(written, total)` is called each time rows are written, with the rows
    written so far and the total. With workers above 1, a script that calls this function
    must guard its entry point with `if __name__ == "__main__":`, because the worker
    processes are started with spawn and import the main module.
    """
    out = Path(out)
    options = replace(options, tasks=tuple(options.tasks))
    check_options(options)
    _check_out(out)
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise CulturectlError(f"invalid --workers {workers}: it must be at least 1")

    culture, culture_record = load_culture(options.culture)
    recipe = build_recipe(options, culture)
    total = options.n + culture.size(0)
    if total == 0:
        raise CulturectlError("the dataset would have no rows; give --n above 0 or a --culture file with test quizzes")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    # mkdtemp creates the folder private; give the result the permissions of a normal folder.
    os.chmod(staging, default_mode(0o777))
    try:
        with _first_interrupt_only():
            summary = _write_staging(staging, options, recipe, total, workers, on_progress)
            manifest = _manifest(staging, options, summary, culture_record, workers, command)
            (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
            if out.exists():
                out.rmdir()  # empty, checked above
            os.rename(staging, out)
    except BaseException:
        with _interrupts_ignored():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    summary.out = out
    summary.parquet_files = [out / path.relative_to(staging) for path in summary.parquet_files]
    summary.manifest = manifest
    return summary


def _write_staging(staging: Path, options: DatasetOptions, recipe: RowRecipe, total: int, workers: int,
                   on_progress: Callable[[int, int], None] | None) -> DatasetSummary:
    import pyarrow as pa

    labels = label_names(options.tasks)
    features = dataset_features(labels)
    schema = features.arrow_schema
    sources = plan_sources(total, options.seed)
    bounds = chunk_bounds(total, options.shard_size)
    workers = min(workers, len(bounds))

    counts = dict.fromkeys(labels, 0)
    for task, count in zip(recipe.tasks, task_counts(options.n, len(recipe.tasks))):
        counts[task] = count
    counts[CULTURE_LABEL] = int(recipe.culture.size(0))

    temporary = staging / ".rows"
    temporary.mkdir()
    (staging / PARQUET_DIR).mkdir()
    writers = {TRAIN_SPLIT: ShardedParquetWriter(
        staging / PARQUET_DIR, TRAIN_SPLIT, total, options.shard_size, schema, temporary / f"{TRAIN_SPLIT}.arrow"
    )}
    partition_writers: dict[str, ShardedParquetWriter] = {}
    if options.partitioned:
        (staging / PARTITIONED_DIR / PARQUET_DIR).mkdir(parents=True)
        for label in labels:
            if counts[label]:
                partition_writers[label] = ShardedParquetWriter(
                    staging / PARTITIONED_DIR / PARQUET_DIR, label, counts[label], options.shard_size, schema,
                    temporary / f"partition-{label}.arrow",
                )

    started = time.perf_counter()
    written = 0
    batches = generate_batches(recipe, sources, bounds, workers)
    try:
        for batch in batches:
            table = batch_table(batch, schema)
            writers[TRAIN_SPLIT].append(table)
            for label, writer in partition_writers.items():
                mask = batch.label == labels.index(label)
                if mask.any():
                    writer.append(table.filter(pa.array(mask)))
            written += len(batch)
            if on_progress is not None:
                on_progress(written, total)
        for writer in [*writers.values(), *partition_writers.values()]:
            writer.close()
    except BaseException:
        # Stop the workers now rather than when the generator is garbage-collected.
        with _interrupts_ignored():
            batches.close()
            for writer in [*writers.values(), *partition_writers.values()]:
                writer.abort()
        raise

    train = writers[TRAIN_SPLIT]
    logger.info("generated %d rows; writing the save_to_disk copy", total)
    num_proc = None if total * ROW_BYTES <= SAVE_IN_PROCESS_MAX_BYTES else max(1, min(workers, train.nb_shards))
    _save_arrow_copy({TRAIN_SPLIT: temporary / f"{TRAIN_SPLIT}.arrow"}, staging / ARROW_DIR,
                     {TRAIN_SPLIT: train.nb_shards}, as_dict=False, num_proc=num_proc)
    (staging / CARD_NAME).write_text(_dataset_card("Culture quizzes", [TRAIN_SPLIT], options, labels))
    files = list(train.files)
    if options.partitioned:
        _save_arrow_copy(
            {label: temporary / f"partition-{label}.arrow" for label in partition_writers},
            staging / PARTITIONED_DIR / ARROW_DIR,
            {label: writer.nb_shards for label, writer in partition_writers.items()}, as_dict=True,
            num_proc=num_proc,
        )
        (staging / PARTITIONED_DIR / CARD_NAME).write_text(
            _dataset_card("Culture quizzes, one split per label", list(partition_writers), options, labels)
        )
        for writer in partition_writers.values():
            files += writer.files
    shutil.rmtree(temporary)
    seconds = time.perf_counter() - started
    return DatasetSummary(staging, total, counts, files, seconds)


def _manifest(staging: Path, options: DatasetOptions, summary: DatasetSummary, culture_record: dict | None,
              workers: int, command: str | None) -> dict:
    from importlib.metadata import version

    from . import __version__
    from .checkpoints import file_sha256

    return {
        "command": command,
        "seed": options.seed,
        "options": {
            "n": options.n,
            "tasks": list(options.tasks),
            "structures": options.structures,
            "noise": options.noise,
            "shard_size": options.shard_size,
            "partitioned": options.partitioned,
            "struct_of_quizzes": ",".join(WORLD_STRUCT),
        },
        "inputs": {"culture": culture_record},
        "versions": {
            "culturectl": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pyarrow": version("pyarrow"),
            "datasets": version("datasets"),
        },
        "rows": summary.rows,
        "labels": label_names(options.tasks),
        "label_counts": summary.label_counts,
        "structures": list(STRUCTURE_NAMES),
        "workers": workers,
        "seconds": round(summary.seconds, 3),
        "rows_per_second": round(summary.rows_per_second, 1),
        "files": {str(path.relative_to(staging)): file_sha256(path) for path in summary.parquet_files},
    }


# ---------------------------------------------------------------------------
# Hub


def partitioned_repo_id(repo_id: str) -> str:
    """Return the repository id of the partitioned copy, `<repo_id>-partitioned`, as the
    published partitioned dataset is named."""
    return f"{repo_id}-partitioned"


def check_push_repo(repo_id: str, partitioned: bool) -> None:
    """Raise CulturectlError unless `repo_id` (and its partitioned twin) are valid ids."""
    from .hub import check_repo_id

    for name in [repo_id] + ([partitioned_repo_id(repo_id)] if partitioned else []):
        check_repo_id(name)


def push_dataset(out: Path, repo_id: str, partitioned: bool) -> list[str]:
    """Upload the parquet shards, dataset card and manifest of `out` to the dataset
    repository `repo_id`, and with `partitioned` the partitioned copy to
    `<repo_id>-partitioned`, creating the repositories if needed. Returns the commit URLs."""
    from .hub import push_folder

    check_push_repo(repo_id, partitioned)
    targets = [(repo_id, Path(out), [CARD_NAME, MANIFEST_NAME, f"{PARQUET_DIR}/*.parquet"])]
    if partitioned:
        targets.append((partitioned_repo_id(repo_id), Path(out) / PARTITIONED_DIR, [CARD_NAME, f"{PARQUET_DIR}/*.parquet"]))
    return [
        push_folder(folder, target, "dataset", patterns, "Upload culture quizzes")
        for target, folder, patterns in targets
    ]
