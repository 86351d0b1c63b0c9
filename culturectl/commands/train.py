"""`culturectl train`: train MyGPTs on world quizzes with the original protocol."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import DeviceOpt, SeedOpt, TasksOpt, split_names


def train(
    out: Annotated[Path, typer.Option("--out", help="Folder for the trained gpt_NNN checkpoints.")],
    models: Annotated[str, typer.Option("--models", "-m", help="Ids of the models to train: '0-4' or '0,2'.")] = "0",
    preset: Annotated[Optional[str], typer.Option("--preset", help="Named size: 17K, 4M, 37M, 122M, 352M.")] = None,
    dim_model: Annotated[int, typer.Option(min=1, help="Residual width (the size options are ignored with --preset).")] = 128,
    dim_keys: Annotated[int, typer.Option(min=1, help="Query/key width per head.")] = 32,
    dim_hidden: Annotated[int, typer.Option(min=1, help="MLP hidden width.")] = 256,
    nb_heads: Annotated[int, typer.Option(min=1, help="Attention heads.")] = 4,
    nb_blocks: Annotated[int, typer.Option(min=1, help="Transformer blocks.")] = 3,
    dropout: Annotated[float, typer.Option(min=0.0, max=1.0, help="Dropout on embeddings and MLP outputs.")] = 0.1,
    samples: Annotated[int, typer.Option(min=1, help="Quizzes to train on, per model.")] = 100_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Quizzes per optimizer step.")] = 32,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak Adam learning rate (linear warm-up, then cosine decay).")] = 2e-3,
    warmup_steps: Annotated[int, typer.Option(min=0, help="Optimizer steps of linear warm-up.")] = 200,
    tasks: TasksOpt = None,
    noise: Annotated[float, typer.Option(min=0.0, max=1.0, help="Prompt noise probability per cell.")] = 0.05,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="bfloat16 autocast for the forward pass.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    threads: Annotated[Optional[int], typer.Option(min=1, help="Torch CPU threads (default: torch's choice).")] = None,
    run_dir: Annotated[Path, typer.Option(help="Folder for resume checkpoints.")] = Path("runs"),
    checkpoint_every: Annotated[float, typer.Option(min=0.0, help="Seconds between resume checkpoints.")] = 180.0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the resume checkpoint in --run-dir.")] = False,
    eval_samples: Annotated[int, typer.Option(min=0, help="Quizzes per task and structure for the accuracy stored in the JSON (0: skip).")] = 250,
) -> None:
    """Train one or more MyGPT models on world quizzes.

    Model k is seeded with SEED + k, so models are independent. Every quiz is put in a
    random one of the five structures with prompt noise, and the loss covers all tokens.
    """
    import torch

    from vendor_culture.mygpt import MyGPTConfig, preset_config
    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.training import TrainingConfig
    from vendor_culture.world import check_task_names

    from ..console import logger, stdout
    from ..devices import resolve_device
    from ..errors import CulturectlError
    from ..selection import parse_model_ids
    from ..trainer import train_one

    if threads is not None:
        torch.set_num_threads(threads)
    try:
        task_names = check_task_names(split_names(tasks, "--tasks") or list(RELEASED_TASKS))
        if preset is not None:
            model_config = preset_config(preset, dropout=dropout)
        else:
            model_config = MyGPTConfig(dim_model, dim_keys, dim_hidden, nb_heads, nb_blocks, dropout=dropout)
    except ValueError as error:
        raise CulturectlError(str(error)) from None
    ids = parse_model_ids(models, list(range(1000)))
    if not resume:
        # A finished model is only replaced when its run is continued with --resume.
        from ..checkpoints import checkpoint_name

        for model_id in ids:
            existing = [out / f"{checkpoint_name(model_id)}{suffix}" for suffix in (".safetensors", ".pth")]
            for path in existing:
                if path.exists():
                    raise CulturectlError(
                        f"{path} exists; choose another --out, delete it, or pass --resume to continue its run"
                    )
    resolved = resolve_device(device)
    config = TrainingConfig(
        samples=samples, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps,
        tasks=task_names, noise=noise, bf16=bf16,
    )
    command = "culturectl " + shlex.join(sys.argv[1:])
    logger.info("training %s on %s: %s, %s", ids, resolved, model_config.to_dict(), config)
    for model_id in ids:
        path = train_one(
            model_id, model_config, config, seed + model_id, out, run_dir, resume,
            checkpoint_every, str(resolved), command, eval_samples,
        )
        stdout.print(str(path))
