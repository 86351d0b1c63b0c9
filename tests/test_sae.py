"""SAE training and evaluation with SAELens on a bundled model.

One cpu-smoke run trains for the whole session (the `smoke` fixture); the other tests
read its output or build small SAEs by hand. Every run stays on CPU, never logs to
wandb, and needs no network.
"""

from __future__ import annotations

import json
import shutil
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from culturectl.checkpoints import BUNDLED_DIR, checkpoints_in, file_sha256
from culturectl.cli import app
from culturectl.errors import CulturectlError
from culturectl.evaluation import build_eval_sets
from culturectl.sae import (
    EVALUATION_FILE, MANIFEST_FILE, POSITIONS_KEY, PRESETS, QuizSAETrainingRunner, check_context, folder_sha256,
    hook_width, latest_checkpoint, load_model, load_quiz_dataset, resolve_settings, row_position_mask,
    runner_config, seqpos_slice_for, train_sae, write_manifest,
)
from culturectl.sae_eval import evaluate_sae, load_sae, run_evaluation
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import DETERMINISTIC_STRUCTURES, ROW_LEN, quizzes_to_rows
from vendor_culture.training import structure_batch
from vendor_culture.world import generate_world_quizzes

REPO = Path(__file__).resolve().parent.parent
MODEL_ID = "0"
# cpu-smoke must train and evaluate within this many seconds on 2 CPU cores.
SMOKE_BUDGET_S = 120
MARKER_ROW_POSITIONS = (1, 102, 203, 304)
ANSWER_ROWS = range(305, 405)
INFERENCE_ARCHITECTURE = {"topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}
runner = CliRunner()


def write_quiz_dataset(path: Path, nb_rows: int, seed: int = 0) -> Path:
    """Save `nb_rows` world quizzes as 405-token rows, each in a random structure that
    predicts the last slot, with `datasets.save_to_disk`."""
    import datasets

    generator = torch.Generator().manual_seed(seed)
    quizzes = generate_world_quizzes(nb_rows, RELEASED_TASKS, generator)
    quizzes, _ = structure_batch(quizzes, generator, DETERMINISTIC_STRUCTURES)
    rows = quizzes_to_rows(quizzes).to(torch.int32)
    datasets.Dataset.from_dict({"input_ids": rows.tolist()}).save_to_disk(str(path))
    return path


def tiny_settings(**changes):
    """cpu-smoke settings cut to a few training steps."""
    base = dict(training_tokens=2048, train_batch_size_tokens=512, n_checkpoints=0, eval_quizzes=2)
    return resolve_settings("cpu-smoke", {**base, **changes})


@pytest.fixture(scope="session")
def model():
    """Bundled model 0 as a HookedMyGPT, with where it came from."""
    assert 0 in checkpoints_in(BUNDLED_DIR), f"bundled model 0 missing from {BUNDLED_DIR}"
    return load_model(MODEL_ID)


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
    return write_quiz_dataset(tmp_path_factory.mktemp("sae_data") / "quizzes", 160)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory, model, dataset_dir):
    """One cpu-smoke training run plus its evaluation, shared by the tests."""
    hooked, source = model
    dataset, path = load_quiz_dataset(dataset_dir)
    out = tmp_path_factory.mktemp("sae_smoke") / "sae"
    settings = resolve_settings("cpu-smoke")
    start = time.perf_counter()
    result = train_sae(hooked, source, dataset, path, settings, out)
    write_manifest(out, "pytest", result, "cpu")
    sae = load_sae(out)
    evaluation = run_evaluation(hooked, sae, RELEASED_TASKS, settings.eval_structures, settings.eval_quizzes,
                                settings.seed)
    (out / EVALUATION_FILE).write_text(json.dumps(evaluation.to_json()))
    elapsed = time.perf_counter() - start
    return SimpleNamespace(result=result, out=out, sae=sae, evaluation=evaluation, elapsed=elapsed,
                           dataset_dir=path, source=source)


# ---------------------------------------------------------------------------
# Positions and context
# ---------------------------------------------------------------------------


def test_all_positions_exclude_bos_and_markers():
    mask = row_position_mask("all")
    excluded = torch.nonzero(~mask).flatten().tolist()
    assert excluded == [0, *MARKER_ROW_POSITIONS]
    assert mask.sum() == ROW_LEN - 5


def test_answer_positions_are_answer_grid():
    assert torch.nonzero(row_position_mask("answer")).flatten().tolist() == list(ANSWER_ROWS)
    assert seqpos_slice_for("answer") == (305, 405)


def test_every_position_mode_keeps_all():
    assert row_position_mask("every").all()
    assert seqpos_slice_for("every") == (None,)


def test_context_that_cuts_answer_rejected():
    with pytest.raises(CulturectlError, match="would cut answer cells"):
        check_context(404, ROW_LEN)


def test_context_that_concatenates_rejected():
    with pytest.raises(CulturectlError, match="would concatenate quizzes"):
        check_context(406, ROW_LEN)


def test_short_model_context_rejected():
    with pytest.raises(CulturectlError, match="n_ctx is 300"):
        check_context(ROW_LEN, 300)


def test_settings_reject_short_context():
    with pytest.raises(CulturectlError, match="would cut answer cells"):
        resolve_settings("cpu-smoke", {"context_size": 400})


def test_train_rejects_model_with_short_n_ctx(model, dataset_dir, tmp_path):
    # `convert` never builds such a model, but any HookedTransformer can be passed in.
    short = SimpleNamespace(cfg=SimpleNamespace(n_ctx=300, n_layers=1))
    dataset, path = load_quiz_dataset(dataset_dir)
    with pytest.raises(CulturectlError, match="cut answer cells"):
        train_sae(short, model[1], dataset, path, tiny_settings(), tmp_path / "sae")


# ---------------------------------------------------------------------------
# Dataset checks
# ---------------------------------------------------------------------------


def test_dataset_with_short_rows_rejected(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"input_ids": [[0] * 404] * 2}).save_to_disk(str(tmp_path / "short"))
    with pytest.raises(CulturectlError, match="expected 405 tokens"):
        load_quiz_dataset(tmp_path / "short")


def test_dataset_without_markers_rejected(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"input_ids": [[0] * ROW_LEN] * 2}).save_to_disk(str(tmp_path / "blank"))
    with pytest.raises(CulturectlError, match="marker tokens"):
        load_quiz_dataset(tmp_path / "blank")


def test_dataset_folder_with_arrow_subfolder(tmp_path):
    write_quiz_dataset(tmp_path / "out" / "arrow", 4)
    dataset, path = load_quiz_dataset(tmp_path / "out")
    assert path == tmp_path / "out" / "arrow"
    assert len(dataset) == 4


def test_missing_dataset_folder_rejected(tmp_path):
    with pytest.raises(CulturectlError, match="dataset folder not found"):
        load_quiz_dataset(tmp_path / "absent")


# ---------------------------------------------------------------------------
# The activation store
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("positions", ["all", "answer", "every"])
def test_store_receives_only_kept_positions(model, dataset_dir, tmp_path, positions):
    """Every activation is overwritten with its row position, so the batches that the
    runner's store serves show which positions reached it."""
    hooked, source = model
    dataset, path = load_quiz_dataset(dataset_dir)
    settings = replace(tiny_settings(positions=positions), hook="blocks.0.hook_mlp_out")
    d_in = hook_width(hooked, settings.hook)
    cfg = runner_config(settings, d_in, settings.hook, source.name, str(path), tmp_path, "cpu")
    sae_runner = QuizSAETrainingRunner(cfg, dataset, hooked, positions, {})

    def write_position(value, hook):
        index = torch.arange(value.size(1), dtype=value.dtype, device=value.device)
        return index[None, :, None].expand_as(value).clone()

    hooked.add_hook(settings.hook, write_position, is_permanent=True)
    try:
        seen = set()
        for _ in range(8):
            batch = next(sae_runner.activations_store)
            assert (batch == batch[:, :1]).all()
            seen |= set(batch[:, 0].long().tolist())
    finally:
        hooked.reset_hooks(including_permanent=True)
    kept = set(torch.nonzero(row_position_mask(positions)).flatten().tolist())
    assert seen <= kept
    assert len(seen) > 0.9 * len(kept)
    if positions == "all":
        assert seen.isdisjoint({0, *MARKER_ROW_POSITIONS})


# ---------------------------------------------------------------------------
# The cpu-smoke run
# ---------------------------------------------------------------------------


def test_smoke_run_within_budget(smoke):
    assert smoke.elapsed < SMOKE_BUDGET_S


def test_smoke_run_writes_sae_folder(smoke):
    for name in ("cfg.json", "sae_weights.safetensors", MANIFEST_FILE, EVALUATION_FILE):
        assert (smoke.out / name).is_file(), name
    assert latest_checkpoint(smoke.out) is not None


def test_saved_sae_records_provenance(smoke):
    metadata = json.loads((smoke.out / "cfg.json").read_text())["metadata"]
    assert metadata["model_id"] == 0
    assert metadata["model_sha256"] == file_sha256(checkpoints_in(BUNDLED_DIR)[0])
    assert metadata["checkpoint_sha256"] == metadata["model_sha256"]
    assert metadata["hook_name"] == smoke.result.hook
    assert metadata[POSITIONS_KEY] == "all"
    assert metadata["excluded_positions"] == [0, *MARKER_ROW_POSITIONS]
    assert metadata["context_size"] == ROW_LEN
    assert metadata["dataset_local_path"] == str(smoke.dataset_dir.resolve())
    assert metadata["dataset_sha256"] == folder_sha256(smoke.dataset_dir)


def test_reloaded_sae_same_reconstruction(smoke, model):
    hooked, _ = model
    rows = quizzes_to_rows(build_eval_sets(["replace_color"], ["f_B"], 4, 1)[0].quizzes)
    _, cache = hooked.run_with_cache(rows, names_filter=[smoke.result.hook])
    activations = cache[smoke.result.hook]
    trained = smoke.result.sae.eval()
    with torch.no_grad():
        expected = trained.decode(trained.encode(activations))
        actual = smoke.sae(activations)
    assert type(smoke.sae).__name__ == "StandardSAE"
    assert torch.equal(actual, expected)


def test_smoke_evaluation_numbers(smoke):
    record = json.loads((smoke.out / EVALUATION_FILE).read_text())
    assert record["n_tokens"] == record["n_quizzes"] * (ROW_LEN - 5)
    assert 0 < record["l0"] <= smoke.result.d_sae
    assert record["mse"] > 0
    assert record["explained_variance"] < 1
    assert 0 <= record["dead_fraction"] <= 1
    assert {task["task"] for task in record["tasks"]} == set(RELEASED_TASKS)
    for key in ("ce_clean", "ce_spliced", "ce_ablated", "kl_spliced", "kl_ablated"):
        assert record[key] >= 0, key


def test_interrupt_then_resume(model, dataset_dir, tmp_path, monkeypatch):
    from sae_lens.training._interruption import InterruptedException
    from sae_lens.training.sae_trainer import SAETrainer

    hooked, source = model
    dataset, path = load_quiz_dataset(dataset_dir)
    settings = tiny_settings(training_tokens=4096)
    original_step = SAETrainer.step
    calls = []

    def interrupted_step(self, batch):
        calls.append(1)
        if len(calls) == 3:
            raise InterruptedException()
        return original_step(self, batch)

    monkeypatch.setattr(SAETrainer, "step", interrupted_step)
    with pytest.raises(CulturectlError, match="--resume"):
        train_sae(hooked, source, dataset, path, settings, tmp_path / "sae")
    checkpoint = latest_checkpoint(tmp_path / "sae")
    assert checkpoint is not None
    assert (checkpoint / "activations_store_state.safetensors").is_file()
    monkeypatch.setattr(SAETrainer, "step", original_step)

    with pytest.raises(CulturectlError, match="already contains"):
        train_sae(hooked, source, dataset, path, settings, tmp_path / "sae")
    other_dataset, other_path = load_quiz_dataset(write_quiz_dataset(tmp_path / "other", 8, seed=1))
    with pytest.raises(CulturectlError, match="dataset_sha256"):
        train_sae(hooked, source, other_dataset, other_path, settings, tmp_path / "sae", resume=True)
    result = train_sae(hooked, source, dataset, path, settings, tmp_path / "sae", resume=True)
    assert result.resumed_from == str(checkpoint)
    assert (tmp_path / "sae" / "cfg.json").is_file()


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "jumprelu"])
def test_other_architectures_train_and_load(model, dataset_dir, tmp_path, architecture):
    from sae_lens import SAE

    hooked, source = model
    dataset, path = load_quiz_dataset(dataset_dir)
    result = train_sae(hooked, source, dataset, path, tiny_settings(architecture=architecture, k=4), tmp_path / "sae")
    loaded = SAE.load_from_disk(tmp_path / "sae")
    # SAELens saves a trained BatchTopK SAE as a JumpReLU SAE with the learned threshold.
    assert loaded.cfg.architecture() == INFERENCE_ARCHITECTURE[architecture]
    assert loaded.cfg.d_sae == result.d_sae


# ---------------------------------------------------------------------------
# Evaluation on hand-built SAEs
# ---------------------------------------------------------------------------


def hand_built_sae(d_in: int, hook: str, identity: bool):
    """A ReLU SAE that is exactly the identity (encoder [I, -I], decoder [I; -I]) or
    exactly zero."""
    from sae_lens.saes.standard_sae import StandardSAE, StandardSAEConfig

    sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=2 * d_in, apply_b_dec_to_input=False))
    sae.cfg.metadata.hook_name = hook
    eye = torch.eye(d_in) if identity else torch.zeros(d_in, d_in)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


@pytest.fixture(scope="module")
def hand_built_evaluations(model):
    """Evaluations of the identity and the zero SAE on the last block's MLP output."""
    hooked, _ = model
    hook = f"blocks.{hooked.cfg.n_layers - 1}.hook_mlp_out"
    # frame is the task that bundled model 0 solves most often (about a third of grids).
    eval_sets = build_eval_sets(["frame", "replace_color"], ["f_B", "B"], 16, 0)
    return {
        name: evaluate_sae(hooked, hand_built_sae(hooked.cfg.d_model, hook, identity), eval_sets, "all", hook)
        for name, identity in (("identity", True), ("zero", False))
    }


def test_clean_accuracy_strictly_between_0_and_1(hand_built_evaluations):
    accuracy = hand_built_evaluations["identity"].accuracy
    assert 0 < accuracy.clean < 1
    assert accuracy.ablated != accuracy.clean


def test_identity_sae_explains_all_variance(hand_built_evaluations):
    evaluation = hand_built_evaluations["identity"]
    assert evaluation.explained_variance == pytest.approx(1.0, abs=1e-6)
    assert evaluation.mse == pytest.approx(0.0, abs=1e-10)
    assert evaluation.kl_spliced == pytest.approx(0.0, abs=1e-9)
    assert evaluation.ce_loss_recovered == pytest.approx(1.0, abs=1e-6)


def test_identity_sae_recovers_full_accuracy(hand_built_evaluations):
    evaluation = hand_built_evaluations["identity"]
    assert evaluation.accuracy.recovered == 1.0
    for task in evaluation.tasks:
        assert task.spliced == task.clean, task.task


def test_zero_sae_equals_zero_ablation(hand_built_evaluations):
    evaluation = hand_built_evaluations["zero"]
    assert evaluation.ce_spliced == evaluation.ce_ablated
    assert evaluation.kl_spliced == evaluation.kl_ablated
    assert evaluation.l0 == 0
    assert evaluation.dead_fraction == 1
    assert evaluation.accuracy.recovered == 0.0
    for task in evaluation.tasks:
        assert task.spliced == task.ablated, task.task


# ---------------------------------------------------------------------------
# Presets and the command line
# ---------------------------------------------------------------------------


def test_fork_preset_maps_published_config(model, tmp_path):
    hooked, source = model
    settings = resolve_settings("fork")
    cfg = runner_config(settings, 512, settings.hook, "culture-gpt-0", "data", tmp_path, "cpu")
    assert cfg.hook_name == "blocks.8.hook_mlp_out"
    assert cfg.sae.d_sae == 32 * 512
    assert cfg.sae.l1_coefficient == 5.0
    assert cfg.sae.l1_warm_up_steps == 1500
    assert cfg.sae.apply_b_dec_to_input is False
    assert cfg.sae.normalize_activations == "none"
    assert (cfg.lr, cfg.lr_decay_steps, cfg.training_tokens) == (2e-5, 6000, 122_880_000)
    assert (cfg.train_batch_size_tokens, cfg.store_batch_size_prompts, cfg.n_batches_in_buffer) == (4096, 16, 64)
    assert (cfg.context_size, cfg.dead_feature_threshold, cfg.seed) == (405, 1e-4, 42)


def test_every_preset_resolves():
    for name in PRESETS:
        assert resolve_settings(name).context_size == ROW_LEN


def test_unknown_preset_rejected():
    with pytest.raises(CulturectlError, match="unknown preset"):
        resolve_settings("gpu-huge")


def test_cli_k_with_standard_rejected(tmp_path):
    result = runner.invoke(app, ["train-sae", "--dataset", str(tmp_path), "--out", str(tmp_path / "sae"),
                                 "--architecture", "standard", "--k", "4"])
    assert result.exit_code == 2
    assert "--k applies to topk and batchtopk" in result.output


def test_cli_eval_only_writes_json(smoke, tmp_path):
    result = runner.invoke(app, ["train-sae", "--eval-only", str(smoke.out), "--model", MODEL_ID,
                                 "--eval-quizzes", "2", "--tasks", "replace_color,frame", "--out", str(tmp_path),
                                 "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / EVALUATION_FILE).read_text())
    assert [task["task"] for task in record["tasks"]] == ["replace_color", "frame"]
    assert record["positions"] == "all"
    # The structures are those the SAE was trained with, read from its folder.
    assert record["n_quizzes"] == 2 * 2 * len(resolve_settings("cpu-smoke").eval_structures)


def test_cli_eval_only_repeats_training_evaluation(smoke, tmp_path):
    # Without --model and protocol options, the SAE is scored on the model and with the
    # settings it was trained with, so the figures of the training run come back.
    result = runner.invoke(app, ["train-sae", "--eval-only", str(smoke.out), "--out", str(tmp_path), "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / EVALUATION_FILE).read_text()) == smoke.evaluation.to_json()


def test_cli_eval_only_rejects_other_model(smoke, tmp_path):
    result = runner.invoke(app, ["train-sae", "--eval-only", str(smoke.out), "--model", "1", "--out", str(tmp_path)])

    assert isinstance(result.exception, CulturectlError), result.output
    assert f"{smoke.out} was trained on model 0" in str(result.exception)
    assert not (tmp_path / EVALUATION_FILE).exists()


def test_cli_eval_only_damaged_sae(smoke, tmp_path):
    damaged = tmp_path / "sae"
    shutil.copytree(smoke.out, damaged)
    weights = damaged / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:3000])

    result = runner.invoke(app, ["train-sae", "--eval-only", str(damaged)])

    assert isinstance(result.exception, CulturectlError), result.output
    assert "cannot load the SAE" in str(result.exception)


def test_cli_eval_only_pre_6_sae(model, tmp_path):
    """An SAE folder in the SAELens 3.x format of the published SAE: no position
    metadata, so it is evaluated on every position."""
    from safetensors.torch import save_file

    hooked, _ = model
    d_in = hooked.cfg.d_model
    hook = f"blocks.{hooked.cfg.n_layers - 1}.hook_mlp_out"
    config = {
        "architecture": "standard", "d_in": d_in, "d_sae": 2 * d_in, "dtype": "float32", "device": "cpu",
        "model_name": "culture-gpt-0", "hook_name": hook, "hook_layer": hooked.cfg.n_layers - 1,
        "hook_head_index": None, "activation_fn_str": "relu", "apply_b_dec_to_input": False,
        "finetuning_scaling_factor": False, "context_size": ROW_LEN, "prepend_bos": True,
        "dataset_path": "tommyp111/culture-puzzles-1M", "normalize_activations": "none",
        "sae_lens_training_version": "3.14.0",
    }
    sae = hand_built_sae(d_in, hook, identity=True)
    (tmp_path / "sae").mkdir()
    (tmp_path / "sae" / "cfg.json").write_text(json.dumps(config))
    save_file({name: tensor.contiguous() for name, tensor in sae.state_dict().items()},
              tmp_path / "sae" / "sae_weights.safetensors")
    result = runner.invoke(app, ["train-sae", "--eval-only", str(tmp_path / "sae"), "--model", MODEL_ID,
                                 "--eval-quizzes", "2", "--tasks", "frame", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "sae" / EVALUATION_FILE).read_text())
    assert record["positions"] == "every"
    assert record["hook"] == hook
    assert record["explained_variance"] == pytest.approx(1.0, abs=1e-6)


def test_pipeline_script_tiny(tmp_path):
    """convert -> dataset -> train-sae through scripts/pipeline.sh, at a tiny size."""
    environment = {
        **os.environ, "OUT": str(tmp_path / "pipeline"), "MODEL": MODEL_ID, "QUIZZES": "64",
        "PRESET": "cpu-smoke", "TRAINING_TOKENS": "2048", "EVAL_QUIZZES": "1", "CULTURECTL": f"{sys.executable} -m culturectl",
    }
    process = subprocess.run(["bash", str(REPO / "scripts" / "pipeline.sh")], env=environment, cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    sae_dir = tmp_path / "pipeline" / "sae"
    metadata = json.loads((sae_dir / "cfg.json").read_text())["metadata"]
    assert metadata["model_id"] == 0
    assert metadata["model_path"].endswith("gpt_000.hooked.safetensors")
    assert metadata["checkpoint_sha256"] == file_sha256(checkpoints_in(BUNDLED_DIR)[0])
    assert (sae_dir / EVALUATION_FILE).is_file()
