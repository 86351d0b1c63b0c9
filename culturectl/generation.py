"""Models writing quizzes: completion of world quizzes, culture runs, and quiz files.

Quiz files come in two formats, chosen by suffix:
- `.pth` / `.pt`: the original `c_quizzes.pth` layout, a tuple (train list, test list) of
  int64 (n, 404) tensors in structure (A, f_A, B, f_B), written with `torch.save` and
  readable with `torch.load(weights_only=True)`;
- `.safetensors`: int64 tensors `train` and `test` in the same structure, optional extra
  tensors named `train_*` / `test_*` (per-quiz model probabilities, wrong-cell masks),
  and the run settings as JSON in the file's metadata.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import torch

from vendor_culture.culture import (
    KEPT,
    REASON_NAMES,
    KeepRule,
    culture_rounds,
)
from vendor_culture.quiz_machine import masked_autoregression
from vendor_culture.tokens import (
    MARKER_NAMES,
    MARKER_TOKENS,
    NB_COLORS,
    NB_SLOTS,
    QUIZ_LEN,
    SLOT_LEN,
    VOCAB_SIZE,
    WORLD_STRUCT,
    Structure,
    create_empty_quizzes,
    inject_noise,
    make_ar_mask,
    reconfigure,
)
from vendor_culture.world import generate_world_quizzes

from .atomic import atomic_path
from .errors import CulturectlError
from .torch_files import load_torch_file

QUIZ_FORMAT_NAME = "culturectl-quizzes"
QUIZ_FORMAT_VERSION = 1
TORCH_SUFFIXES = (".pth", ".pt")
SAFETENSORS_SUFFIX = ".safetensors"
# Decoding draws from its own stream, so that the quizzes of a seed are the ones
# `show-quiz` prints for that seed, whatever the models sample afterwards.
DECODE_SEED_OFFSET = 1_000_003


# ---------------------------------------------------------------------------
# Completion of world quizzes


@dataclass
class Completion:
    """World quizzes in one structure, with the answer of every model."""

    structure: Structure
    tasks: list[str]  # the task of each quiz
    truth: torch.Tensor  # (n, 404) in `structure`; the prompt carries the noise the models saw
    ar_mask: torch.Tensor  # (n, 404) bool, True on the answer cells
    model_ids: list[int]
    predictions: list[torch.Tensor]  # per model, (n, 404): `truth` with the answer decoded
    temperature: float
    seed: int
    noise: float
    seconds: list[float] = field(default_factory=list)

    def wrong(self, index: int) -> torch.Tensor:
        """Return the (n, 404) mask of answer cells where model `index` is wrong."""
        return (self.predictions[index] != self.truth) & self.ar_mask

    def right(self, index: int) -> torch.Tensor:
        """Return the (n,) mask of quizzes whose whole answer model `index` got right."""
        return ~self.wrong(index).any(dim=1)

    def summary(self) -> dict:
        models = []
        for index, model_id in enumerate(self.model_ids):
            right = int(self.right(index).sum())
            models.append({
                "model": model_id, "n": len(self.tasks), "right": right,
                "accuracy": right / max(len(self.tasks), 1), "seconds": round(self.seconds[index], 3),
            })
        quizzes = [
            {"index": n, "task": task, "right": [bool(self.right(i)[n]) for i in range(len(self.model_ids))]}
            for n, task in enumerate(self.tasks)
        ]
        return {
            "mode": "complete",
            "structure": list(self.structure.struct),
            "predicted": list(self.structure.predicted),
            "temperature": self.temperature,
            "noise": self.noise,
            "seed": self.seed,
            "models": models,
            "quizzes": quizzes,
        }


def complete_world_quizzes(
    models: Sequence,
    model_ids: Sequence[int],
    n: int,
    tasks: Sequence[str],
    structure: Structure,
    temperature: float = 1.0,
    seed: int = 0,
    noise: float = 0.0,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> Completion:
    """Generate `n` world quizzes and let every model decode their answer slots.

    The quizzes are those `show-quiz --seed SEED` prints. Every model samples from a fresh
    generator with the same seed, so two backends of one model give identical answers.
    Temperature 0 decodes greedily.
    """
    generator = torch.Generator().manual_seed(seed)
    world, task_indices = generate_world_quizzes(n, tasks, generator, return_tasks=True)
    truth = inject_noise(reconfigure(world, structure.struct), noise, structure.noise_mask, generator)
    ar_mask = make_ar_mask(truth, structure.ar_mask).bool()
    blank = truth.masked_fill(ar_mask, 0)

    completion = Completion(
        structure, [tasks[i] for i in task_indices.tolist()], truth, ar_mask, list(model_ids), [],
        temperature, seed, noise,
    )
    for model in models:
        decode_generator = torch.Generator().manual_seed((seed + DECODE_SEED_OFFSET) % 2**64)
        start = time.perf_counter()
        pieces = []
        for first in range(0, n, batch_size):
            batch = blank[first : first + batch_size].to(device)
            mask = ar_mask[first : first + batch_size].to(device)
            pieces.append(masked_autoregression(model, batch, mask, temperature, decode_generator).cpu())
        completion.predictions.append(torch.cat(pieces))
        completion.seconds.append(time.perf_counter() - start)
    return completion


# ---------------------------------------------------------------------------
# Culture runs


@dataclass
class CultureRun:
    """Counts and kept quizzes of a culture run. Model positions follow `model_ids`."""

    model_ids: list[int]
    generating_ids: list[int]
    rule: KeepRule
    settings: dict
    rounds: int = 0
    candidates: int = 0
    trivial: int = 0
    validated: int = 0
    reasons: list[int] = field(default_factory=lambda: [0] * len(REASON_NAMES))
    failing_histogram: list[int] = field(default_factory=list)  # index: number of failing models
    validated_by_generator: dict[int, int] = field(default_factory=dict)
    kept_by_generator: dict[int, int] = field(default_factory=dict)
    failing_in_kept: list[int] = field(default_factory=list)  # per model
    kept_quizzes: list[torch.Tensor] = field(default_factory=list)
    kept_probabilities: list[torch.Tensor] = field(default_factory=list)
    kept_generators: list[int] = field(default_factory=list)  # model id, per kept quiz
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        return self.reasons[KEPT]

    def quizzes(self) -> torch.Tensor:
        """Return all kept quizzes, (kept, 404), in the order they were kept."""
        return torch.cat(self.kept_quizzes) if self.kept_quizzes else create_empty_quizzes(0)

    def probabilities(self) -> torch.Tensor:
        """Return the (kept, nb_models) validation probabilities of the kept quizzes."""
        if not self.kept_probabilities:
            return torch.zeros(0, len(self.model_ids))
        return torch.cat(self.kept_probabilities)

    def summary(self) -> dict:
        per_generator = {
            str(model_id): {
                "validated": self.validated_by_generator.get(model_id, 0),
                "kept": self.kept_by_generator.get(model_id, 0),
                "acceptance": _ratio(self.kept_by_generator.get(model_id, 0), self.validated_by_generator.get(model_id, 0)),
            }
            for model_id in self.generating_ids
        }
        per_failing = {
            str(model_id): {"kept_failing": count, "share_of_kept": _ratio(count, self.kept)}
            for model_id, count in zip(self.model_ids, self.failing_in_kept)
        }
        return {
            "mode": "culture",
            "models": self.model_ids,
            "generating_models": self.generating_ids,
            "rule": {
                "understands": self.rule.understands, "fails": self.rule.fails,
                "min_failing": self.rule.min_failing, "max_failing": self.rule.max_failing,
            },
            **self.settings,
            "rounds": self.rounds,
            "candidates": self.candidates,
            "trivial": self.trivial,
            "validated": self.validated,
            "kept": self.kept,
            "acceptance": _ratio(self.kept, self.validated),
            "rejected": {name: count for name, count in zip(REASON_NAMES, self.reasons) if name != "kept"},
            "failing_histogram": self.failing_histogram,
            "per_generating_model": per_generator,
            "per_failing_model": per_failing,
            "seconds": round(self.seconds, 3),
            "kept_per_hour": round(3600 * self.kept / self.seconds, 1) if self.seconds > 0 else None,
        }


# Run times differ between runs with the same seed. The JSON manifest beside a quiz file
# contains them and the file itself does not, so the same seed gives the same bytes.
TIMING_KEYS = frozenset({"seconds", "kept_per_hour"})


def _without_timings(record):
    if isinstance(record, dict):
        return {key: _without_timings(value) for key, value in record.items() if key not in TIMING_KEYS}
    if isinstance(record, list):
        return [_without_timings(value) for value in record]
    return record


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def run_culture(
    models: Sequence,
    model_ids: Sequence[int],
    n_keep: int,
    max_rounds: int,
    seed: int = 0,
    rule: KeepRule = KeepRule(),
    generating_ids: Sequence[int] | None = None,
    nb_per_round: int = 50,
    temperature_hot: float = 1.5,
    temperature_cold: float = 1.0,
    nb_averaging_rounds: int = 3,
    noise: float = 0.05,
    recycle: bool = True,
    batch_size: int = 50,
    device: torch.device | str = "cpu",
    on_round: Callable[[CultureRun], None] | None = None,
) -> CultureRun:
    """Run culture rounds until `n_keep` quizzes are kept or `max_rounds` have run.

    Round r is written by the model with id generating_ids[r % len(generating_ids)]
    (default: every model in turn). `on_round` is called with the run after each round.
    """
    model_ids = list(model_ids)
    generating_ids = list(model_ids if generating_ids is None else generating_ids)
    unknown = [model_id for model_id in generating_ids if model_id not in model_ids]
    if unknown:
        raise CulturectlError(
            f"generating model {', '.join(map(str, unknown))} is not among the selected models "
            f"{', '.join(map(str, model_ids))}; add it to --models"
        )

    settings = {
        "seed": seed, "n_keep": n_keep, "max_rounds": max_rounds, "candidates_per_round": nb_per_round,
        "temperature_hot": temperature_hot, "temperature_cold": temperature_cold,
        "averaging_rounds": nb_averaging_rounds, "noise": noise, "recycle": recycle,
    }
    run = CultureRun(model_ids, generating_ids, rule, settings)
    run.failing_histogram = [0] * (len(model_ids) + 1)
    run.failing_in_kept = [0] * len(model_ids)

    generator = torch.Generator().manual_seed(seed)
    rounds = culture_rounds(
        models, [model_ids.index(model_id) for model_id in generating_ids], nb_per_round, generator, rule,
        temperature_hot, temperature_cold, nb_averaging_rounds, noise, recycle, batch_size, device,
    )
    start = time.perf_counter()
    while run.rounds < max_rounds and run.kept < n_keep:
        result = next(rounds)
        _record_round(run, result)
        run.seconds = time.perf_counter() - start
        if on_round is not None:
            on_round(run)
    return run


def _record_round(run: CultureRun, result) -> None:
    """Add the counts and kept quizzes of one `CultureRound` to `run`."""
    generating_id = run.model_ids[result.generating_model]
    verdict = result.verdict
    kept = int(verdict.keep.sum())
    validated = int((~result.trivial).sum())

    run.rounds += 1
    run.candidates += result.candidates.size(0)
    run.trivial += int(result.trivial.sum())
    run.validated += validated
    for reason in range(len(REASON_NAMES)):
        run.reasons[reason] += int((verdict.reason == reason).sum())
    for count in verdict.nb_failing.tolist():
        run.failing_histogram[count] += 1
    run.validated_by_generator[generating_id] = run.validated_by_generator.get(generating_id, 0) + validated
    run.kept_by_generator[generating_id] = run.kept_by_generator.get(generating_id, 0) + kept
    for index, count in enumerate(verdict.fails[verdict.keep].sum(dim=0).tolist()):
        run.failing_in_kept[index] += count
    if kept:
        run.kept_quizzes.append(result.kept)
        run.kept_probabilities.append(result.probabilities[verdict.keep])
        run.kept_generators.extend([generating_id] * kept)


# ---------------------------------------------------------------------------
# Quiz files


def reorder_slots(quizzes: torch.Tensor, struct: Sequence[str], *per_token: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Put (N, 404) quizzes in the slot order `struct` and return them first.

    Each (N, 404) companion tensor, such as a wrong-cell mask, has its slots moved the
    same way and follows in the returned tuple.
    """
    slots = quizzes.reshape(-1, NB_SLOTS, SLOT_LEN)
    wanted = torch.tensor([MARKER_TOKENS[name] for name in struct], device=quizzes.device)
    # source[n, q] is the slot of quiz n that contains the grid marked struct[q].
    source = (slots[:, None, :, 0] == wanted[None, :, None]).int().argmax(dim=2)
    index = source[:, :, None].expand(-1, -1, SLOT_LEN)
    return tuple(
        tensor.reshape(-1, NB_SLOTS, SLOT_LEN).gather(1, index).reshape(-1, QUIZ_LEN)
        for tensor in (quizzes, *per_token)
    )


def displayable_quizzes(quizzes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (quizzes with every non-colour cell set to colour 0, mask of those cells).

    The terminal renderer draws colours only, but a model can sample a marker token into
    a cell. Callers mark the returned cells as wrong so that they stay visible.
    """
    cells = make_ar_mask(quizzes, (1, 1, 1, 1)).bool()
    invalid = cells & ((quizzes < 0) | (quizzes >= NB_COLORS))
    return quizzes.masked_fill(invalid, 0), invalid


class CultureQuizzes(NamedTuple):
    """The quizzes of a quiz file, each split as one (n, 404) int64 tensor in (A, f_A, B, f_B)."""

    train: torch.Tensor
    test: torch.Tensor


@dataclass
class QuizFile:
    """A loaded quiz file: both splits, extra per-quiz tensors and metadata."""

    train: torch.Tensor
    test: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def save_quiz_file(
    path: Path,
    train: torch.Tensor,
    test: torch.Tensor,
    extras: dict[str, torch.Tensor] | None = None,
    metadata: dict | None = None,
) -> None:
    """Write quizzes in the format given by the suffix of `path` (see the module
    docstring). `extras` and `metadata` are stored only in safetensors files; per-token
    extras must already be in (A, f_A, B, f_B), because only the quizzes are reordered."""
    path = Path(path)
    train = _as_world_quizzes(train, "train")
    test = _as_world_quizzes(test, "test")
    if path.suffix in TORCH_SUFFIXES:
        with atomic_path(path) as temporary:
            torch.save(([train], [test]), temporary)
    elif path.suffix == SAFETENSORS_SUFFIX:
        from .safetensors_io import save_file_sorted

        tensors = {"train": train, "test": test}
        for name, tensor in (extras or {}).items():
            if not name.startswith(("train_", "test_")):
                raise ValueError(f"extra tensor name {name!r} must start with 'train_' or 'test_'")
            tensors[name] = tensor.detach().cpu().contiguous()
        record = {
            "format": QUIZ_FORMAT_NAME, "format_version": str(QUIZ_FORMAT_VERSION),
            "struct": ",".join(WORLD_STRUCT), "metadata": json.dumps(_without_timings(metadata or {}), sort_keys=True),
        }
        with atomic_path(path) as temporary:
            save_file_sorted(tensors, temporary, record)
    else:
        raise CulturectlError(
            f"unsupported quiz file suffix {path.suffix!r} in {path}; use .pth, .pt or .safetensors"
        )


def _as_world_quizzes(quizzes: torch.Tensor, name: str) -> torch.Tensor:
    if quizzes.dim() != 2 or quizzes.size(1) != QUIZ_LEN:
        raise ValueError(f"{name} quizzes must be (n, {QUIZ_LEN}), got shape {tuple(quizzes.shape)}")
    return reconfigure(quizzes.detach().cpu().long(), WORLD_STRUCT).contiguous()


def load_quiz_file(path: Path) -> QuizFile:
    """Read a quiz file of either format; both splits come back in (A, f_A, B, f_B)."""
    path = Path(path)
    if path.is_dir():
        raise CulturectlError(f"{path} is a folder; give a quiz file (.pth or .safetensors)")
    if not path.is_file():
        raise CulturectlError(f"quiz file not found: {path}")
    if path.suffix == SAFETENSORS_SUFFIX:
        return _load_safetensors_quizzes(path)
    train, test = _load_torch_quizzes(path)
    return QuizFile(_checked_quizzes(train, path, "train"), _checked_quizzes(test, path, "test"))


def load_culture_quizzes(path: Path) -> CultureQuizzes:
    """Read the train and test quizzes of an original `c_quizzes.pth` or of a file that
    `culturectl generate` wrote; each split is one (n, 404) int64 tensor."""
    quiz_file = load_quiz_file(path)
    return CultureQuizzes(quiz_file.train, quiz_file.test)


def _load_torch_quizzes(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    content = load_torch_file(path, "quiz file")
    expected = "a tuple (train list, test list) of (n, 404) int64 tensors"
    if not (isinstance(content, (tuple, list)) and len(content) == 2):
        raise CulturectlError(f"{path}: not a culture quiz file; expected {expected}, found {type(content).__name__}")
    splits = []
    for name, part in zip(("train", "test"), content):
        if isinstance(part, torch.Tensor):
            part = [part]
        if not isinstance(part, (tuple, list)) or not all(isinstance(t, torch.Tensor) for t in part):
            raise CulturectlError(f"{path}: the {name} entry is not a list of tensors; expected {expected}")
        for tensor in part:
            if tensor.dim() != 2 or tensor.size(1) != QUIZ_LEN:
                raise CulturectlError(
                    f"{path}: a {name} tensor has shape {tuple(tensor.shape)}; expected (n, {QUIZ_LEN})"
                )
        splits.append(torch.cat(part) if part else create_empty_quizzes(0))
    return splits[0], splits[1]


def _load_safetensors_quizzes(path: Path) -> QuizFile:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt") as handle:
            record = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CulturectlError(f"{path}: cannot read the safetensors file, it is corrupt or truncated ({error})") from None
    if record.get("format") != QUIZ_FORMAT_NAME or "train" not in tensors or "test" not in tensors:
        raise CulturectlError(
            f"{path}: not a culturectl quiz file; expected tensors 'train' and 'test' and "
            f"metadata format {QUIZ_FORMAT_NAME!r}"
        )
    try:
        metadata = json.loads(record.get("metadata", "{}"))
    except json.JSONDecodeError as error:
        raise CulturectlError(f"{path}: invalid JSON metadata ({error})") from None
    train = _checked_quizzes(tensors.pop("train"), path, "train")
    test = _checked_quizzes(tensors.pop("test"), path, "test")
    return QuizFile(train, test, tensors, metadata)


def _checked_quizzes(quizzes: torch.Tensor, path: Path, name: str) -> torch.Tensor:
    """Return `quizzes` as int64 in (A, f_A, B, f_B), or raise naming the first invalid row."""
    if quizzes.dtype.is_floating_point or quizzes.dtype == torch.bool:
        raise CulturectlError(f"{path}: {name} quizzes have dtype {quizzes.dtype}; expected integer tokens")
    if quizzes.dim() != 2 or quizzes.size(1) != QUIZ_LEN:
        raise CulturectlError(f"{path}: {name} quizzes have shape {tuple(quizzes.shape)}; expected (n, {QUIZ_LEN})")
    quizzes = quizzes.long()

    slots = quizzes.view(-1, NB_SLOTS, SLOT_LEN)
    markers = slots[:, :, 0].sort(dim=1).values
    expected_markers = torch.tensor(sorted(MARKER_TOKENS[name] for name in MARKER_NAMES))
    bad_markers = (markers != expected_markers).any(dim=1)
    # A model can sample a marker token into a cell, so a cell may be any vocabulary token.
    bad_cells = ((slots[:, :, 1:] < 0) | (slots[:, :, 1:] >= VOCAB_SIZE)).flatten(1).any(dim=1)
    bad = (bad_markers | bad_cells).nonzero().flatten()
    if bad.numel():
        row = int(bad[0])
        problem = "markers are not A, f_A, B, f_B once each" if bad_markers[row] else f"a cell is outside the vocabulary 0..{VOCAB_SIZE - 1}"
        raise CulturectlError(f"{path}: {name} quiz {row} is invalid: {problem}")
    return reconfigure(quizzes, WORLD_STRUCT)
