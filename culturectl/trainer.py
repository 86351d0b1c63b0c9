"""Train MyGPTs with resumable checkpoints, the core of `culturectl train`."""

from __future__ import annotations

import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vendor_culture.mygpt import MyGPT, MyGPTConfig
from vendor_culture.training import TrainingConfig, TrainingState, train

from .atomic import atomic_path
from .checkpoints import checkpoint_name, save_original, save_safetensors
from .console import logger, progress
from .errors import CulturectlError


def _raise_interrupt(signum, frame):
    # SIGTERM (a job scheduler, `kill`) saves progress the same way as Ctrl-C.
    raise KeyboardInterrupt


def resume_path(run_dir: Path, model_id: int) -> Path:
    return Path(run_dir) / f"{checkpoint_name(model_id)}.resume.pt"


# Settings a resumed run may change: more samples stretch the learning-rate schedule.
RESUMABLE_CHANGES = frozenset({"samples"})


def _training_record(config: TrainingConfig) -> dict:
    record = asdict(config)
    record["tasks"] = list(record["tasks"])
    return record


def save_resume(path: Path, model: MyGPT, optimizer, state: TrainingState, seed: int,
                config: TrainingConfig) -> None:
    """Write weights, optimizer, random state, step and training settings, loadable with
    weights_only=True."""
    payload = {
        "training": _training_record(config),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": state.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "step": state.step,
        "samples_seen": state.samples_seen,
        "seed": seed,
        "config": model.config.to_dict(),
    }
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_resume(path: Path, model: MyGPT, optimizer, state: TrainingState, seed: int,
                config: TrainingConfig) -> None:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CulturectlError(f"{path}: cannot read the resume checkpoint ({type(error).__name__}); delete it to start over") from None
    if payload.get("config") != model.config.to_dict() or payload.get("seed") != seed:
        raise CulturectlError(
            f"{path}: resume checkpoint was made with another model shape or seed "
            f"({payload.get('config')}, seed {payload.get('seed')}); use the same options or delete it"
        )
    stored = payload.get("training")
    if stored is not None:
        current = _training_record(config)
        changed = sorted(key for key in current if key not in RESUMABLE_CHANGES and stored.get(key) != current[key])
        if changed:
            differences = ", ".join(f"{key} {stored.get(key)!r} -> {current[key]!r}" for key in changed)
            raise CulturectlError(
                f"{path}: resuming with other training settings ({differences}); "
                "use the settings of the interrupted run, or start a new run in another --run-dir"
            )
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    state.generator.set_state(payload["generator"])
    torch.set_rng_state(payload["torch_rng"])
    state.step = payload["step"]
    state.samples_seen = payload["samples_seen"]


def train_one(
    model_id: int,
    model_config: MyGPTConfig,
    config: TrainingConfig,
    seed: int,
    out_dir: Path,
    run_dir: Path,
    resume: bool,
    checkpoint_every: float,
    device: str,
    command: str,
    eval_samples: int = 250,
) -> Path:
    """Train one model and write `gpt_NNN.safetensors`/`.json` and `gpt_NNN.pth` into
    `out_dir`. Returns the safetensors path."""
    torch.manual_seed(seed)
    model = MyGPT(model_config).to(device)
    # Fused attention without dropout on attention probabilities runs about 4x faster on
    # CPU; dropout on embeddings and MLP outputs stays as in the original.
    for module in model.modules():
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = False
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    state = TrainingState()
    state.generator.manual_seed(seed)

    checkpoint = resume_path(run_dir, model_id)
    if resume and checkpoint.is_file():
        load_resume(checkpoint, model, optimizer, state, seed, config)
        logger.info("model %d: resumed at %d samples from %s", model_id, state.samples_seen, checkpoint)
    elif resume:
        logger.warning("model %d: no resume checkpoint %s; starting from the beginning", model_id, checkpoint)

    last_save = time.monotonic()
    started = time.monotonic()
    losses: list[float] = []

    with progress() as bar:
        task = bar.add_task(f"gpt_{model_id:03d}", total=config.samples, completed=state.samples_seen, status="")

        def on_step(state: TrainingState, loss: float) -> None:
            nonlocal last_save
            losses.append(loss)
            bar.update(task, completed=state.samples_seen, status=f"loss {loss:.4f}")
            if time.monotonic() - last_save >= checkpoint_every:
                save_resume(checkpoint, model, optimizer, state, seed, config)
                last_save = time.monotonic()
                recent = losses[-50:]
                logger.info("model %d: %d samples, loss %.4f", model_id, state.samples_seen, sum(recent) / len(recent))

        previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            train(model, optimizer, config, state, device, on_step)
        except KeyboardInterrupt:
            save_resume(checkpoint, model, optimizer, state, seed, config)
            raise CulturectlError(f"interrupted; progress saved in {checkpoint}, continue with --resume") from None
        finally:
            signal.signal(signal.SIGTERM, previous_handler)

    save_resume(checkpoint, model, optimizer, state, seed, config)
    model = model.cpu().eval()
    metadata = {
        "model_id": model_id,
        "training": {
            "command": command,
            "seed": seed,
            "samples_seen": state.samples_seen,
            "steps": state.step,
            "seconds_this_run": round(time.monotonic() - started, 1),
            **{k: v for k, v in asdict(config).items() if k != "tasks"},
            "tasks": list(config.tasks),
            "attention_dropout": False,
        },
    }
    out_dir = Path(out_dir)
    path = out_dir / f"{checkpoint_name(model_id)}.safetensors"
    if eval_samples > 0:
        metadata["accuracy"] = measure_accuracy(model, list(config.tasks), eval_samples)
    save_safetensors(path, model, metadata)
    save_original(out_dir / f"{checkpoint_name(model_id)}.pth", model, metadata.get("accuracy", {}).get("mean_greedy", 0.0))
    return path


# Seed of the quizzes that measure a freshly trained model, apart from eval's default 0.
ACCURACY_SEED = 12345


def measure_accuracy(model: MyGPT, tasks: list[str], num_samples: int) -> dict:
    """Greedy full-grid accuracy per task (mean over the four deterministic structures),
    for the checkpoint's JSON."""
    from .evaluation import build_eval_sets, evaluate_model

    eval_sets = build_eval_sets(tasks, ["f_B", "B", "f_A", "A"], num_samples, ACCURACY_SEED)
    records = evaluate_model(model, -1, "training", eval_sets)
    per_task: dict[str, dict[str, float]] = {}
    for record in records:
        per_task.setdefault(record.task, {})[record.structure] = record.greedy
    return {
        "protocol": f"greedy full-grid accuracy, {num_samples} world quizzes per task and structure, "
        f"prompt noise 0.05, seed {ACCURACY_SEED}",
        "per_task": {task: sum(v.values()) / len(v) for task, v in per_task.items()},
        "per_task_structure": per_task,
        "mean_greedy": sum(r.greedy for r in records) / len(records),
    }
