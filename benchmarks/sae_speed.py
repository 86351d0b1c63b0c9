"""SAE training throughput: culturectl's runner against the bare SAELens runner.

Both runs use the same LanguageModelSAERunnerConfig, model and in-memory dataset. The
difference is culturectl's QuizActivationsStore, which drops the four marker positions
(positions "all"), and its metadata and checkpoint hooks. Throughput is trained
activations per second of `runner.run()`, best of --repeats runs.

The time split comes from timers around two methods. `ActivationsStore.get_raw_llm_batch`
reads dataset rows and runs the model forward, and `SAETrainer._train_step` is the SAE
forward, backward and Adam step. The rest is buffer mixing, filtering and bookkeeping.

Usage: python benchmarks/sae_speed.py [--model 0] [--checkpoints DIR] [--tokens 65536]
       [--threads 2] [--repeats 2] [--positions all]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict
from pathlib import Path

import torch


@contextlib.contextmanager
def timed_methods(timers: dict[str, float]):
    """Accumulate the seconds spent in activation generation and SAE steps into `timers`."""
    from sae_lens.training.activations_store import ActivationsStore
    from sae_lens.training.sae_trainer import SAETrainer

    originals = {
        "activations": (ActivationsStore, "get_raw_llm_batch", ActivationsStore.get_raw_llm_batch),
        "sae steps": (SAETrainer, "_train_step", SAETrainer._train_step),
    }

    def wrap(name, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - start

        return timed

    for name, (owner, attribute, function) in originals.items():
        setattr(owner, attribute, wrap(name, function))
    try:
        yield
    finally:
        for owner, attribute, function in originals.values():
            setattr(owner, attribute, function)


def quiz_dataset(nb_rows: int, seed: int = 0):
    """Return `nb_rows` world quizzes as an in-memory Dataset of 405-token rows."""
    import datasets

    from vendor_culture.tasks import RELEASED_TASKS
    from vendor_culture.tokens import DETERMINISTIC_STRUCTURES, quizzes_to_rows
    from vendor_culture.training import structure_batch
    from vendor_culture.world import generate_world_quizzes

    generator = torch.Generator().manual_seed(seed)
    quizzes, _ = structure_batch(generate_world_quizzes(nb_rows, RELEASED_TASKS, generator), generator,
                                 DETERMINISTIC_STRUCTURES)
    return datasets.Dataset.from_dict({"input_ids": quizzes_to_rows(quizzes).to(torch.int32).tolist()})


def run_once(kind: str, model, settings, d_in: int, source_name: str) -> tuple[float, dict[str, float]]:
    """Train once with the `kind` runner ("culturectl" or "sae_lens"); return (seconds, timers)."""
    from sae_lens import LanguageModelSAETrainingRunner

    from culturectl.sae import QuizSAETrainingRunner, runner_config

    cfg = runner_config(settings, d_in, settings.hook, source_name, "memory", Path("unused"), "cpu")
    cfg.output_path = None
    cfg.checkpoint_path = None
    dataset = quiz_dataset(max(64, settings.training_tokens // 300))
    torch.manual_seed(settings.seed)
    if kind == "culturectl":
        runner = QuizSAETrainingRunner(cfg, dataset, model, settings.positions, {})
    else:
        runner = LanguageModelSAETrainingRunner(cfg, override_dataset=dataset, override_model=model)
    timers: dict[str, float] = defaultdict(float)
    with timed_methods(timers):
        start = time.perf_counter()
        runner.run()
        seconds = time.perf_counter() - start
    return seconds, dict(timers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="0", help="Model id or file, as for train-sae --model.")
    parser.add_argument("--checkpoints", type=Path, default=None, help="Folder of gpt_NNN checkpoints (default: bundled).")
    parser.add_argument("--hook", default=None, help="Hook name (default: the last block's hook_mlp_out).")
    parser.add_argument("--positions", default="all", choices=("all", "answer", "every"))
    parser.add_argument("--tokens", type=int, default=65_536, help="Training activations per run.")
    parser.add_argument("--batch-size", type=int, default=1024, help="Activations per SAE step.")
    parser.add_argument("--expansion", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import logging

    from culturectl.sae import default_hook, hook_width, load_model, resolve_settings

    logging.getLogger("sae_lens").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    model, source = load_model(args.model, args.checkpoints)
    hook = args.hook or default_hook(model)
    settings = resolve_settings("cpu-smoke", {
        "hook": hook, "positions": args.positions, "training_tokens": args.tokens,
        "train_batch_size_tokens": args.batch_size, "expansion": args.expansion, "n_checkpoints": 0,
    })
    d_in = hook_width(model, hook)
    print(f"{source.name} {hook}, d_in {d_in}, d_sae {args.expansion * d_in}, positions {args.positions}, "
          f"{args.tokens} tokens, batch {args.batch_size}, {torch.get_num_threads()} threads, best of {args.repeats}")

    best: dict[str, tuple[float, dict[str, float]]] = {}
    for _ in range(args.repeats):
        for kind in ("sae_lens", "culturectl"):  # alternate, so that load changes hit both
            seconds, timers = run_once(kind, model, settings, d_in, source.name)
            if kind not in best or seconds < best[kind][0]:
                best[kind] = (seconds, timers)

    baseline = args.tokens / best["sae_lens"][0]
    print(f"{'runner':<12}{'tokens/s':>10}{'ratio':>8}{'activations':>13}{'sae steps':>11}{'other':>8}")
    for kind in ("sae_lens", "culturectl"):
        seconds, timers = best[kind]
        speed = args.tokens / seconds
        activations = timers.get("activations", 0.0) / seconds
        steps = timers.get("sae steps", 0.0) / seconds
        print(f"{kind:<12}{speed:>10.0f}{speed / baseline:>8.2f}{100 * activations:>12.0f}%{100 * steps:>10.0f}%"
              f"{100 * (1 - activations - steps):>7.0f}%")


if __name__ == "__main__":
    main()
