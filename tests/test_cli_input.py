"""Bad command-line input across subcommands: usage errors exit 2, other errors print one
line on stderr and exit 1, and an interrupted dataset run stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

from culturectl.checkpoints import BUNDLED_DIR, load_checkpoint, save_safetensors
from culturectl.cli import app
from culturectl.errors import CulturectlError
from culturectl.hooked import load_hooked
from culturectl.selection import parse_model_ids

runner = CliRunner()


def run_cli(*args, cwd=None):
    """Run the real entry point in a subprocess: exit code, stdout, stderr."""
    process = subprocess.run(
        [sys.executable, "-m", "culturectl", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    return process.returncode, process.stdout, process.stderr


@pytest.mark.parametrize("args", [
    ["show-quiz", "--seed", "-1"],
    ["show-quiz", "--seed", str(2**63)],
    ["show-quiz", "--n", "10001"],
    ["show-quiz", "--task", ""],
    ["eval", "--models", "0", "--structures", ""],
    ["eval", "--models", "0", "--tasks", ","],
    ["train", "--models", "0", "--out", "unused", "--batch-size", "0"],
    ["train", "--models", "0", "--out", "unused", "--samples", "0"],
    ["train", "--models", "0", "--out", "unused", "--noise", "2"],
    ["train", "--models", "0", "--out", "unused", "--eval-samples", "-1"],
    ["train", "--models", "0", "--out", "unused", "--tasks", ""],
    ["dataset", "--n", "4", "--out", "unused", "--tasks", ""],
    ["train-sae", "--eval-only", "identity", "--seed", "-1"],
    ["generate", "--culture", "--n", "2", "--n-test", "5"],
])
def test_usage_errors_exit_2(tmp_path, args):
    result = runner.invoke(app, args)

    assert result.exit_code == 2, result.output
    assert not (tmp_path / "unused").exists()


def test_largest_seed_is_accepted():
    # Seeds derived from it (per task, per model) must stay inside torch's range.
    result = runner.invoke(app, [
        "eval", "--models", "0", "--tasks", "frame", "--structures", "A", "-n", "2",
        "--seed", str(2**63 - 1), "--json",
    ])

    assert result.exit_code == 0, result.output


def test_text_quiz_file(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")

    code, _, stderr = run_cli("show-quiz", "--file", str(text))

    assert code == 1
    assert stderr == f"error: {text}: not a torch quiz file, the file is corrupt or of another format\n"


def test_folder_as_quiz_file(tmp_path):
    code, _, stderr = run_cli("show-quiz", "--file", str(tmp_path))

    assert code == 1
    assert stderr == f"error: {tmp_path} is a folder; give a quiz file (.pth or .safetensors)\n"


def test_output_below_a_file(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")

    code, _, stderr = run_cli("show-quiz", "--n", "1", "--png", str(blocker / "quiz.png"))
    assert code == 1
    assert stderr == f"error: cannot write {blocker / 'quiz.png'}: {blocker} is a file, not a folder; choose another path\n"

    code, _, stderr = run_cli("dataset", "--n", "4", "--workers", "1", "--out", str(blocker / "data"))
    assert code == 1
    assert stderr.startswith("error: "), stderr
    assert stderr.count("\n") == 1, stderr
    assert str(blocker) in stderr


def test_dataset_stops_cleanly_on_double_interrupt(tmp_path):
    # A terminal's Ctrl-C reaches every process of the group, and `timeout -s INT` signals
    # the command twice; neither may leave processes waiting or a partial folder behind.
    out = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "culturectl", "dataset", "--n", "200000", "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # Whatever this process does with SIGINT, the command starts with the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Wait until the workers have sent rows: the row cache in the staging folder grows.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        path.stat().st_size > 0 for path in tmp_path.glob(".data.*.partial/.rows/*.arrow")
    ):
        time.sleep(0.1)
    assert time.monotonic() < deadline, "the run wrote no rows within 120 s"

    os.kill(process.pid, signal.SIGINT)
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the interrupted run did not exit within 120 s")

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def train_args(out, run_dir, *extra):
    return ["train", "--models", "0", "--preset", "17K", "--samples", "16", "--batch-size", "8",
            "--eval-samples", "0", "--out", str(out), "--run-dir", str(run_dir), *extra]


def test_train_keeps_finished_models(tmp_path):
    first = runner.invoke(app, train_args(tmp_path / "out", tmp_path / "run"))
    assert first.exit_code == 0, first.output
    before = (tmp_path / "out" / "gpt_000.safetensors").read_bytes()

    second = runner.invoke(app, train_args(tmp_path / "out", tmp_path / "run2", "--seed", "5"))

    assert isinstance(second.exception, CulturectlError), second.output
    assert "gpt_000.safetensors exists" in str(second.exception)
    assert (tmp_path / "out" / "gpt_000.safetensors").read_bytes() == before


def test_train_resume_rejects_other_settings(tmp_path):
    first = runner.invoke(app, train_args(tmp_path / "out", tmp_path / "run"))
    assert first.exit_code == 0, first.output

    changed = runner.invoke(app, train_args(tmp_path / "out", tmp_path / "run", "--resume", "--lr", "0.05"))
    assert isinstance(changed.exception, CulturectlError), changed.output
    assert "lr 0.002 -> 0.05" in str(changed.exception)

    # More samples only stretch the schedule, so that change is allowed.
    longer = train_args(tmp_path / "out", tmp_path / "run", "--resume")
    longer[longer.index("16")] = "32"
    extended = runner.invoke(app, longer)
    assert extended.exit_code == 0, extended.output


def test_huge_model_range_is_rejected_at_once():
    with pytest.raises(CulturectlError, match="unknown model id 3"):
        parse_model_ids("0-99999999999999999999", [0, 1, 2])


def test_convert_rejects_nan_model(tmp_path):
    loaded = load_checkpoint(BUNDLED_DIR / "gpt_000.safetensors", 0)
    with torch.no_grad():
        next(loaded.model.parameters()).fill_(float("nan"))
    save_safetensors(tmp_path / "nan" / "gpt_000.safetensors", loaded.model)

    result = runner.invoke(app, ["convert", "--checkpoints", str(tmp_path / "nan"), "--models", "0",
                                 "--out", str(tmp_path / "out")])

    assert isinstance(result.exception, CulturectlError), result.output
    assert "NaN logits" in str(result.exception)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_converted_model(tmp_path):
    result = runner.invoke(app, ["convert", "--models", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    weights = tmp_path / "gpt_000.hooked.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])

    with pytest.raises(CulturectlError, match="corrupt or truncated"):
        load_hooked(weights)


def test_convert_into_same_folder_keeps_earlier_models(tmp_path):
    for model_id in ("0", "1"):
        result = runner.invoke(app, ["convert", "--models", model_id, "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output

    manifest = json.loads((tmp_path / "manifest.json").read_text())

    assert [entry["weights"] for entry in manifest["models"]] == [
        "gpt_000.hooked.safetensors", "gpt_001.hooked.safetensors",
    ]
