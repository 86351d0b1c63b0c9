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
# Seeds stay below 2**63, so that seeds derived from them (model k of a run uses SEED + k)
# stay inside the range torch generators accept.
SEED_MAX = 2**63 - 1
SeedOpt = Annotated[
    int,
    typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed; the same seed gives the same output."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="Torch device: cpu, cuda, cuda:1, mps.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout instead of a table.")]
TasksOpt = Annotated[
    Optional[str],
    typer.Option("--tasks", help="Comma-separated task names (default: the eight tasks of the released models)."),
]


def split_names(text: str | None, option: str) -> list[str] | None:
    """Return the comma-separated names of `text`, or None when the option was not given.
    An option given with no names is a usage error, not a request for the default."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter(f"{option} {text!r} names nothing; give comma-separated names or leave it out")
    return names
SourceOpt = Annotated[
    str,
    typer.Option("--source", help="Where model ids resolve: 'bundled' (the models shipped with culturectl) or 'hub' (the published models, after `culturectl fetch`)."),
]
