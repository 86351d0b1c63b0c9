"""Read and write MyGPT checkpoints and resolve model ids.

Two formats, both named after the original `gpt_{id:03d}`:
- the original `gpt_NNN.pth`: a pickled tuple (state_dict, test accuracy), always read
  with `torch.load(weights_only=True)`;
- ours: `gpt_NNN.safetensors` with the weights plus `gpt_NNN.json` with the model shape
  and provenance.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vendor_culture.mygpt import MyGPT, MyGPTConfig

from .atomic import atomic_path
from .errors import CulturectlError
from .torch_files import load_torch_file

BUNDLED_DIR = Path(__file__).parent / "models"
FORMAT_NAME = "culturectl-mygpt"
FORMAT_VERSION = 1
_NAME = re.compile(r"^gpt_(\d{3,})\.(pth|safetensors)$")


@dataclass
class LoadedModel:
    """A MyGPT in eval mode with the file it came from."""

    model_id: int | None
    model: MyGPT
    path: Path
    sha256: str
    metadata: dict = field(default_factory=dict)

    @property
    def config(self) -> MyGPTConfig:
        return self.model.config


def checkpoint_name(model_id: int) -> str:
    return f"gpt_{model_id:03d}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# The fork's copy of MyGPT nests `embedding`, every trunk entry and `readout` one level
# deeper, which adds one `.f` to their keys (e.g. `readout.f.f.weight`).
_FORK_MARKER_KEY = "embedding.f.0.f.0.weight"


def from_fork_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return `state_dict` in the original key layout, undoing the fork's extra level."""
    if _FORK_MARKER_KEY not in state_dict:
        return state_dict
    renamed = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        extra = 2 if parts[0] == "trunk" else 1
        renamed[".".join(parts[:extra] + parts[extra + 1 :])] = value
    return renamed


def infer_config(state_dict: dict[str, torch.Tensor], source: Path) -> MyGPTConfig:
    """Read the model shape off an original-layout state dict."""
    try:
        vocabulary, dim_model = state_dict["embedding.0.f.0.weight"].shape
        nb_heads, dim_keys, _ = state_dict["trunk.0.f.1.w_q"].shape
        dim_hidden = state_dict["trunk.1.f.f.2.weight"].shape[0]
    except (KeyError, ValueError) as error:
        raise CulturectlError(
            f"{source}: not a MyGPT checkpoint (missing or misshapen tensor {error}); "
            "expected the original culture key layout such as 'trunk.0.f.1.w_q'"
        ) from None
    nb_blocks = sum(1 for key in state_dict if key.endswith(".f.1.w_q"))
    try:
        return MyGPTConfig(
            dim_model=dim_model, dim_keys=dim_keys, dim_hidden=dim_hidden,
            nb_heads=nb_heads, nb_blocks=nb_blocks, vocabulary_size=vocabulary,
        )
    except ValueError as error:
        raise CulturectlError(f"{source}: not a valid MyGPT shape: {error}") from None


def build_model(state_dict: dict[str, torch.Tensor], config: MyGPTConfig, source: Path) -> MyGPT:
    """Build a MyGPT of `config` and load `state_dict` strictly, in eval mode."""
    model = MyGPT(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CulturectlError(
            f"{source}: weights do not fit a MyGPT of shape {config.to_dict()}: {detail}; "
            "is this a checkpoint of another architecture?"
        )
    for key, tensor in expected.items():
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CulturectlError(
                f"{source}: tensor {key} has shape {tuple(state_dict[key].shape)}, "
                f"expected {tuple(tensor.shape)} for a MyGPT of shape {config.to_dict()}"
            )
    model.load_state_dict({key: value.float() for key, value in state_dict.items()})
    return model.eval()


def load_original(path: Path) -> tuple[dict[str, torch.Tensor], float | None]:
    """Load an original `gpt_NNN.pth` tuple (state_dict, accuracy) without unpickling code."""
    content = load_torch_file(path, "checkpoint")
    if isinstance(content, (tuple, list)) and len(content) == 2 and isinstance(content[0], dict):
        state_dict, accuracy = content
    elif isinstance(content, dict) and all(isinstance(v, torch.Tensor) for v in content.values()):
        state_dict, accuracy = content, None
    else:
        raise CulturectlError(
            f"{path}: not a culture checkpoint; expected a tuple (state_dict, accuracy), "
            f"found {type(content).__name__}"
        )
    if accuracy is not None:
        accuracy = float(accuracy)
    return state_dict, accuracy


def load_checkpoint(path: Path, model_id: int | None = None) -> LoadedModel:
    """Load a MyGPT from an original `.pth` or our `.safetensors` (+ `.json`) file."""
    path = Path(path)
    if not path.is_file():
        raise CulturectlError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, model_id)
    state_dict, accuracy = load_original(path)
    state_dict = from_fork_layout(state_dict)
    config = infer_config(state_dict, path)
    model = build_model(state_dict, config, path)
    metadata = {"format": "original", "main_test_accuracy": accuracy}
    return LoadedModel(model_id, model, path, file_sha256(path), metadata)


def _load_safetensors(path: Path, model_id: int | None) -> LoadedModel:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state_dict = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CulturectlError(f"{path}: cannot read the safetensors file, it is corrupt or truncated ({error})") from None
    metadata: dict = {}
    config_path = path.with_suffix(".json")
    if config_path.is_file():
        try:
            metadata = json.loads(config_path.read_text())
            config = MyGPTConfig(**metadata["config"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise CulturectlError(f"{config_path}: invalid model config ({error}); delete it to infer the shape from the weights") from None
    else:
        config = infer_config(state_dict, path)
    model = build_model(state_dict, config, path)
    return LoadedModel(model_id, model, path, file_sha256(path), metadata)


def save_original(path: Path, model: MyGPT, accuracy: float = 0.0) -> None:
    """Write the original training-checkpoint format: a tuple (state_dict, accuracy)."""
    with atomic_path(path) as temporary:
        torch.save((model.state_dict(), torch.tensor(accuracy, dtype=torch.float32)), temporary)


def save_safetensors(path: Path, model: MyGPT, metadata: dict | None = None) -> None:
    """Write `path` (.safetensors) and its `.json` config with `metadata` merged in."""
    from safetensors.torch import save_file

    path = Path(path)
    record = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        **(metadata or {}),
    }
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    with atomic_path(path) as temporary:
        save_file(state, temporary)
    with atomic_path(path.with_suffix(".json")) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")


def checkpoints_in(directory: Path) -> dict[int, Path]:
    """Map model ids to checkpoint files in `directory`; safetensors wins over .pth."""
    found: dict[int, Path] = {}
    for path in sorted(Path(directory).iterdir()):
        match = _NAME.match(path.name)
        if match is None:
            continue
        model_id = int(match.group(1))
        if model_id not in found or path.suffix == ".safetensors":
            found[model_id] = path
    return found
