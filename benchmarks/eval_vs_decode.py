"""Time three ways to score greedy full-grid accuracy, side by side in one run.

1. one teacher-forced forward pass (what `culturectl eval` does);
2. greedy masked autoregression with the KV cache (100 decoding steps);
3. greedy decoding without a cache (a full forward pass per generated cell, as the fork did).

All three must agree quiz by quiz; the script checks that and prints the time ratios.
Usage: python benchmarks/eval_vs_decode.py [--n 64] [--threads 2] [--model 0]
"""

from __future__ import annotations

import argparse
import time

import torch

from culturectl.checkpoints import BUNDLED_DIR, checkpoints_in, load_checkpoint
from vendor_culture.quiz_machine import masked_autoregression, teacher_forced
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import STRUCTURE_BY_PREDICTED, make_ar_mask, reconfigure
from vendor_culture.world import generate_world_quizzes


def greedy_uncached(model, quizzes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    result = quizzes.clone()
    for position in mask.any(dim=0).nonzero().flatten().tolist():
        token = model(result)[:, position].argmax(dim=-1)
        result[:, position] = torch.where(mask[:, position], token, result[:, position])
    return result


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="quizzes (one batch)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=int, default=0)
    parser.add_argument("--structure", default="A", help="predicted slot: f_B, B, f_A or A")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_checkpoint(checkpoints_in(BUNDLED_DIR)[args.model]).model
    world = generate_world_quizzes(args.n, RELEASED_TASKS, torch.Generator().manual_seed(0))
    # The bundled models solve some quizzes when predicting A, so the agreement check is not vacuous.
    quizzes = reconfigure(world, STRUCTURE_BY_PREDICTED[args.structure].struct)
    mask = make_ar_mask(quizzes, (0, 0, 0, 1)).bool()
    blank = quizzes.masked_fill(mask, 0)

    with torch.no_grad():
        (_, right), t_forced = timed(teacher_forced, model, quizzes)
        cached, t_cached = timed(masked_autoregression, model, blank, mask, 0.0)
        uncached, t_uncached = timed(greedy_uncached, model, blank, mask)

    forced_correct = (right | ~mask).all(dim=1)
    cached_correct = (cached == quizzes).all(dim=1)
    uncached_correct = (uncached == quizzes).all(dim=1)
    print(f"model gpt_{args.model:03d}, {args.n} quizzes, predicting {args.structure}, {torch.get_num_threads()} threads")
    print(f"greedy accuracy: teacher-forced {forced_correct.float().mean():.3f}, "
          f"cached decoding {cached_correct.float().mean():.3f}, uncached {uncached_correct.float().mean():.3f}")
    print(f"per-quiz agreement: forced vs cached {bool((forced_correct == cached_correct).all())}, "
          f"cached vs uncached tokens identical {bool((cached == uncached).all())}")
    print(f"teacher-forced pass   {t_forced:8.3f} s")
    print(f"KV-cached decoding    {t_cached:8.3f} s  ({t_cached / t_forced:6.1f}x the teacher-forced pass)")
    print(f"uncached decoding     {t_uncached:8.3f} s  ({t_uncached / t_forced:6.1f}x the teacher-forced pass, "
          f"{t_uncached / t_cached:.1f}x the cached decoding)")


if __name__ == "__main__":
    main()
