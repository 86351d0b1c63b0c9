"""`culturectl convert`: MyGPT checkpoints to TransformerLens HookedTransformer files."""

from __future__ import annotations

import json
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..options import CheckpointsOpt, ModelsOpt, SourceOpt


class DtypeName(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


def convert(
    out: Annotated[Path, typer.Option("--out", help="Folder for the converted gpt_NNN.hooked.* files and manifest.json.")],
    models: ModelsOpt = "all",
    checkpoints: CheckpointsOpt = None,
    source: SourceOpt = "bundled",
    dtype: Annotated[DtypeName, typer.Option("--dtype", help="Floating-point type of the saved weights.")] = DtypeName.float32,
) -> None:
    """Convert MyGPT checkpoints into HookedTransformer weights for stock TransformerLens.

    Writes gpt_NNN.hooked.safetensors (weights) and gpt_NNN.hooked.json (config and provenance) per model.

    Each conversion is checked against the MyGPT's logits in float32 before it is saved.

    Load a result with culturectl.hooked.load_hooked. The run is recorded in manifest.json.
    """
    from importlib.metadata import version

    import torch

    from .. import __version__
    from ..atomic import atomic_path
    from ..checkpoints import checkpoint_name, file_sha256
    from ..console import logger, stdout
    from ..hooked import HOOKED_SUFFIX, export_hooked
    from ..selection import load_models

    loaded, source_name = load_models(models, checkpoints, source)
    torch_dtype = getattr(torch, dtype.value)
    logger.info("converting %d model(s) from %s to %s in %s", len(loaded), source_name, out, dtype.value)

    entries = []
    for entry in loaded:
        path = Path(out) / f"{checkpoint_name(entry.model_id)}{HOOKED_SUFFIX}"
        config_path, provenance = export_hooked(entry, path, torch_dtype)
        entries.append({
            **provenance,
            "dtype": dtype.value,
            "weights": path.name,
            "weights_sha256": file_sha256(path),
            "config": config_path.name,
        })
        stdout.print(f"{path}  (float32 check: max |logit difference| {provenance['max_abs_logit_difference_float32']:.1e})")

    # Models converted earlier into the same folder stay listed while their files exist.
    manifest_path = Path(out) / "manifest.json"
    converted = {entry["weights"] for entry in entries}
    try:
        earlier = json.loads(manifest_path.read_text()).get("models", []) if manifest_path.is_file() else []
    except (OSError, ValueError, AttributeError):
        earlier = []
    still_present = [entry for entry in earlier if isinstance(entry, dict) and entry.get("weights") not in converted
            and (Path(out) / str(entry.get("weights"))).is_file()]
    entries = sorted(still_present + entries, key=lambda entry: entry["weights"])

    manifest = {
        "command": "culturectl " + shlex.join(sys.argv[1:]),
        "source": source_name,
        "dtype": dtype.value,
        "versions": {
            "culturectl": __version__,
            "torch": torch.__version__,
            "transformer_lens": version("transformer-lens"),
        },
        "models": entries,
    }
    with atomic_path(manifest_path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")
