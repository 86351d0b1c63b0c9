"""`culturectl eval` and `culturectl train` through the command line."""

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from culturectl.cli import app
from culturectl.errors import CulturectlError

runner = CliRunner()


def run_cli(*args):
    """Run the real entry point in a subprocess: exit code, stdout, stderr."""
    process = subprocess.run(
        [sys.executable, "-m", "culturectl", *args], capture_output=True, text=True, timeout=600
    )
    return process.returncode, process.stdout, process.stderr


def test_eval_json_records():
    result = runner.invoke(app, ["eval", "--models", "0,1", "--tasks", "replace_color", "--structures", "f_B,A", "-n", "8", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 4
    keys = {"model", "source", "task", "structure", "n", "greedy", "greedy_lo", "greedy_hi",
            "expected_sampled", "expected_lo", "expected_hi", "perplexity"}
    for record in records:
        assert set(record) == keys
        assert record["source"] == "bundled"
        assert record["n"] == 8
        assert record["greedy_lo"] <= record["greedy"] <= record["greedy_hi"]
        assert record["perplexity"] >= 1.0
    assert [(r["model"], r["structure"]) for r in records] == [(0, "f_B"), (0, "A"), (1, "f_B"), (1, "A")]


def test_eval_decode_adds_sampled():
    result = runner.invoke(app, ["eval", "--models", "2", "--tasks", "frame", "--structures", "f_B", "-n", "4", "--decode", "--json"])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert {"sampled", "sampled_lo", "sampled_hi"} <= set(record)


def test_eval_same_seed_same_output():
    args = ["eval", "--models", "3", "--tasks", "grow", "--structures", "B", "-n", "6", "--json", "--seed", "7"]
    first = runner.invoke(app, args)
    second = runner.invoke(app, args)
    assert first.exit_code == 0
    assert first.stdout == second.stdout


def test_eval_table_lists_every_task():
    result = runner.invoke(app, ["eval", "--models", "4", "-n", "2", "--structures", "f_B"])
    assert result.exit_code == 0, result.output
    for task in ("replace_color", "translate", "grow", "half_fill", "frame", "detect", "corners", "contact"):
        assert task in result.stdout
    assert "gpt_004 (bundled)" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--tasks", "nope"], "unknown task nope; valid tasks:"),
        (["--models", "7"], "unknown model id 7; available ids: 0, 1, 2, 3, 4"),
        (["--models", "x-y"], "invalid model selection"),
        (["--structures", "C"], "unknown structure 'C'"),
        (["--checkpoints", "/nonexistent/folder"], "checkpoint folder not found: /nonexistent/folder"),
    ],
)
def test_eval_bad_input_one_line_error(args, fragment):
    code, out, err = run_cli("eval", "-n", "1", *args)
    assert code == 1
    assert out == ""
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_usage_error_exit_code_two():
    code, _, err = run_cli("eval", "--num-samples", "many")
    assert code == 2
    assert "Traceback" not in err


def test_debug_shows_traceback():
    code, _, err = run_cli("--debug", "eval", "--tasks", "nope", "-n", "1")
    assert code == 1
    assert "Traceback" in err


def test_eval_original_checkpoint_folder(tmp_path, data_dir):
    (tmp_path / "gpt_000.pth").write_bytes((data_dir / "gpt_000.pth").read_bytes())
    result = runner.invoke(app, ["eval", "--checkpoints", str(tmp_path), "-n", "2", "--tasks", "grow", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert {r["source"] for r in records} == {str(tmp_path)}


def test_eval_corrupt_checkpoint_fails_cleanly(tmp_path):
    (tmp_path / "gpt_000.pth").write_bytes(b"not a checkpoint at all")
    result = runner.invoke(app, ["eval", "--checkpoints", str(tmp_path), "-n", "1"])
    assert isinstance(result.exception, CulturectlError)
    assert "gpt_000.pth" in str(result.exception)


TINY = ["--dim-model", "16", "--dim-keys", "8", "--dim-hidden", "16", "--nb-heads", "2",
        "--nb-blocks", "1", "--batch-size", "4", "--eval-samples", "2", "--seed", "3", "--samples", "16"]


def test_train_interrupted_resume_matches_uninterrupted(tmp_path, monkeypatch):
    import culturectl.trainer as trainer
    from safetensors.torch import load_file

    fresh = runner.invoke(app, ["train", "--out", str(tmp_path / "fresh"), "--run-dir", str(tmp_path / "r1"), *TINY])
    assert fresh.exit_code == 0, fresh.output

    real_train = trainer.train

    def interrupted_train(model, optimizer, config, state, device, on_step):
        def stop_after_two(state, loss):
            on_step(state, loss)
            if state.step == 2:
                raise KeyboardInterrupt
        return real_train(model, optimizer, config, state, device, stop_after_two)

    monkeypatch.setattr(trainer, "train", interrupted_train)
    stopped = runner.invoke(app, ["train", "--out", str(tmp_path / "resumed"), "--run-dir", str(tmp_path / "r2"), *TINY])
    assert isinstance(stopped.exception, CulturectlError)
    assert "--resume" in str(stopped.exception)
    assert not (tmp_path / "resumed" / "gpt_000.safetensors").exists()

    monkeypatch.setattr(trainer, "train", real_train)
    resumed = runner.invoke(app, ["train", "--out", str(tmp_path / "resumed"), "--run-dir", str(tmp_path / "r2"), "--resume", *TINY])
    assert resumed.exit_code == 0, resumed.output

    a = load_file(tmp_path / "fresh" / "gpt_000.safetensors")
    b = load_file(tmp_path / "resumed" / "gpt_000.safetensors")
    assert all(torch.equal(a[key], b[key]) for key in a)

    metadata = json.loads((tmp_path / "resumed" / "gpt_000.json").read_text())
    assert metadata["training"]["samples_seen"] == 16
    assert metadata["training"]["seed"] == 3
    assert set(metadata["accuracy"]["per_task"]) == {
        "replace_color", "translate", "grow", "half_fill", "frame", "detect", "corners", "contact"}
    assert (tmp_path / "resumed" / "gpt_000.pth").is_file()


def test_eval_culture_task_from_file(tmp_path, data_dir):
    (tmp_path / "gpt_000.pth").write_bytes((data_dir / "gpt_000.pth").read_bytes())
    result = runner.invoke(app, [
        "eval", "--checkpoints", str(tmp_path), "--tasks", "culture,grow", "--structures", "f_B",
        "--culture-quizzes", str(data_dir / "c_quizzes.pth"), "-n", "5", "--json",
    ])
    assert result.exit_code == 0, result.output
    records = {r["task"]: r for r in json.loads(result.stdout)}
    # The reference file's test list holds two quizzes.
    assert records["culture"]["n"] == 2
    assert records["grow"]["n"] == 5


def test_eval_culture_task_needs_quizzes():
    code, _, err = run_cli("eval", "--tasks", "culture", "-n", "1")
    assert code == 1
    assert "--culture-quizzes" in err


def test_eval_hub_source_not_fetched(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "culturectl", "eval", "--source", "hub", "-n", "1"],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"},
    )
    assert process.returncode == 1
    assert "culturectl fetch" in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_eval_culture_task_on_generated_file(tmp_path, suffix):
    from culturectl.generation import save_quiz_file
    from vendor_culture.world import generate_world_quizzes

    quizzes = generate_world_quizzes(7, ["frame"], torch.Generator().manual_seed(2))
    path = tmp_path / f"culture{suffix}"
    save_quiz_file(path, quizzes[:4], quizzes[4:])
    result = runner.invoke(app, [
        "eval", "--models", "0", "--tasks", "culture", "--structures", "A",
        "--culture-quizzes", str(path), "-n", "10", "--json",
    ])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["task"] == "culture"
    assert record["n"] == 3
