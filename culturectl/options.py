"""Command-line options shared by several subcommands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelsOpt = Annotated[str, typer.Option("--models", "-m", help="Model ids: '0-4', '0,2,3' or 'all'.")]
CheckpointsOpt = Annotated[
    Optional[Path],
    typer.Option("--checkpoints", help="Folder of gpt_NNN.pth or gpt_NNN.safetensors checkpoints (default: the bundled models)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Torch device: cpu, cuda, cuda:1, mps.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout instead of a table.")]
TasksOpt = Annotated[
    Optional[str],
    typer.Option("--tasks", help="Comma-separated task names (default: the eight tasks of the released models)."),
]


def split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]
SourceOpt = Annotated[
    str,
    typer.Option("--source", help="Where model ids resolve: 'bundled' (the models shipped with culturectl) or 'hub' (the published models, after `culturectl fetch`)."),
]
