"""Sparse autoencoders on converted culture models, trained with SAELens 6.

SAELens's `LanguageModelSAETrainingRunner` does the training. This module hands it the
converted HookedTransformer and a local dataset of 405-token rows in memory, and adds
what the quiz layout needs:

- One quiz per context. The context size is the row length, 405 tokens, so a context
  is never concatenated from several quizzes or truncated.
- Training positions are chosen by position, never by token id, because the BOS token 0
  is also the colour white. SAELens's `seqpos_slice` removes the BOS (or keeps only the
  answer grid), and `QuizActivationsStore` drops the four marker positions.
- The saved SAE carries its provenance in `cfg.json` metadata: model id and checkpoint
  hash, hook, positions and dataset path and hash.
- An interrupted run leaves a checkpoint from which `--resume` continues.

Row layout (a dataset row is the BOS token 0 and then the 404 quiz tokens): the markers
are at row positions 1, 102, 203 and 304, and the answer grid of the last slot at 305..404.

Importing this module imports SAELens, which takes seconds, so the command line imports
it only inside `train-sae`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import signal
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner
from sae_lens.config import LoggingConfig
from sae_lens.constants import SAE_WEIGHTS_FILENAME, TRAINER_STATE_FILENAME
from sae_lens.registry import get_sae_training_class
from sae_lens.training._interruption import InterruptedException
from sae_lens.training.activations_store import ActivationsStore

from vendor_culture.tokens import BOS_TOKEN, MARKER_TOKENS, NB_SLOTS, ROW_LEN, slot_start

from . import __version__
from .console import logger
from .errors import CulturectlError

# Position modes for the activations an SAE is trained and evaluated on.
POSITION_MODES = {
    "all": "every quiz token: all positions except the BOS and the four slot markers",
    "answer": "the 100 cells of the answer grid (row positions 305..404)",
    "every": "all 405 positions, BOS and markers included, as the published SAE was trained",
}
ARCHITECTURES = ("standard", "topk", "batchtopk", "jumprelu")
# Architectures whose sparsity is set by a coefficient (`sparsity`) or by a count (`k`).
COEFFICIENT_ARCHITECTURES = ("standard", "jumprelu")
COUNT_ARCHITECTURES = ("topk", "batchtopk")

# Files that culturectl adds to an SAE folder, beside SAELens's cfg.json and weights.
SETTINGS_FILE = "culturectl_settings.json"
MANIFEST_FILE = "culturectl_manifest.json"
EVALUATION_FILE = "evaluation.json"
CHECKPOINT_DIR = "checkpoints"
# The subfolder of a `culturectl dataset` output that `datasets.load_from_disk` reads.
DATASET_ARROW_DIR = "arrow"
# The metadata key (in cfg.json) under which the position mode is stored.
POSITIONS_KEY = "culturectl_positions"
# The BOS token 0 that precedes every quiz in a row.
BOS_ROW_POSITION = 0


def marker_row_positions() -> tuple[int, ...]:
    """Return the row positions of the four slot markers: 1, 102, 203, 304 (the BOS shifts the quiz by one)."""
    return tuple(1 + slot_start(slot) for slot in range(NB_SLOTS))


def answer_row_range() -> range:
    """Return the row positions of the answer-grid cells of the last slot: 305..404."""
    return range(marker_row_positions()[-1] + 1, ROW_LEN)


def seqpos_slice_for(positions: str) -> tuple[int | None, ...]:
    """Return the SAELens `seqpos_slice` of a position mode, which cuts the BOS or keeps only the answer grid."""
    _check_positions(positions)
    if positions == "answer":
        answer = answer_row_range()
        return (answer.start, answer.stop)
    if positions == "all":
        return (BOS_ROW_POSITION + 1, None)
    return (None,)


def row_position_mask(positions: str) -> torch.Tensor:
    """Return a boolean (405,) mask of the row positions whose activations a mode uses."""
    _check_positions(positions)
    mask = torch.zeros(ROW_LEN, dtype=torch.bool)
    if positions == "answer":
        answer = answer_row_range()
        mask[answer.start : answer.stop] = True
        return mask
    mask[:] = True
    if positions == "all":
        mask[BOS_ROW_POSITION] = False
        mask[list(marker_row_positions())] = False
    return mask


def sliced_position_mask(positions: str) -> torch.Tensor:
    """Return the part of `row_position_mask` inside the mode's `seqpos_slice`, which marks
    the positions that QuizActivationsStore keeps among those the slice passes on."""
    return row_position_mask(positions)[slice(*seqpos_slice_for(positions))]


def _check_positions(positions: str) -> None:
    if positions not in POSITION_MODES:
        raise CulturectlError(f"unknown positions {positions!r}; valid: {', '.join(POSITION_MODES)}")


def check_context(context_size: int, n_ctx: int) -> None:
    """Reject a context size or model n_ctx that would not hold exactly one whole quiz row."""
    if context_size < ROW_LEN:
        raise CulturectlError(
            f"context size {context_size} would cut answer cells: a quiz row is {ROW_LEN} tokens "
            f"and its answer grid ends at position {ROW_LEN - 1}; use a context size of {ROW_LEN}"
        )
    if context_size > ROW_LEN:
        raise CulturectlError(
            f"context size {context_size} would concatenate quizzes: each context must be one "
            f"{ROW_LEN}-token quiz row; use a context size of {ROW_LEN}"
        )
    if n_ctx < ROW_LEN:
        raise CulturectlError(
            f"the model's n_ctx is {n_ctx}, shorter than a {ROW_LEN}-token quiz row, so it would "
            "cut answer cells; convert the model with n_ctx 405"
        )


# ---------------------------------------------------------------------------
# Settings and presets
# ---------------------------------------------------------------------------


@dataclass
class SaeTrainingSettings:
    """Everything that decides an SAE training run. A preset fills it, options override it.

    Field names follow SAELens 6 where a field maps to one of its config fields. `hook`
    None means the `hook_mlp_out` of the model's last block. `sparsity` is the L1
    coefficient of a standard SAE and the L0 coefficient of a JumpReLU SAE; `k` is the
    number of active features of a TopK or BatchTopK SAE. `d_sae` None means
    `expansion * d_in`. Tokens count trained activations, after position filtering.
    """

    hook: str | None = None
    positions: str = "all"
    architecture: str = "standard"
    d_sae: int | None = None
    expansion: int = 8
    sparsity: float = 5.0
    k: int = 32
    lr: float = 1e-4
    training_tokens: int = 2_000_000
    train_batch_size_tokens: int = 4096
    store_batch_size_prompts: int = 32
    n_batches_in_buffer: int = 32
    n_checkpoints: int = 4
    seed: int = 0
    lr_scheduler_name: str = "constant"
    lr_warm_up_steps: int = 0
    lr_decay_steps: int = 0
    sparsity_warm_up_steps: int = 0
    normalize_activations: str = "none"
    apply_b_dec_to_input: bool = False
    decoder_init_norm: float | None = 0.1
    dead_feature_window: int = 1000
    feature_sampling_window: int = 2000
    dead_feature_threshold: float = 1e-8
    n_batches_for_norm_estimate: int = 100
    context_size: int = ROW_LEN
    eval_quizzes: int = 64
    eval_structures: tuple[str, ...] = ("f_B", "B", "f_A", "A")

    def __post_init__(self):
        self.eval_structures = tuple(self.eval_structures)
        if self.architecture not in ARCHITECTURES:
            raise CulturectlError(f"unknown architecture {self.architecture!r}; valid: {', '.join(ARCHITECTURES)}")
        _check_positions(self.positions)
        for name in ("expansion", "k", "training_tokens", "train_batch_size_tokens", "store_batch_size_prompts",
                     "n_batches_in_buffer", "eval_quizzes", "n_batches_for_norm_estimate"):
            if getattr(self, name) < 1:
                raise CulturectlError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_sae is not None and self.d_sae < 1:
            raise CulturectlError(f"d_sae must be at least 1, got {self.d_sae}")
        if self.lr <= 0 or self.sparsity < 0:
            raise CulturectlError(f"lr must be positive and sparsity non-negative, got lr {self.lr}, sparsity {self.sparsity}")
        if self.n_checkpoints < 0:
            raise CulturectlError(f"n_checkpoints must be at least 0, got {self.n_checkpoints}")
        if self.training_tokens < self.train_batch_size_tokens:
            raise CulturectlError(
                f"training_tokens ({self.training_tokens}) is below one batch ({self.train_batch_size_tokens} tokens)"
            )
        check_context(self.context_size, ROW_LEN)

    def to_json(self) -> dict:
        record = asdict(self)
        record["eval_structures"] = list(self.eval_structures)
        return record

    @classmethod
    def from_json(cls, record: dict) -> "SaeTrainingSettings":
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in known})


# The settings of the published SAE (tommyp111/culture-sae, gpt-0/blocks_8_mlp_out), from
# its uploaded cfg.json and its training script, in SAELens 6 names. What SAELens 6 cannot
# express is listed in FORK_UNMAPPED.
FORK_SETTINGS = dict(
    hook="blocks.8.hook_mlp_out",
    architecture="standard",
    expansion=32,
    sparsity=5.0,
    sparsity_warm_up_steps=1500,
    lr=2e-5,
    lr_scheduler_name="constant",
    lr_warm_up_steps=0,
    lr_decay_steps=6000,
    training_tokens=30_000 * 4096,
    train_batch_size_tokens=4096,
    store_batch_size_prompts=16,
    n_batches_in_buffer=64,
    n_checkpoints=10,
    seed=42,
    normalize_activations="none",
    apply_b_dec_to_input=False,
    decoder_init_norm=0.1,
    dead_feature_window=1000,
    feature_sampling_window=1000,
    dead_feature_threshold=1e-4,
)
FORK_UNMAPPED = (
    "scale_sparsity_penalty_by_decoder_norm=False: SAELens 6 always weights the L1 penalty by the decoder norms",
    "normalize_sae_decoder=False: SAELens 6 has no decoder renormalisation to turn off",
    "positions: the published SAE was trained on all 405 positions; pass --positions every to match",
)

PRESETS: dict[str, dict[str, Any]] = {
    # Finishes in well under two minutes on 2 CPU cores with a bundled model (d_model 128).
    "cpu-smoke": dict(
        expansion=2, training_tokens=24_576, train_batch_size_tokens=1024, store_batch_size_prompts=8,
        n_batches_in_buffer=8, n_checkpoints=1, lr=1e-3, sparsity=1.0, k=8,
        n_batches_for_norm_estimate=4, dead_feature_window=10, feature_sampling_window=10,
        eval_quizzes=8, eval_structures=("f_B",),
    ),
    "default": dict(
        expansion=8, training_tokens=4_000_000, train_batch_size_tokens=4096, store_batch_size_prompts=32,
        n_batches_in_buffer=32, n_checkpoints=4, lr=1e-4, sparsity=5.0, k=32, sparsity_warm_up_steps=50,
        dead_feature_window=200, feature_sampling_window=200, eval_quizzes=32,
    ),
    "fork": FORK_SETTINGS,
}


def resolve_settings(preset: str, overrides: dict[str, Any] | None = None) -> SaeTrainingSettings:
    """Return the settings of `preset` with the non-None `overrides` applied."""
    if preset not in PRESETS:
        raise CulturectlError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    settings = SaeTrainingSettings(**PRESETS[preset])
    changes = {key: value for key, value in (overrides or {}).items() if value is not None}
    unknown = sorted(set(changes) - {item.name for item in fields(SaeTrainingSettings)})
    if unknown:
        raise CulturectlError(f"unknown SAE settings {', '.join(unknown)}")
    if "d_sae" in changes and "expansion" in changes:
        raise CulturectlError("give either d_sae or expansion, not both")
    if "expansion" in changes:
        changes["d_sae"] = None
    return replace(settings, **changes)


# ---------------------------------------------------------------------------
# Model, hook and dataset
# ---------------------------------------------------------------------------


@dataclass
class ModelSource:
    """Provenance of the model an SAE is trained on: its id (None when unknown), the file
    loaded and its hash, and the hash of the MyGPT checkpoint it was converted from."""

    model_id: int | None
    path: str
    sha256: str
    checkpoint_sha256: str

    @property
    def name(self) -> str:
        return "culture-gpt" if self.model_id is None else f"culture-gpt-{self.model_id}"


def load_model(model: str, checkpoints: Path | None = None, source: str = "bundled", device: str = "cpu"):
    """Load `model` (an id, a checkpoint file or a `.hooked.safetensors` from `culturectl
    convert`) as a HookedMyGPT on `device`. Returns (model, ModelSource)."""
    from .checkpoints import file_sha256
    from .hooked import HOOKED_SUFFIX, load_hooked, to_hooked
    from .selection import load_models

    text = str(model).strip()
    if text.isdigit():
        (loaded,), _ = load_models(text, checkpoints, source)
        hooked = to_hooked(loaded.model, device=device)
        return hooked, ModelSource(loaded.model_id, str(loaded.path), loaded.sha256, loaded.sha256)
    path = Path(text)
    if not path.is_file():
        raise CulturectlError(f"model {text!r} is neither a model id nor a file")
    hooked = load_hooked(path, device=device)
    sha256 = file_sha256(path)
    if path.name.endswith(HOOKED_SUFFIX):
        record = json.loads(path.with_suffix(".json").read_text())
        return hooked, ModelSource(record.get("model_id"), str(path.resolve()), sha256,
                                   record.get("source_sha256", sha256))
    match = re.match(r"gpt_(\d+)\.", path.name)
    model_id = int(match.group(1)) if match else None
    return hooked, ModelSource(model_id, str(path.resolve()), sha256, sha256)


def default_hook(model) -> str:
    """Return the name of the MLP output hook of the model's last block."""
    return f"blocks.{model.cfg.n_layers - 1}.hook_mlp_out"


@torch.no_grad()
def hook_width(model, hook: str) -> int:
    """Return d_in for an SAE on `hook`: the features per position, heads flattened."""
    if hook not in model.hook_dict:
        examples = [name for name in model.hook_dict if name.startswith("blocks.0.")][:6]
        raise CulturectlError(
            f"hook {hook!r} not found in the model ({model.cfg.n_layers} blocks); "
            f"hooks look like {', '.join(examples)}"
        )
    row = torch.zeros(1, ROW_LEN, dtype=torch.long, device=model.cfg.device)
    _, cache = model.run_with_cache(row, names_filter=[hook])
    return math.prod(cache[hook].shape[2:])


def load_quiz_dataset(path: Path):
    """Load a folder saved by `datasets.save_to_disk` with an `input_ids` column of
    405-token rows, and check its first rows. The output folder of `culturectl dataset`
    works too: its `arrow/` subfolder is loaded.

    Returns (Dataset, the folder loaded). Of a DatasetDict, the `train` split is used.
    """
    import datasets

    path = Path(path)
    if not path.is_dir():
        raise CulturectlError(f"dataset folder not found: {path}")
    if (path / DATASET_ARROW_DIR).is_dir() and not _is_saved_dataset(path):
        path = path / DATASET_ARROW_DIR
    try:
        dataset = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as error:
        raise CulturectlError(f"{path}: not a dataset saved by datasets.save_to_disk ({error})") from None
    if isinstance(dataset, datasets.DatasetDict):
        if "train" not in dataset:
            raise CulturectlError(f"{path}: dataset has splits {', '.join(dataset)} but no 'train' split")
        dataset = dataset["train"]
    if "input_ids" not in dataset.column_names:
        raise CulturectlError(f"{path}: dataset has columns {', '.join(dataset.column_names)}, expected 'input_ids'")
    if len(dataset) == 0:
        raise CulturectlError(f"{path}: dataset is empty")
    _check_rows(torch.as_tensor(dataset[:16]["input_ids"]), path)
    return dataset, path


def _is_saved_dataset(path: Path) -> bool:
    """Return True for a folder written by `save_to_disk` (a Dataset or a DatasetDict)."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _check_rows(rows: torch.Tensor, path: Path) -> None:
    if rows.dim() != 2 or rows.size(1) != ROW_LEN:
        raise CulturectlError(
            f"{path}: rows have shape {tuple(rows.shape)}, expected {ROW_LEN} tokens each "
            "(a leading 0, then the 404 quiz tokens)"
        )
    if (rows[:, BOS_ROW_POSITION] != BOS_TOKEN).any():
        raise CulturectlError(f"{path}: rows do not start with the BOS token {BOS_TOKEN}")
    markers = rows[:, list(marker_row_positions())]
    if not torch.isin(markers, torch.tensor(list(MARKER_TOKENS.values()))).all():
        raise CulturectlError(
            f"{path}: row positions {marker_row_positions()} do not all hold marker tokens, "
            "so the rows are not quizzes in the culture layout"
        )


def folder_sha256(path: Path) -> str:
    """Return the SHA-256 over the relative names and contents of every file in a folder, in sorted order."""
    digest = hashlib.sha256()
    for file in sorted(item for item in Path(path).rglob("*") if item.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# SAELens subclasses
# ---------------------------------------------------------------------------


class QuizActivationsStore(ActivationsStore):
    """An ActivationsStore that keeps only chosen positions of each context.

    `position_mask` is a boolean mask over the positions that `seqpos_slice` passes on,
    and None keeps them all. The mask replaces SAELens's token-id filter, so training and
    the norm estimate receive only the kept positions.
    """

    position_mask: torch.Tensor | None = None

    def get_filtered_llm_batch(self, raise_on_epoch_end: bool = False) -> torch.Tensor:
        activations, _ = self.get_raw_llm_batch(raise_on_epoch_end=raise_on_epoch_end)
        if self.position_mask is None:
            return activations
        per_context = activations.view(-1, self.training_context_size, self.d_in)
        return per_context[:, self.position_mask.to(per_context.device)].reshape(-1, self.d_in)


class QuizSAETrainingRunner(LanguageModelSAETrainingRunner):
    """SAELens's runner with a QuizActivationsStore, extra SAE metadata, and an interrupt
    checkpoint that `resume_from_checkpoint` can continue from."""

    def __init__(self, cfg, dataset, model, positions: str, metadata: dict):
        with warnings.catch_warnings():
            # SAELens compares the number of rows with the number of tokens here, so it
            # warns for any dataset with fewer rows than training tokens.
            warnings.filterwarnings("ignore", message="The training dataset contains fewer samples")
            super().__init__(cfg, override_dataset=dataset, override_model=model)
            store = QuizActivationsStore.from_config(model, cfg, override_dataset=dataset)
        store.position_mask = sliced_position_mask(positions)
        self.activations_store = store
        self.evaluator.activations_store = store
        self.extra_metadata = metadata
        self.trainer = None

    def _set_sae_metadata(self):
        super()._set_sae_metadata()
        for key, value in self.extra_metadata.items():
            setattr(self.sae.cfg.metadata, key, value)

    def run_trainer_with_interruption_handling(self, trainer):
        self.trainer = trainer
        return super().run_trainer_with_interruption_handling(trainer)

    def save_checkpoint(self, checkpoint_path):
        # In sae-lens 6.54.12 the runner's interrupt handler calls this method directly,
        # and it stores only the dataset position and the runner config. A checkpoint
        # without SAE weights and trainer state cannot be resumed, so those are saved
        # through the trainer first, which then calls this method again.
        if checkpoint_path is not None and self.trainer is not None:
            checkpoint_path = Path(checkpoint_path)
            if not (checkpoint_path / SAE_WEIGHTS_FILENAME).exists():
                self.trainer.save_checkpoint(checkpoint_name=checkpoint_path.name, base_path=checkpoint_path.parent)
                return
        super().save_checkpoint(checkpoint_path)


def runner_config(settings: SaeTrainingSettings, d_in: int, hook: str, model_name: str, dataset_path: str,
                  out: Path, device: str, wandb: bool = False):
    """Build SAELens's LanguageModelSAERunnerConfig for `settings`."""
    _, config_class = get_sae_training_class(settings.architecture)
    common = dict(
        d_in=d_in, d_sae=settings.d_sae or settings.expansion * d_in, dtype="float32", device=device,
        apply_b_dec_to_input=settings.apply_b_dec_to_input, normalize_activations=settings.normalize_activations,
        decoder_init_norm=settings.decoder_init_norm,
    )
    if settings.architecture == "standard":
        specific = dict(l1_coefficient=settings.sparsity, l1_warm_up_steps=settings.sparsity_warm_up_steps)
    elif settings.architecture == "jumprelu":
        specific = dict(l0_coefficient=settings.sparsity, l0_warm_up_steps=settings.sparsity_warm_up_steps)
    else:
        specific = dict(k=settings.k)
    sae_config = config_class(**common, **specific)

    kept_per_context = int(sliced_position_mask(settings.positions).sum())
    # SAELens sizes its mixing buffer as n_batches_in_buffer * (positions per context), and
    # the buffer must hold at least one training batch; keep room for two.
    n_batches_in_buffer = max(settings.n_batches_in_buffer,
                              math.ceil(2 * settings.train_batch_size_tokens / kept_per_context))
    if n_batches_in_buffer != settings.n_batches_in_buffer:
        logger.info("n_batches_in_buffer raised from %d to %d so that the buffer holds two batches of %d tokens",
                    settings.n_batches_in_buffer, n_batches_in_buffer, settings.train_batch_size_tokens)

    cfg = LanguageModelSAERunnerConfig(
        sae=sae_config,
        model_name=model_name,
        model_class_name="HookedTransformer",
        hook_name=hook,
        dataset_path=dataset_path,
        is_dataset_tokenized=True,
        streaming=False,
        context_size=settings.context_size,
        # The rows already begin with the BOS the models were trained with.
        prepend_bos=True,
        seqpos_slice=seqpos_slice_for(settings.positions),
        disable_concat_sequences=True,
        sequence_separator_token=None,
        model_from_pretrained_kwargs={},
        exclude_special_tokens=False,
        n_batches_in_buffer=n_batches_in_buffer,
        training_tokens=settings.training_tokens,
        store_batch_size_prompts=settings.store_batch_size_prompts,
        train_batch_size_tokens=settings.train_batch_size_tokens,
        device=device,
        seed=settings.seed,
        dtype="float32",
        lr=settings.lr,
        lr_scheduler_name=settings.lr_scheduler_name,
        lr_warm_up_steps=settings.lr_warm_up_steps,
        lr_decay_steps=settings.lr_decay_steps,
        dead_feature_window=settings.dead_feature_window,
        feature_sampling_window=settings.feature_sampling_window,
        dead_feature_threshold=settings.dead_feature_threshold,
        n_batches_for_norm_estimate=settings.n_batches_for_norm_estimate,
        logger=LoggingConfig(log_to_wandb=wandb, wandb_project="culturectl-sae"),
        n_checkpoints=settings.n_checkpoints,
        checkpoint_path=str(out / CHECKPOINT_DIR),
        output_path=str(out),
        verbose=False,
    )
    # The config's __post_init__ appends a random id to checkpoint_path; a fixed folder
    # lets --resume find the checkpoints.
    cfg.checkpoint_path = str(out / CHECKPOINT_DIR)
    return cfg


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def latest_checkpoint(out: Path) -> Path | None:
    """Return the checkpoint in `out/checkpoints` with the most training samples that has
    SAE weights and trainer state, or None."""
    folder = Path(out) / CHECKPOINT_DIR
    candidates = []
    if folder.is_dir():
        for item in folder.iterdir():
            complete = (item / SAE_WEIGHTS_FILENAME).is_file() and (item / TRAINER_STATE_FILENAME).is_file()
            if item.name.isdigit() and complete:
                candidates.append((int(item.name), item))
    return max(candidates)[1] if candidates else None


@dataclass
class TrainingResult:
    """The SAE folder and what went into it."""

    out: Path
    hook: str
    d_in: int
    d_sae: int
    resumed_from: str | None
    settings: SaeTrainingSettings
    metadata: dict = field(default_factory=dict)
    sae: Any = field(default=None, repr=False)  # the trained TrainingSAE, weights as saved


def train_sae(
    model,
    model_source: ModelSource,
    dataset,
    dataset_path: Path,
    settings: SaeTrainingSettings,
    out: Path,
    device: str = "cpu",
    resume: bool = False,
    wandb: bool = False,
) -> TrainingResult:
    """Train an SAE on `model` over `dataset` and save it in `out`.

    The saved folder loads with `sae_lens.SAE.load_from_disk(out)`. On an interrupt
    (SIGINT or SIGTERM), a checkpoint is written under `out/checkpoints` and
    CulturectlError is raised. With `resume=True`, training continues from the latest
    checkpoint, and the caller passes the settings stored in `out` (`stored_settings`).
    """
    out = Path(out)
    check_context(settings.context_size, model.cfg.n_ctx)
    settings = replace(settings, hook=settings.hook or default_hook(model))
    hook = settings.hook
    d_in = hook_width(model, hook)

    # 1. The checkpoint to resume from, or a check that `out` contains no earlier run.
    resumed_from = None
    if resume:
        checkpoint = latest_checkpoint(out)
        if checkpoint is None:
            raise CulturectlError(f"--resume: no checkpoint with SAE weights in {out / CHECKPOINT_DIR}")
        resumed_from = str(checkpoint)
    elif (out / "cfg.json").exists() or latest_checkpoint(out) is not None:
        raise CulturectlError(f"{out} already contains an SAE or checkpoints; pass --resume to continue, or choose another --out")

    # 2. Provenance, stored in cfg.json metadata. A resumed run must see the same inputs.
    metadata = {
        "model_id": model_source.model_id,
        "model_path": model_source.path,
        "model_sha256": model_source.sha256,
        "checkpoint_sha256": model_source.checkpoint_sha256,
        POSITIONS_KEY: settings.positions,
        "excluded_positions": [int(p) for p in torch.nonzero(~row_position_mask(settings.positions)).flatten()],
        "dataset_local_path": str(Path(dataset_path).resolve()),
        "dataset_sha256": folder_sha256(dataset_path),
        "culturectl_settings": settings.to_json(),
        "culturectl_version": __version__,
    }
    if resumed_from is not None:
        _check_same_inputs(Path(resumed_from), {**metadata, "hook_name": hook})

    # 3. The run.
    torch.manual_seed(settings.seed)
    cfg = runner_config(settings, d_in, hook, model_source.name, str(Path(dataset_path).resolve()), out, device, wandb)
    if resumed_from is not None:
        cfg.resume_from_checkpoint = resumed_from
        logger.info("resuming from %s", resumed_from)
    out.mkdir(parents=True, exist_ok=True)
    (out / SETTINGS_FILE).write_text(json.dumps(settings.to_json(), indent=2) + "\n")
    runner = QuizSAETrainingRunner(cfg, dataset, model, settings.positions, metadata)

    previous_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with warnings.catch_warnings():
            # SAELens copies each row of a torch-formatted dataset with torch.tensor().
            warnings.filterwarnings("ignore", message="To copy construct from a tensor")
            trained = runner.run()
    except (KeyboardInterrupt, InterruptedException):
        checkpoint = latest_checkpoint(out)
        raise CulturectlError(
            f"training interrupted, checkpoint saved in {checkpoint}; to continue, run train-sae with --resume "
            "and the same --model, --dataset and --out (the settings are read from --out)"
        ) from None
    finally:
        # The runner installs its own SIGINT/SIGTERM handlers and leaves them in place.
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    return TrainingResult(out, hook, d_in, cfg.sae.d_sae, resumed_from, settings, metadata, trained)


def _check_same_inputs(checkpoint: Path, current: dict) -> None:
    """Raise CulturectlError when the model, hook, positions or dataset differ from the checkpoint's."""
    stored = json.loads((checkpoint / "cfg.json").read_text()).get("metadata", {})
    for key in ("model_sha256", "hook_name", "dataset_sha256", POSITIONS_KEY):
        expected = stored.get(key)
        actual = current.get(key)
        if expected is not None and expected != actual:
            raise CulturectlError(
                f"--resume: {key} is {actual} but the checkpoint {checkpoint} was trained with {expected}; "
                "resume with the same model and dataset, or start a new run in another --out"
            )


def stored_settings(out: Path) -> SaeTrainingSettings:
    """Read the settings a run in `out` was started with."""
    path = Path(out) / SETTINGS_FILE
    if not path.is_file():
        raise CulturectlError(f"--resume: {path} not found; was {out} written by culturectl train-sae?")
    return SaeTrainingSettings.from_json(json.loads(path.read_text()))


def write_manifest(out: Path, command: str, result: TrainingResult, device: str) -> Path:
    """Write the command line, versions, settings and input hashes beside an SAE."""
    from importlib.metadata import version

    from .atomic import atomic_path

    record = {
        "command": command,
        "device": device,
        "hook": result.hook,
        "d_in": result.d_in,
        "d_sae": result.d_sae,
        "resumed_from": result.resumed_from,
        "settings": result.settings.to_json(),
        "provenance": result.metadata,
        "versions": {
            "culturectl": __version__,
            "torch": torch.__version__,
            "sae_lens": version("sae-lens"),
            "transformer_lens": version("transformer-lens"),
            "datasets": version("datasets"),
        },
    }
    path = Path(out) / MANIFEST_FILE
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")
    return path


def trained_model_record(sae_dir: Path) -> dict | None:
    """Return the provenance `culturectl train-sae` stored in the cfg.json of `sae_dir`
    (model_id, model_sha256, ...), or None for an SAE from elsewhere."""
    path = Path(sae_dir) / "cfg.json"
    try:
        metadata = json.loads(path.read_text()).get("metadata") or {}
    except (OSError, ValueError, AttributeError):
        raise CulturectlError(f"{path}: unreadable SAE config; is {sae_dir} an SAE folder?") from None
    return metadata if metadata.get("model_sha256") else None


def check_trained_model(sae_dir: Path, record: dict, model_source: ModelSource) -> None:
    """Raise unless `model_source` is the model the SAE in `sae_dir` was trained on."""
    # A converted .hooked.safetensors and the checkpoint it came from are the same model.
    trained = {record["model_sha256"], record.get("checkpoint_sha256")} - {None}
    if trained & {model_source.sha256, model_source.checkpoint_sha256}:
        return
    trained = f"model {record['model_id']}" if record.get("model_id") is not None else "another model"
    raise CulturectlError(
        f"{sae_dir} was trained on {trained} (sha256 {record['model_sha256'][:12]}), not on "
        f"{model_source.path} (sha256 {model_source.sha256[:12]}); pass that model with --model"
    )


def resolve_sae_dir(text: str) -> Path:
    """Return an SAE folder: `text` itself, or for "hub" the published SAE in the hub
    cache (fetched by `culturectl fetch --sae`; the network is never used here)."""
    if text != "hub":
        return Path(text)
    from huggingface_hub import try_to_load_from_cache

    from .hub import SAE_FILES, SAE_REPO, hub_cache_dir

    cached = try_to_load_from_cache(SAE_REPO, SAE_FILES[0], cache_dir=hub_cache_dir())
    if not isinstance(cached, str):
        raise CulturectlError(f"the published SAE of {SAE_REPO} is not in the hub cache; run `culturectl fetch --sae` first")
    return Path(cached).parent
