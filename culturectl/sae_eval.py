"""Evaluation of an SAE spliced into a culture model, on freshly generated quizzes.

Three runs of the model per batch: clean, with the SAE reconstruction spliced into the
hook, and with the hook zero-ablated. Splicing and ablation act on the SAE's positions
only (see `culturectl.sae.POSITION_MODES`), so "recovered" compares the SAE with removing
exactly what it replaces.

- Reconstruction, over the SAE's positions: L0 (features != 0 per token), explained
  variance (SAELens's `ExplainedVarianceCalculator`: 1 - E||x - x̂||² / Var(x)), MSE
  (squared error summed over features, averaged over tokens), and the fractions of dead
  features (never active) and dense features (active on more than DENSE_FIRING_RATE of
  tokens).
- Downstream, over the answer cells (ar_mask): cross-entropy of each run, CE-loss
  recovered = (CE_ablated - CE_spliced) / (CE_ablated - CE_clean), and KL(clean || run).
- Behaviour, per task: greedy full-grid accuracy of each run from one teacher-forced pass
  (a grid is right when every answer cell's argmax is right), and accuracy recovered =
  (spliced - ablated) / (clean - ablated).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
from sae_lens.evals import ExplainedVarianceCalculator

from vendor_culture.tokens import QUIZ_LEN, quizzes_to_rows

from .sae import row_position_mask

# A feature active on more than this fraction of evaluated tokens counts as dense.
DENSE_FIRING_RATE = 0.1
# Above this fraction of dead features, the evaluation carries a warning.
DEAD_WARNING_FRACTION = 0.1


def recovered_fraction(clean: float, spliced: float, ablated: float) -> float | None:
    """(ablated - spliced) / (ablated - clean) for losses, the same formula for accuracies
    read the other way; None when clean and ablated are equal, where it is undefined."""
    if clean == ablated:
        return None
    return (ablated - spliced) / (ablated - clean)


@dataclass
class TaskAccuracy:
    """Greedy full-grid accuracy on one task, pooled over the evaluated structures."""

    task: str
    n: int
    clean: float
    spliced: float
    ablated: float

    @property
    def recovered(self) -> float | None:
        return recovered_fraction(self.clean, self.spliced, self.ablated)

    def to_json(self) -> dict:
        return {**asdict(self), "recovered": self.recovered}


@dataclass
class SaeEvaluation:
    """All numbers of one evaluation; JSON-ready through `to_json`."""

    hook: str
    positions: str
    d_sae: int
    n_quizzes: int
    n_tokens: int
    l0: float
    explained_variance: float
    mse: float
    dead_fraction: float
    dense_fraction: float
    ce_clean: float
    ce_spliced: float
    ce_ablated: float
    kl_spliced: float
    kl_ablated: float
    tasks: list[TaskAccuracy] = field(default_factory=list)

    @property
    def ce_loss_recovered(self) -> float | None:
        return recovered_fraction(self.ce_clean, self.ce_spliced, self.ce_ablated)

    @property
    def accuracy(self) -> TaskAccuracy:
        """Accuracy pooled over all tasks, weighted by their quiz counts."""
        n = sum(task.n for task in self.tasks)

        def pooled(name: str) -> float:
            return sum(getattr(task, name) * task.n for task in self.tasks) / max(n, 1)

        return TaskAccuracy("all", n, pooled("clean"), pooled("spliced"), pooled("ablated"))

    def warnings(self) -> list[str]:
        messages = []
        if self.dead_fraction > DEAD_WARNING_FRACTION:
            messages.append(
                f"{100 * self.dead_fraction:.1f}% of the {self.d_sae} features never fired on "
                f"{self.n_tokens} evaluated tokens (more than {100 * DEAD_WARNING_FRACTION:.0f}%)"
            )
        return messages

    def to_json(self) -> dict:
        record = asdict(self)
        record["tasks"] = [task.to_json() for task in self.tasks]
        record["ce_loss_recovered"] = self.ce_loss_recovered
        record["accuracy"] = self.accuracy.to_json()
        record["dense_firing_rate"] = DENSE_FIRING_RATE
        record["warnings"] = self.warnings()
        return record

    def tables(self):
        """Two rich tables: the SAE metrics, and accuracy per task."""
        from rich.table import Table

        def number(value: float | None, digits: int = 4) -> str:
            # Adding 0.0 turns -0.0 into 0.0, which would otherwise print as "-0".
            return "n/a" if value is None else f"{value + 0.0:.{digits}g}"

        metrics = Table(title=f"SAE on {self.hook} ({self.positions} positions, {self.n_tokens} tokens)",
                        title_justify="left")
        metrics.add_column("metric")
        metrics.add_column("value", justify="right")
        rows = [
            ("L0 (active features per token)", number(self.l0)),
            ("explained variance", number(self.explained_variance)),
            ("MSE (sum over features)", number(self.mse)),
            ("dead features", f"{100 * self.dead_fraction:.1f}%"),
            (f"dense features (> {100 * DENSE_FIRING_RATE:.0f}% of tokens)", f"{100 * self.dense_fraction:.1f}%"),
            ("CE clean / spliced / ablated", f"{self.ce_clean:.4f} / {self.ce_spliced:.4f} / {self.ce_ablated:.4f}"),
            ("CE loss recovered", number(self.ce_loss_recovered)),
            ("KL spliced / ablated", f"{self.kl_spliced:.4g} / {self.kl_ablated:.4g}"),
        ]
        for name, value in rows:
            metrics.add_row(name, value)

        accuracy = Table(
            title="Greedy full-grid accuracy %: clean, SAE spliced, zero-ablated", title_justify="left",
            caption="recovered = (spliced - ablated) / (clean - ablated); n/a where clean equals ablated.",
            caption_justify="left",
        )
        for name in ("task", "n", "clean", "spliced", "ablated", "recovered"):
            accuracy.add_column(name, justify="left" if name == "task" else "right")
        for task in [*self.tasks, self.accuracy]:
            accuracy.add_row(task.task, str(task.n), f"{100 * task.clean:.1f}", f"{100 * task.spliced:.1f}",
                             f"{100 * task.ablated:.1f}", number(task.recovered, 3))
        return [metrics, accuracy]


class _Totals:
    """Running sums over batches for one evaluation."""

    def __init__(self, d_sae: int):
        self.variance = ExplainedVarianceCalculator()
        self.tokens = 0
        self.active = 0.0
        self.squared_error = 0.0
        self.firing = torch.zeros(d_sae, dtype=torch.float64)
        self.cells = 0
        self.nll = {"clean": 0.0, "spliced": 0.0, "ablated": 0.0}
        self.kl = {"spliced": 0.0, "ablated": 0.0}
        self.right: dict[str, dict[str, int]] = {}
        self.quizzes: dict[str, int] = {}


def _flatten_heads(activation: torch.Tensor) -> torch.Tensor:
    """(batch, pos, ...) -> (batch, pos, features), as SAELens flattens head dimensions."""
    return activation.flatten(2)


@torch.no_grad()
def evaluate_sae(model, sae, eval_sets: Sequence, positions: str, hook: str | None = None,
                 batch_size: int = 32) -> SaeEvaluation:
    """Evaluate `sae` on `hook` of `model` (a HookedMyGPT) over `eval_sets` (from
    `culturectl.evaluation.build_eval_sets`), at the row positions of `positions`."""
    hook = hook or sae.cfg.metadata.hook_name
    device = torch.device(model.cfg.device)
    sae = sae.to(device).eval()
    kept = row_position_mask(positions).to(device)
    totals = _Totals(sae.cfg.d_sae)

    for eval_set in eval_sets:
        for start in range(0, eval_set.quizzes.size(0), batch_size):
            quizzes = eval_set.quizzes[start : start + batch_size].to(device)
            answer = eval_set.ar_mask[start : start + batch_size].to(device).bool()
            _evaluate_batch(model, sae, hook, kept, quizzes, answer, eval_set.task, totals)

    return _summarise(totals, hook, positions, sae.cfg.d_sae)


def _evaluate_batch(model, sae, hook, kept, quizzes, answer, task, totals: _Totals) -> None:
    rows = quizzes_to_rows(quizzes)

    # 1. Clean run, and the SAE on the activations at the kept positions.
    clean_logits, cache = model.run_with_cache(rows, names_filter=[hook])
    activation = _flatten_heads(cache[hook])
    inputs = activation[:, kept]  # (batch, kept positions, d_in)
    features = sae.encode(inputs)
    reconstruction = sae.decode(features).to(activation.dtype)

    flat_inputs = inputs.reshape(-1, inputs.size(-1))
    flat_features = features.reshape(-1, features.size(-1))
    flat_reconstruction = reconstruction.reshape(-1, inputs.size(-1))
    active = flat_features != 0
    totals.variance.add_batch(flat_reconstruction, flat_inputs)
    totals.tokens += flat_inputs.size(0)
    totals.active += active.sum().item()
    totals.squared_error += (flat_inputs - flat_reconstruction).pow(2).sum().item()
    totals.firing += active.sum(dim=0).double().cpu()

    # 2. Spliced and ablated runs. The hook's input does not depend on the hook, so the
    # reconstruction computed from the clean run is what the spliced run would compute.
    def replace_with(values):
        def hook_fn(value, hook):
            flat = _flatten_heads(value).clone()
            flat[:, kept] = values
            return flat.view(value.shape)

        return hook_fn

    spliced_logits = model.run_with_hooks(rows, fwd_hooks=[(hook, replace_with(reconstruction))])
    ablated_logits = model.run_with_hooks(rows, fwd_hooks=[(hook, replace_with(torch.zeros_like(reconstruction)))])

    # 3. Answer-cell losses, KL and greedy accuracy. Row logits at p score quiz token p.
    log_probs = {
        name: torch.log_softmax(logits[:, :QUIZ_LEN].float(), dim=-1)
        for name, logits in (("clean", clean_logits), ("spliced", spliced_logits), ("ablated", ablated_logits))
    }
    totals.cells += int(answer.sum())
    counts = totals.right.setdefault(task, {name: 0 for name in log_probs})
    totals.quizzes[task] = totals.quizzes.get(task, 0) + quizzes.size(0)
    for name, values in log_probs.items():
        target = values.gather(2, quizzes[:, :, None]).squeeze(2)
        totals.nll[name] -= target[answer].sum().item()
        right = (values.argmax(dim=2) == quizzes) | ~answer
        counts[name] += int(right.all(dim=1).sum())
    clean_probs = log_probs["clean"].exp()
    for name in ("spliced", "ablated"):
        kl = (clean_probs * (log_probs["clean"] - log_probs[name])).sum(dim=2)
        totals.kl[name] += kl[answer].sum().item()


def _summarise(totals: _Totals, hook: str, positions: str, d_sae: int) -> SaeEvaluation:
    tokens = max(totals.tokens, 1)
    cells = max(totals.cells, 1)
    rate = totals.firing / tokens
    tasks = [
        TaskAccuracy(task, totals.quizzes[task], *(counts[name] / totals.quizzes[task]
                                                  for name in ("clean", "spliced", "ablated")))
        for task, counts in totals.right.items()
    ]
    return SaeEvaluation(
        hook=hook, positions=positions, d_sae=d_sae, n_quizzes=sum(totals.quizzes.values()),
        n_tokens=totals.tokens, l0=totals.active / tokens, explained_variance=totals.variance.compute(),
        mse=totals.squared_error / tokens, dead_fraction=float((rate == 0).double().mean()),
        dense_fraction=float((rate > DENSE_FIRING_RATE).double().mean()),
        ce_clean=totals.nll["clean"] / cells, ce_spliced=totals.nll["spliced"] / cells,
        ce_ablated=totals.nll["ablated"] / cells, kl_spliced=totals.kl["spliced"] / cells,
        kl_ablated=totals.kl["ablated"] / cells, tasks=tasks,
    )


def load_sae(path, device: str = "cpu"):
    """Load an SAE folder (cfg.json and sae_weights.safetensors) with SAELens."""
    from pathlib import Path

    from sae_lens import SAE
    from sae_lens.constants import SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME

    from .errors import CulturectlError

    path = Path(path)
    missing = [name for name in (SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME) if not (path / name).is_file()]
    if missing:
        raise CulturectlError(f"{path}: not an SAE folder, {' and '.join(missing)} not found")
    try:
        return SAE.load_from_disk(path, device=device)
    except Exception as error:  # noqa: BLE001 - SAELens reports damage with many types
        reason = (str(error).strip().splitlines() or [""])[0]
        raise CulturectlError(
            f"{path}: cannot load the SAE ({type(error).__name__}: {reason}); "
            "its cfg.json or weights are damaged or of another layout"
        ) from None


def sae_positions(sae) -> str:
    """Return the position mode an SAE was trained on: culturectl's metadata, else "every",
    which is what SAELens does without position settings (as for the published SAE)."""
    from .sae import POSITIONS_KEY

    return sae.cfg.metadata.get(POSITIONS_KEY) or "every"


def run_evaluation(model, sae, tasks: Sequence[str], structures: Sequence[str], num_quizzes: int, seed: int,
                   positions: str | None = None, hook: str | None = None, batch_size: int = 32) -> SaeEvaluation:
    """Generate `num_quizzes` fresh quizzes per task in each structure (seeded by `seed`,
    as `culturectl eval` does) and evaluate `sae` on them. `positions` and `hook`
    default to the ones stored in the SAE's metadata."""
    from .errors import CulturectlError
    from .evaluation import build_eval_sets
    from .sae import hook_width

    hook = hook or sae.cfg.metadata.hook_name
    if hook is None:
        raise CulturectlError("the SAE's cfg.json names no hook; pass --hook")
    width = hook_width(model, hook)
    if width != sae.cfg.d_in:
        raise CulturectlError(f"the SAE takes d_in {sae.cfg.d_in}, but {hook} of this model has {width} features")
    try:
        eval_sets = build_eval_sets(tasks, structures, num_quizzes, seed)
    except ValueError as error:
        raise CulturectlError(str(error)) from None
    return evaluate_sae(model, sae, eval_sets, positions or sae_positions(sae), hook, batch_size)
