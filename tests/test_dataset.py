"""The culture dataset: rows, schema, determinism across worker counts, reloading with
the standard datasets loaders, partitioned splits and interrupted runs. Sizes stay small;
the 1M-row run is in benchmarks/dataset_speed.py."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from culturectl import dataset as dataset_module
from culturectl.cli import app
from culturectl.dataset import (
    ARROW_DIR, CARD_NAME, CHUNK_ROWS, MANIFEST_NAME, PARQUET_DIR, PARTITIONED_DIR, STRUCTURE_NAMES,
    DatasetOptions, chunk_bounds, dataset_features, label_names, make_quiz, push_dataset, row_seeds,
    task_counts, write_dataset,
)
from culturectl.errors import CulturectlError
from culturectl.generation import load_culture_quizzes
from vendor_culture import tasks as task_registry
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import (
    BOS_TOKEN, MARKER_TOKENS, NB_COLORS, QUIZ_LEN, ROW_LEN, SLOT_LEN, WORLD_STRUCT, reconfigure,
)
from vendor_culture.world import generate_task_quizzes

PUBLISHED_LABELS = [
    "contact", "corners", "culture", "detect", "frame", "grow", "half_fill", "replace_color", "translate",
]
N_WORLD = 40
SHARD_SIZE = 16
runner = CliRunner()


@pytest.fixture(scope="module")
def culture_file(data_dir):
    return data_dir / "c_quizzes.pth"


@pytest.fixture(scope="module")
def options(culture_file) -> DatasetOptions:
    return DatasetOptions(n=N_WORLD, seed=5, culture=culture_file, shard_size=SHARD_SIZE, partitioned=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory, options):
    """A small dataset with culture quizzes and the partitioned copy, by one process."""
    out = tmp_path_factory.mktemp("one-worker") / "dataset"
    summary = write_dataset(out, options, workers=1)
    return out, summary


@pytest.fixture(scope="module")
def parquet_table(built):
    out, _ = built
    return pq.read_table(sorted((out / PARQUET_DIR).glob("*.parquet")))


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Keep `load_dataset` caches inside the test's folder and the hub offline."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf-cache"


def culture_test_quizzes(path) -> torch.Tensor:
    return load_culture_quizzes(path).test


# ---------------------------------------------------------------------------
# Pure helpers


def test_labels_match_published_ids():
    assert label_names(RELEASED_TASKS) == PUBLISHED_LABELS
    assert label_names(["translate", "frame"]) == ["culture", "frame", "translate"]


def test_task_counts_split_evenly():
    assert task_counts(10, 3) == [4, 3, 3]
    assert task_counts(1_000_000, 8) == [125_000] * 8
    assert task_counts(0, 2) == [0, 0]


def test_row_seeds_stable_and_distinct():
    seeds = row_seeds(0, np.arange(10_000))
    assert seeds.dtype == np.int64
    assert len(set(seeds.tolist())) == 10_000
    assert int(seeds.min()) >= 0
    assert not np.array_equal(row_seeds(1, np.arange(100)), seeds[:100])
    assert np.array_equal(row_seeds(0, np.arange(5, 10)), seeds[5:10])
    # Pinned values: changing the formula changes every row of every dataset.
    assert row_seeds(0, np.array([0, 1])).tolist() == [7070836379803831727, 7960286522194355700]


def test_chunk_bounds_cover_rows_within_shards():
    bounds = chunk_bounds(2500, 1200)
    assert bounds[0] == (0, CHUNK_ROWS)
    assert [stop - start for start, stop in bounds] == [1000, 200, 1000, 200, 100]
    assert all(start // 1200 == (stop - 1) // 1200 for start, stop in bounds)
    assert bounds[-1][1] == 2500


# ---------------------------------------------------------------------------
# Rows and schema


def test_row_count_and_labels(built, culture_file):
    out, summary = built
    nb_culture = culture_test_quizzes(culture_file).size(0)
    assert summary.rows == N_WORLD + nb_culture
    expected = {task: N_WORLD // len(RELEASED_TASKS) for task in RELEASED_TASKS}
    expected["culture"] = nb_culture
    assert summary.label_counts == {label: expected[label] for label in PUBLISHED_LABELS}
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["rows"] == summary.rows
    assert manifest["labels"] == PUBLISHED_LABELS
    assert manifest["inputs"]["culture"]["test_quizzes"] == nb_culture
    assert len(manifest["inputs"]["culture"]["sha256"]) == 64
    assert set(manifest["versions"]) >= {"culturectl", "torch", "pyarrow", "datasets"}


def test_parquet_schema_and_dtypes(built):
    out, _ = built
    schema = pq.read_schema(next((out / PARQUET_DIR).glob("*.parquet")))
    assert schema.field("input_ids").type == pa.list_(pa.int32(), ROW_LEN)
    for name in ("label", "structure", "seed"):
        assert schema.field(name).type == pa.int64(), name


def test_label_counts_in_rows(parquet_table, built):
    _, summary = built
    labels = parquet_table.column("label").to_numpy()
    for index, name in enumerate(PUBLISHED_LABELS):
        assert int((labels == index).sum()) == summary.label_counts[name], name


def test_rows_start_with_bos_and_markers(parquet_table):
    rows = np.stack(parquet_table.column("input_ids").to_numpy(zero_copy_only=False))
    structures = parquet_table.column("structure").to_numpy()
    assert rows.shape == (parquet_table.num_rows, ROW_LEN)
    assert (rows[:, 0] == BOS_TOKEN).all()
    for row, structure in zip(rows, structures):
        markers = [MARKER_TOKENS[name] for name in STRUCTURE_NAMES[structure].split(",")]
        assert row[1::SLOT_LEN].tolist() == markers
        cells = np.delete(row[1:], np.arange(0, QUIZ_LEN, SLOT_LEN))
        assert cells.min() >= 0
        assert cells.max() < NB_COLORS
    assert len(set(structures.tolist())) > 1, "every row got the same structure"


def test_world_rows_regenerate_from_seed(parquet_table):
    for index in range(parquet_table.num_rows):
        label = PUBLISHED_LABELS[parquet_table.column("label")[index].as_py()]
        if label == "culture":
            continue
        quiz, structure = make_quiz(label, parquet_table.column("seed")[index].as_py())
        row = parquet_table.column("input_ids")[index].as_py()
        assert row[1:] == quiz.tolist(), f"row {index}"
        assert structure == parquet_table.column("structure")[index].as_py()


def test_culture_rows_are_test_quizzes(parquet_table, culture_file):
    expected = culture_test_quizzes(culture_file)
    culture = PUBLISHED_LABELS.index("culture")
    rows = [
        torch.tensor(parquet_table.column("input_ids")[index].as_py()[1:])
        for index in range(parquet_table.num_rows)
        if parquet_table.column("label")[index].as_py() == culture
    ]
    quizzes = reconfigure(torch.stack(rows), WORLD_STRUCT)
    # A and f_A are never noised. Noise hits B or f_B, so compare those loosely.
    a_slots = slice(0, 2 * SLOT_LEN)
    matched = sorted(
        int(torch.nonzero((expected[:, a_slots] == quiz[a_slots]).all(dim=1))[0]) for quiz in quizzes
    )
    assert matched == list(range(expected.size(0)))
    for quiz in quizzes:
        source = expected[(expected[:, a_slots] == quiz[a_slots]).all(dim=1)][0]
        assert (quiz != source).float().mean() < 0.05


def test_no_structures_no_noise(tmp_path):
    out = tmp_path / "plain"
    write_dataset(out, DatasetOptions(n=8, seed=2, structures=False, noise=0.0, shard_size=8), workers=1)
    table = pq.read_table(out / PARQUET_DIR)
    assert set(table.column("structure").to_pylist()) == {0}
    for index in range(table.num_rows):
        label = label_names(RELEASED_TASKS)[table.column("label")[index].as_py()]
        generator = torch.Generator().manual_seed(table.column("seed")[index].as_py())
        quiz = generate_task_quizzes(1, label, generator)
        assert table.column("input_ids")[index].as_py() == [BOS_TOKEN, *quiz[0].tolist()]


# ---------------------------------------------------------------------------
# Files, determinism and reloading


def test_shards_and_row_groups(built):
    out, summary = built
    files = sorted((out / PARQUET_DIR).glob("*.parquet"))
    assert [path.name for path in files] == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]
    sizes = [pq.ParquetFile(path).metadata.num_rows for path in files]
    assert sizes == [SHARD_SIZE, SHARD_SIZE, summary.rows - 2 * SHARD_SIZE]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert sorted(manifest["files"]) == sorted(str(path.relative_to(out)) for path in out.rglob("*.parquet"))


def test_two_workers_byte_identical(built, options, tmp_path, monkeypatch):
    out, _ = built
    other = tmp_path / "two-workers"
    # Also write the save_to_disk copy from child processes, as for large datasets.
    monkeypatch.setattr(dataset_module, "SAVE_IN_PROCESS_MAX_BYTES", 0)
    write_dataset(other, options, workers=2)
    files = sorted(path.relative_to(out) for path in out.rglob("*") if path.suffix in (".parquet", ".arrow"))
    assert len(files) > 3
    for relative in files:
        assert (other / relative).read_bytes() == (out / relative).read_bytes(), str(relative)


def test_reload_with_load_from_disk(built, parquet_table):
    import datasets

    out, summary = built
    dataset = datasets.load_from_disk(str(out / ARROW_DIR))
    assert isinstance(dataset, datasets.Dataset)
    assert dataset.num_rows == summary.rows
    assert dataset.features == dataset_features(PUBLISHED_LABELS)
    assert dataset.features["label"].names == PUBLISHED_LABELS
    assert dataset["input_ids"] == parquet_table.column("input_ids").to_pylist()
    assert dataset.data.schema.field("input_ids").type == pa.list_(pa.int32(), ROW_LEN)


def test_reload_with_load_dataset_parquet(built, parquet_table, datasets_cache):
    import datasets

    out, summary = built
    dataset = datasets.load_dataset(
        "parquet", data_files=str(out / PARQUET_DIR / "*.parquet"), split="train", cache_dir=str(datasets_cache)
    )
    assert dataset.num_rows == summary.rows
    assert dataset.features == dataset_features(PUBLISHED_LABELS)
    assert dataset["seed"] == parquet_table.column("seed").to_pylist()
    # The dataset card names the parquet files, so the folder loads by itself.
    folder = datasets.load_dataset(str(out), cache_dir=str(datasets_cache))
    assert list(folder) == ["train"]
    assert folder["train"].num_rows == summary.rows


def test_partitioned_splits(built, parquet_table, datasets_cache):
    import datasets

    out, summary = built
    partitioned = datasets.load_from_disk(str(out / PARTITIONED_DIR / ARROW_DIR))
    assert sorted(partitioned) == PUBLISHED_LABELS
    labels = parquet_table.column("label").to_numpy()
    for name, split in partitioned.items():
        label = PUBLISHED_LABELS.index(name)
        assert split.num_rows == summary.label_counts[name]
        assert set(split["label"]) == {label}
        expected = parquet_table.filter(pa.array(labels == label))
        assert split["seed"] == expected.column("seed").to_pylist(), name
    from_parquet = datasets.load_dataset(str(out / PARTITIONED_DIR), cache_dir=str(datasets_cache))
    assert sorted(from_parquet) == PUBLISHED_LABELS
    assert "configs:" in (out / PARTITIONED_DIR / CARD_NAME).read_text()


# ---------------------------------------------------------------------------
# Failures


def assert_nothing_left(parent, before):
    assert sorted(path.name for path in parent.iterdir()) == before


def test_failing_task_leaves_no_output(tmp_path, monkeypatch):
    calls = {"count": 0}
    frame = task_registry.TASKS["frame"]

    def failing_frame(*args):
        calls["count"] += 1
        if calls["count"] > 5:
            raise RuntimeError("task failed on purpose")
        return frame(*args)

    monkeypatch.setitem(task_registry.TASKS, "frame", failing_frame)
    out = tmp_path / "failed"
    with pytest.raises(RuntimeError, match="on purpose"):
        write_dataset(out, DatasetOptions(n=24, tasks=("frame",), shard_size=2, partitioned=True), workers=1)
    assert calls["count"] == 6
    assert_nothing_left(tmp_path, [])


def test_interrupt_leaves_no_output(tmp_path):
    def interrupt(written, total):
        if written >= 4:
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        write_dataset(out, DatasetOptions(n=12, tasks=("frame",), shard_size=4), workers=1, on_progress=interrupt)
    assert_nothing_left(tmp_path, [])


def test_worker_process_failure_leaves_no_output(tmp_path, monkeypatch):
    # The task exists only in this process, so the spawned workers reject its name.
    monkeypatch.setitem(task_registry.TASKS, "only_in_parent", task_registry.TASKS["frame"])
    out = tmp_path / "failed"
    with pytest.raises(ValueError, match="unknown task only_in_parent"):
        write_dataset(out, DatasetOptions(n=4, tasks=("only_in_parent",), shard_size=2), workers=2)
    assert_nothing_left(tmp_path, [])


@pytest.mark.parametrize(("changes", "message"), [
    ({"tasks": ("frame", "frame")}, "frame given more than once"),
    ({"tasks": ("nope",)}, "unknown task nope"),
    ({"tasks": ()}, "the task list is empty"),
    ({"n": 0}, "would have no rows"),
    ({"seed": -1}, "invalid --seed -1"),
    ({"shard_size": 0}, "invalid --shard-size 0"),
])
def test_invalid_options(tmp_path, changes, message):
    options = DatasetOptions(**{**DatasetOptions(n=4).__dict__, **changes})
    with pytest.raises(CulturectlError, match=message):
        write_dataset(tmp_path / "out", options, workers=1)
    assert not (tmp_path / "out").exists()


def test_out_must_be_empty(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("keep")
    with pytest.raises(CulturectlError, match="already exists and is not an empty folder"):
        write_dataset(tmp_path / "out", DatasetOptions(n=4), workers=1)
    assert (tmp_path / "out" / "old.txt").read_text() == "keep"


def test_missing_culture_file(tmp_path):
    with pytest.raises(CulturectlError, match="not found"):
        write_dataset(tmp_path / "out", DatasetOptions(n=4, culture=tmp_path / "none.pth"), workers=1)


# ---------------------------------------------------------------------------
# Command line and hub


def test_cli_writes_dataset(tmp_path):
    out = tmp_path / "cli"
    result = runner.invoke(app, [
        "dataset", "--n", "6", "--out", str(out), "--tasks", "frame,translate", "--seed", "3",
        "--workers", "1", "--shard-size", "4", "--no-noise",
    ])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    # The command line is sys.argv, which under CliRunner is pytest's own.
    assert manifest["command"].startswith("culturectl")
    assert manifest["options"]["noise"] == 0.0
    assert manifest["options"]["tasks"] == ["frame", "translate"]
    assert manifest["labels"] == ["culture", "frame", "translate"]
    assert manifest["rows"] == 6


def test_cli_rejects_invalid_repo_before_generating(tmp_path):
    out = tmp_path / "cli"
    result = runner.invoke(app, ["dataset", "--n", "4", "--out", str(out), "--push-to-hub", "bad repo!"])
    assert result.exit_code == 1
    assert isinstance(result.exception, CulturectlError)
    assert "invalid --push-to-hub 'bad repo!'" in str(result.exception)
    assert not out.exists()


def test_push_uploads_both_repositories(built, monkeypatch):
    from huggingface_hub import HfApi

    out, _ = built
    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: calls.append(("create", repo_id, kwargs)))
    monkeypatch.setattr(
        HfApi, "upload_folder", lambda self, **kwargs: calls.append(("upload", kwargs)) or f"commit {kwargs['repo_id']}"
    )
    commits = push_dataset(out, "someone/culture-quizzes", partitioned=True)
    assert commits == ["commit someone/culture-quizzes", "commit someone/culture-quizzes-partitioned"]
    creates = [call for call in calls if call[0] == "create"]
    uploads = [call[1] for call in calls if call[0] == "upload"]
    assert [call[1] for call in creates] == ["someone/culture-quizzes", "someone/culture-quizzes-partitioned"]
    assert all(call[2] == {"repo_type": "dataset", "exist_ok": True} for call in creates)
    assert uploads[0]["folder_path"] == str(out)
    assert uploads[0]["allow_patterns"] == [CARD_NAME, MANIFEST_NAME, f"{PARQUET_DIR}/*.parquet"]
    assert uploads[1]["folder_path"] == str(out / PARTITIONED_DIR)
    assert all(upload["repo_type"] == "dataset" for upload in uploads)
