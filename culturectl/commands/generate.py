"""`culturectl generate`: models complete world quizzes, or write culture quizzes."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import CheckpointsOpt, DeviceOpt, JsonOpt, SeedOpt, TasksOpt, split_names

# torch, vendor_culture and the core modules are imported inside the command, so that
# `culturectl --help` and the other subcommands start without loading torch.


def generate(
    models: Annotated[
        Optional[str],
        typer.Option("--models", "-m", help="Model ids: '0-4', '0,2,3' or 'all' (default: 0, or all with --culture)."),
    ] = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="World quizzes to complete; with --culture, quizzes to keep.")
    ] = 64,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature of the completion; 0 decodes greedily.")
    ] = 1.0,
    structure: Annotated[
        str,
        typer.Option(
            "--structure",
            help="Slot order of the completion: a predicted slot (f_B, B, f_A, A) or four "
            "comma-separated marker names of a structure the models train on.",
        ),
    ] = "f_B",
    tasks: TasksOpt = None,
    noise: Annotated[
        Optional[float],
        typer.Option(
            "--noise", min=0.0, max=1.0,
            help="Prompt-noise probability per cell of the noised slot (default: 0 for completion, "
            "0.05 for culture validation, as in the original run).",
        ),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Save the quizzes: .pth (the original c_quizzes.pth layout) or .safetensors."),
    ] = None,
    png: Annotated[Optional[Path], typer.Option("--png", help="Write a PNG sheet of the quizzes.")] = None,
    svg: Annotated[Optional[Path], typer.Option("--svg", help="Write an SVG sheet of the quizzes.")] = None,
    culture: Annotated[
        bool, typer.Option("--culture", help="Write culture quizzes and keep those the keep rule accepts.")
    ] = False,
    generators: Annotated[
        Optional[str],
        typer.Option("--generators", help="Culture: ids of the models that write quizzes, one per round in turn (default: every selected model)."),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            help="Culture keep rule: 'original' (1 or 2 models fail, the others understand) or "
            "'all-but-one' (exactly one model fails, the others understand).",
        ),
    ] = "original",
    understands: Annotated[
        float, typer.Option("--understands", min=0.0, max=1.0, help="Culture: a model understands a quiz when its probability of the answer is at least this.")
    ] = 0.95,
    fails: Annotated[
        float, typer.Option("--fails", min=0.0, max=1.0, help="Culture: a model fails a quiz when its probability of the answer is at most this.")
    ] = 0.5,
    min_failing: Annotated[
        Optional[int], typer.Option("--min-failing", min=0, help="Culture: fewest failing models for a kept quiz (default: from --preset).")
    ] = None,
    max_failing: Annotated[
        Optional[int], typer.Option("--max-failing", min=0, help="Culture: most failing models for a kept quiz (default: from --preset).")
    ] = None,
    temperature_hot: Annotated[
        float, typer.Option("--temperature-hot", min=0.0, help="Culture: temperature of the first pass, f_B from nothing.")
    ] = 1.5,
    temperature_cold: Annotated[
        float, typer.Option("--temperature-cold", min=0.0, help="Culture: temperature of the second and third passes.")
    ] = 1.0,
    averaging_rounds: Annotated[
        int, typer.Option("--averaging-rounds", min=1, help="Culture: noisy validation rounds whose probabilities are averaged.")
    ] = 3,
    per_round: Annotated[
        int, typer.Option("--per-round", min=1, help="Culture: candidates written per round.")
    ] = 50,
    max_rounds: Annotated[
        int, typer.Option("--max-rounds", min=1, help="Culture: stop after this many rounds even if fewer than --n quizzes are kept.")
    ] = 100,
    n_test: Annotated[
        Optional[int],
        typer.Option("--n-test", min=0, help="Culture: how many of the --n quizzes go to the test list (default: n/21, the original 400:20 split)."),
    ] = None,
    recycle: Annotated[
        bool, typer.Option("--recycle/--no-recycle", help="Culture: rejected candidates seed the next round, keeping their f_B, as in the original.")
    ] = True,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Quizzes per forward pass.")] = 50,
    backend: Annotated[
        str,
        typer.Option("--backend", help="Run the models as 'mygpt' or as converted TransformerLens models, 'hooked'."),
    ] = "mygpt",
    checkpoints: CheckpointsOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    json_output: JsonOpt = False,
) -> None:
    """Let models write quizzes.

    Without --culture, every model completes the same N world quizzes, those `show-quiz`
    prints for the seed, in the given structure. The predicted slots are decoded with the
    KV cache, and each prediction is marked right or wrong, with the wrong cells shown.

    With --culture, the original three-pass generation writes candidates (f_B at the hot
    temperature, then f_A, A, B, then f_B again), one generating model per round in turn.
    Trivial candidates (A = f_A or B = f_B) are dropped. Every model, the writer included,
    scores each candidate by its probability of the quiz's own answer in both directions
    under prompt noise, and the keep rule decides. The run summary goes to stderr, or to
    stdout as JSON with --json.
    """
    import torch

    from .. import __version__
    from ..atomic import check_writable
    from ..console import logger
    from ..devices import resolve_device
    from ..errors import CulturectlError
    from ..selection import load_models

    if backend not in BACKENDS:
        raise CulturectlError(f"invalid --backend {backend!r}; use {' or '.join(BACKENDS)}")
    for path, suffixes in ((out, (".pth", ".pt", ".safetensors")), (png, (".png",)), (svg, (".svg",))):
        if path is not None and path.suffix not in suffixes:
            raise CulturectlError(f"invalid output file {path}: the suffix must be {' or '.join(suffixes)}")
        if path is not None:
            # Fail before the models run, not after.
            check_writable(path)
    if culture and n_test is not None and n_test > n:
        raise typer.BadParameter(f"--n-test {n_test} is more than --n {n}; the test quizzes are part of the --n kept")
    rule = keep_rule(preset, understands, fails, min_failing, max_failing) if culture else None
    resolved = resolve_device(device)
    loaded, source = load_models(models or ("all" if culture else "0"), checkpoints)
    logger.info("loaded %d model(s) from %s: %s", len(loaded), source,
                ", ".join(f"gpt_{entry.model_id:03d}" for entry in loaded))
    for entry in loaded:
        entry.model.to(resolved)
    runnable = [as_backend(entry.model, backend, resolved) for entry in loaded]
    manifest = {
        "command": shlex.join(["culturectl", *sys.argv[1:]]),
        "seed": seed,
        "versions": {"torch": torch.__version__, "culturectl": __version__},
        "models": {str(entry.model_id): {"path": str(entry.path), "sha256": entry.sha256} for entry in loaded},
        "backend": backend,
    }

    if culture:
        _culture(
            loaded, runnable, rule, generators, n, n_test, max_rounds, per_round, temperature_hot, temperature_cold,
            averaging_rounds, 0.05 if noise is None else noise, recycle, batch_size, resolved, seed,
            out, png, svg, json_output, manifest,
        )
    else:
        _complete(
            loaded, runnable, n, temperature, structure, tasks, 0.0 if noise is None else noise, batch_size,
            resolved, seed, out, png, svg, json_output, manifest,
        )


BACKENDS = ("mygpt", "hooked")


def as_backend(model, backend: str, device):
    """Return `model` (a MyGPT) itself or converted to a TransformerLens model behind the
    same decoding interface."""
    if backend == "mygpt":
        return model
    from ..hooked import HookedQuizModel, to_hooked

    return HookedQuizModel(to_hooked(model, device=device))


def keep_rule(preset: str, understands: float, fails: float, min_failing, max_failing):
    """Build the KeepRule of `preset` with the thresholds and any failing-count overrides."""
    from vendor_culture.culture import KEEP_RULE_PRESETS, KeepRule

    from ..errors import CulturectlError

    if preset not in KEEP_RULE_PRESETS:
        raise CulturectlError(f"invalid --preset {preset!r}; valid presets: {', '.join(KEEP_RULE_PRESETS)}")
    base = KEEP_RULE_PRESETS[preset]
    try:
        return KeepRule(
            understands=understands, fails=fails,
            min_failing=base.min_failing if min_failing is None else min_failing,
            max_failing=base.max_failing if max_failing is None else max_failing,
        )
    except ValueError as error:
        raise CulturectlError(f"invalid keep rule: {error}") from None


def _complete(loaded, runnable, n, temperature, structure_text, tasks, noise, batch_size, device, seed, out, png, svg, json_output, manifest):
    """Complete world quizzes with every model, then print, draw and save them."""
    import torch

    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.tokens import UNDERSTOOD_STRUCTURES, WORLD_STRUCT
    from vendor_culture.world import check_task_names

    from ..console import logger, stderr, stdout
    from ..errors import CulturectlError
    from ..generation import complete_world_quizzes, displayable_quizzes, reorder_slots
    from ..render import QuizGallery
    from .show_quiz import parse_structure

    try:
        task_names = check_task_names(split_names(tasks, "--tasks") or list(RELEASED_TASKS))
    except ValueError as error:
        raise CulturectlError(f"invalid --tasks {tasks!r}: {error}") from None
    struct = parse_structure(structure_text)
    matches = [entry for entry in UNDERSTOOD_STRUCTURES if entry.struct == struct]
    if not matches:
        raise CulturectlError(
            f"invalid --structure {structure_text!r}: the models are trained on "
            + "; ".join(",".join(entry.struct) for entry in UNDERSTOOD_STRUCTURES)
        )
    structure = matches[0]

    completion = complete_world_quizzes(
        runnable, [entry.model_id for entry in loaded], n, task_names,
        structure, temperature, seed, noise, batch_size, device,
    )
    summary = completion.summary()
    predicted = [slot for slot, flag in enumerate(structure.ar_mask) if flag]

    all_quizzes, all_wrong, titles = [], [], []
    for index, model_id in enumerate(completion.model_ids):
        right = completion.right(index)
        all_quizzes.append(completion.predictions[index])
        all_wrong.append(completion.wrong(index))
        for number, task in enumerate(completion.tasks):
            verdict = "right" if right[number] else f"wrong ({int(completion.wrong(index)[number].sum())} cells)"
            titles.append(f"gpt_{model_id:03d} quiz {number + 1}: {task}, {verdict}")
    quizzes, wrong = torch.cat(all_quizzes), torch.cat(all_wrong)

    if json_output:
        stdout.print_json(json.dumps(summary))
    else:
        shown, invalid = displayable_quizzes(quizzes)
        stdout.print(QuizGallery(shown, titles=titles, predicted=predicted, wrong=wrong | invalid))
    for record in summary["models"]:
        stderr.print(
            f"gpt_{record['model']:03d}: {record['right']}/{record['n']} right "
            f"({100 * record['accuracy']:.1f}%) predicting {', '.join(structure.predicted)} "
            f"at temperature {temperature:g}, {record['seconds']:.1f} s"
        )

    _draw(quizzes, predicted, wrong, titles, png, svg)
    if out is not None:
        world_quizzes, world_wrong = reorder_slots(quizzes, WORLD_STRUCT, wrong)
        _save(out, world_quizzes, {"test_wrong": world_wrong.to(torch.uint8)}, {**manifest, "summary": summary})
        logger.info("saved %d completed quizzes to %s", quizzes.size(0), out)


def _culture(loaded, runnable, rule, generators, n, n_test, max_rounds, per_round, hot, cold, averaging_rounds, noise,
             recycle, batch_size, device, seed, out, png, svg, json_output, manifest):
    """Run culture rounds, then report, draw and save the kept quizzes."""
    import torch

    from ..console import logger, progress, stdout
    from ..generation import displayable_quizzes, run_culture
    from ..render import QuizGallery
    from ..selection import parse_model_ids

    model_ids = [entry.model_id for entry in loaded]
    generating_ids = model_ids if generators is None else parse_model_ids(generators, model_ids)
    if rule.min_failing > len(model_ids):
        logger.warning("the keep rule needs at least %d failing models but only %d are selected; nothing can be kept",
                       rule.min_failing, len(model_ids))
    logger.info("culture run: %d models, generating %s, keep rule %s, up to %d rounds of %d candidates",
                len(model_ids), ",".join(map(str, generating_ids)), rule, max_rounds, per_round)

    with progress() as bar:
        task = bar.add_task("culture", total=n, status="")

        def on_round(run):
            bar.update(task, completed=min(run.kept, n),
                       status=f"round {run.rounds}, {run.validated} validated")

        run = run_culture(
            runnable, model_ids, n, max_rounds, seed, rule, generating_ids,
            per_round, hot, cold, averaging_rounds, noise, recycle, batch_size, device, on_round,
        )

    kept = run.quizzes()[:n]
    probabilities = run.probabilities()[:n]
    kept_generators = run.kept_generators[:n]
    n_test = round(n / 21) if n_test is None else min(n_test, n)
    # When fewer than n quizzes were kept, the test list keeps its share of them.
    test_count = round(kept.size(0) * n_test / n)
    train_count = kept.size(0) - test_count
    summary = {**run.summary(), "saved_train": train_count, "saved_test": test_count}
    if kept.size(0) < n:
        logger.warning("kept %d of the %d culture quizzes asked for; more rounds (--max-rounds) or a "
                       "looser keep rule would keep more", kept.size(0), n)

    titles = []
    for number in range(kept.size(0)):
        failing = [f"gpt_{model_id:03d}" for model_id, p in zip(model_ids, probabilities[number].tolist()) if p <= rule.fails]
        values = " ".join(f"{p:.2f}" for p in probabilities[number].tolist())
        titles.append(
            f"kept {number + 1}: written by gpt_{kept_generators[number]:03d}, "
            f"failed by {', '.join(failing) or 'none'}; probabilities {values}"
        )

    if json_output:
        stdout.print_json(json.dumps(summary))
    else:
        shown, invalid = displayable_quizzes(kept)
        stdout.print(QuizGallery(shown, titles=titles, wrong=invalid))
    print_culture_summary(summary)

    _draw(kept, (), None, titles, png, svg)
    if out is not None:
        generating = torch.tensor(kept_generators, dtype=torch.int64)
        extras = {
            "train_probabilities": probabilities[:train_count], "test_probabilities": probabilities[train_count:],
            "train_generating_model": generating[:train_count], "test_generating_model": generating[train_count:],
        }
        _save(out, kept, extras, {**manifest, "summary": summary}, train_count)
        logger.info("saved %d train and %d test culture quizzes to %s", train_count, test_count, out)


def print_culture_summary(summary: dict) -> None:
    """Print the counts of a culture run on stderr."""
    from rich.table import Table

    from ..console import stderr

    def percent(value):
        return "-" if value is None else f"{100 * value:.1f}%"

    rejected = ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in summary["rejected"].items())
    stderr.print(
        f"culture run: {summary['rounds']} rounds, {summary['candidates']} candidates, "
        f"{summary['trivial']} trivial, {summary['validated']} validated, {summary['kept']} kept "
        f"({percent(summary['acceptance'])}); rejected: {rejected}"
    )
    stderr.print(
        f"failing models per validated quiz (0, 1, 2, ...): {summary['failing_histogram']}; "
        f"{summary['seconds']:.1f} s, {summary['kept_per_hour'] or 0:.0f} kept per hour"
    )
    table = Table(title="per model")
    for column in ("model", "validated (as writer)", "kept (as writer)", "acceptance", "failing in kept"):
        table.add_column(column, justify="right")
    for model in summary["models"]:
        writer = summary["per_generating_model"].get(str(model))
        failing = summary["per_failing_model"][str(model)]
        table.add_row(
            f"gpt_{model:03d}",
            "-" if writer is None else str(writer["validated"]),
            "-" if writer is None else str(writer["kept"]),
            "-" if writer is None else percent(writer["acceptance"]),
            str(failing["kept_failing"]),
        )
    stderr.print(table)


def _draw(quizzes, predicted, wrong, titles, png, svg) -> None:
    """Write the PNG and SVG sheets that were requested, of at most MAX_SHEET_QUIZZES quizzes."""
    if png is None and svg is None:
        return
    from ..console import logger
    from ..render_image import MAX_SHEET_QUIZZES, write_png, write_svg

    if quizzes.size(0) > MAX_SHEET_QUIZZES:
        logger.warning("drawing the first %d of %d quizzes", MAX_SHEET_QUIZZES, quizzes.size(0))
    quizzes = quizzes[:MAX_SHEET_QUIZZES]
    wrong = None if wrong is None else wrong[:MAX_SHEET_QUIZZES]
    titles = titles[:MAX_SHEET_QUIZZES]
    if png is not None:
        write_png(png, quizzes, predicted, wrong)
        logger.info("wrote %s", png)
    if svg is not None:
        write_svg(svg, quizzes, predicted, wrong, titles)
        logger.info("wrote %s", svg)


def _save(path: Path, quizzes, extras: dict, manifest: dict, train_count: int = 0) -> None:
    """Save `quizzes` (the first `train_count` as train, the rest as test) with a JSON
    manifest beside the file."""
    from ..atomic import atomic_path
    from ..generation import save_quiz_file

    save_quiz_file(path, quizzes[:train_count], quizzes[train_count:], extras, manifest)
    with atomic_path(path.with_suffix(".json")) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")
