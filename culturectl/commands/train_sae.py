"""`culturectl train-sae`: sparse autoencoders on a culture model's hook, with SAELens."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import SEED_MAX, CheckpointsOpt, DeviceOpt, JsonOpt, SourceOpt, TasksOpt, split_names


class Architecture(str, Enum):
    standard = "standard"
    topk = "topk"
    batchtopk = "batchtopk"
    jumprelu = "jumprelu"


class Positions(str, Enum):
    all = "all"
    answer = "answer"
    every = "every"


class Preset(str, Enum):
    cpu_smoke = "cpu-smoke"
    default = "default"
    fork = "fork"


def train_sae(
    model: Annotated[Optional[str], typer.Option("--model", help="Model id, checkpoint file, or .hooked.safetensors file from `culturectl convert` (default: 0; with --eval-only, the model the SAE was trained on).")] = None,
    hook: Annotated[Optional[str], typer.Option("--hook", help="TransformerLens hook name (default: the last block's hook_mlp_out; the fork preset uses blocks.8.hook_mlp_out).")] = None,
    dataset: Annotated[Optional[Path], typer.Option("--dataset", help="Dataset folder from `culturectl dataset` (405-token rows in input_ids).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the SAE (SAELens layout), checkpoints, manifest and evaluation.json.")] = None,
    preset: Annotated[Preset, typer.Option("--preset", help="Settings to start from: cpu-smoke (tests), default (a CPU run), fork (the published SAE's settings).")] = Preset.default,
    architecture: Annotated[Optional[Architecture], typer.Option("--architecture", help="SAE architecture (default: standard).")] = None,
    d_sae: Annotated[Optional[int], typer.Option("--d-sae", help="Number of SAE features.")] = None,
    expansion: Annotated[Optional[int], typer.Option("--expansion", help="Number of features as a multiple of the hook width.")] = None,
    l1: Annotated[Optional[float], typer.Option("--l1", help="Sparsity coefficient: L1 for standard, L0 for jumprelu.")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Active features per token for topk and batchtopk.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Adam learning rate.")] = None,
    training_tokens: Annotated[Optional[int], typer.Option("--training-tokens", help="Activations to train on, counted after position filtering.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Activations per SAE training step.")] = None,
    positions: Annotated[Optional[Positions], typer.Option("--positions", help="all: every quiz token except BOS and markers; answer: the answer-grid cells; every: all 405 positions.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", min=0, max=SEED_MAX, help="Seed for SAE initialisation, batch mixing and the evaluation quizzes (default: the preset's).")] = None,
    device: DeviceOpt = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out with the settings stored there; options that change settings are rejected.")] = False,
    eval_only: Annotated[Optional[str], typer.Option("--eval-only", help="Evaluate an existing SAE folder instead of training. 'hub' is the published SAE after `culturectl fetch --sae`; pass --source hub with it.")] = None,
    eval_quizzes: Annotated[Optional[int], typer.Option("--eval-quizzes", help="Evaluation quizzes per task and structure.")] = None,
    tasks: TasksOpt = None,
    checkpoints: CheckpointsOpt = None,
    source: SourceOpt = "bundled",
    json_output: JsonOpt = False,
    wandb: Annotated[bool, typer.Option("--wandb", help="Log training to Weights & Biases (needs network access and a login).")] = False,
) -> None:
    """Train a sparse autoencoder on one hook of a culture model with SAELens, then
    evaluate it on fresh quizzes.

    Each training context is one whole quiz row (405 tokens). The BOS and the four slot
    markers are left out by position, because the BOS token 0 is also the colour white.

    The SAE is saved in --out in SAELens's layout (sae_lens.SAE.load_from_disk loads it),
    with the model, hook, positions and dataset hashes in cfg.json metadata. Ctrl-C
    saves a checkpoint; --resume continues from it. The evaluation (L0, explained
    variance, MSE, dead and dense features, CE loss recovered, KL, and per-task greedy
    accuracy with the SAE spliced in, clean and zero-ablated) is printed and saved as
    evaluation.json.
    """
    import torch
    from vendor_culture.tasks import RELEASED_TASKS

    from ..console import logger, stdout
    from ..devices import resolve_device
    from .. import sae as sae_module
    from ..sae_eval import load_sae, run_evaluation

    resolved_device = str(resolve_device(device))
    overrides = {
        "hook": hook, "architecture": architecture.value if architecture else None, "d_sae": d_sae,
        "expansion": expansion, "sparsity": l1, "k": k, "lr": lr, "training_tokens": training_tokens,
        "train_batch_size_tokens": batch_size, "positions": positions.value if positions else None,
        "seed": seed, "eval_quizzes": eval_quizzes,
    }
    task_names = split_names(tasks, "--tasks") or list(RELEASED_TASKS)

    if eval_only is not None:
        if out is None and eval_only == "hub":
            raise typer.BadParameter("--eval-only hub needs --out for evaluation.json; the hub cache is not written to")
        sae_dir = sae_module.resolve_sae_dir(eval_only)
        record = sae_module.trained_model_record(sae_dir)
        if (sae_dir / sae_module.SETTINGS_FILE).is_file():
            # An SAE of ours is scored with the protocol it was trained with, unless asked otherwise.
            settings = dataclasses.replace(sae_module.stored_settings(sae_dir), **{
                name: value for name, value in {"eval_quizzes": eval_quizzes, "seed": seed}.items() if value is not None
            })
        else:
            settings = sae_module.resolve_settings(preset.value, {"eval_quizzes": eval_quizzes, "seed": seed})
        if model is None:
            if record is not None and record.get("model_id") is None:
                raise typer.BadParameter(f"{sae_dir} records no model id; pass the model it was trained on with --model")
            model = str(record["model_id"]) if record is not None else "0"
        hooked, model_source = sae_module.load_model(model, checkpoints, source, resolved_device)
        if record is not None:
            sae_module.check_trained_model(sae_dir, record, model_source)
        sae = load_sae(sae_dir, resolved_device)
        evaluation = run_evaluation(hooked, sae, task_names, settings.eval_structures, settings.eval_quizzes,
                                    settings.seed, positions.value if positions else None, hook)
        target = (out or sae_dir) / sae_module.EVALUATION_FILE
        _report(evaluation, target, json_output, logger, stdout)
        return

    if dataset is None or out is None:
        raise typer.BadParameter("--dataset and --out are required unless --eval-only is given")
    _check_sparsity_options(architecture, l1, k, preset)
    if resume:
        given = sorted(name for name, value in overrides.items() if value is not None)
        if given:
            raise typer.BadParameter(f"--resume continues with the settings stored in {out}; drop {', '.join(given)}")
        settings = sae_module.stored_settings(out)
    else:
        settings = sae_module.resolve_settings(preset.value, overrides)
    if preset is Preset.fork and torch.device(resolved_device).type == "cpu" and not resume:
        logger.warning(
            "the fork preset trains on %s tokens into 32x as many features as the hook has, which is "
            "sized for a GPU; use --device cuda, or --preset default for a CPU run", f"{settings.training_tokens:,}",
        )
        for note in sae_module.FORK_UNMAPPED:
            logger.info("fork preset: %s", note)

    hooked, model_source = sae_module.load_model(model or "0", checkpoints, source, resolved_device)
    quiz_dataset, dataset_path = sae_module.load_quiz_dataset(dataset)
    logger.info("training a %s SAE on %s of %s with %s: %s", settings.architecture,
                settings.hook or sae_module.default_hook(hooked), model_source.name, dataset_path,
                json.dumps(settings.to_json()))
    result = sae_module.train_sae(hooked, model_source, quiz_dataset, dataset_path, settings, out,
                                  resolved_device, resume, wandb)
    sae_module.write_manifest(out, "culturectl " + shlex.join(sys.argv[1:]), result, resolved_device)
    if not json_output:
        stdout.print(f"SAE saved in {out} ({result.d_sae} features on {result.hook})")

    sae = load_sae(out, resolved_device)
    evaluation = run_evaluation(hooked, sae, task_names, result.settings.eval_structures,
                                result.settings.eval_quizzes, result.settings.seed)
    _report(evaluation, out / sae_module.EVALUATION_FILE, json_output, logger, stdout)


def _check_sparsity_options(architecture, l1, k, preset) -> None:
    from ..sae import COEFFICIENT_ARCHITECTURES, COUNT_ARCHITECTURES, PRESETS

    name = architecture.value if architecture else PRESETS[preset.value].get("architecture", "standard")
    if k is not None and name not in COUNT_ARCHITECTURES:
        raise typer.BadParameter(f"--k applies to {' and '.join(COUNT_ARCHITECTURES)}, not {name}; use --l1")
    if l1 is not None and name not in COEFFICIENT_ARCHITECTURES:
        raise typer.BadParameter(f"--l1 applies to {' and '.join(COEFFICIENT_ARCHITECTURES)}, not {name}; use --k")


def _report(evaluation, path: Path, json_output: bool, logger, stdout) -> None:
    from ..atomic import atomic_path

    record = evaluation.to_json()
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")
    for message in evaluation.warnings():
        logger.warning(message)
    if json_output:
        stdout.print_json(json.dumps(record))
        return
    for table in evaluation.tables():
        stdout.print(table)
    stdout.print(f"evaluation saved in {path}")
