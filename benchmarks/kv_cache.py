"""Time masked autoregression of a 100-cell answer with the KV cache and without it.

Both decoders fill the f_B grid of the same world quizzes, greedily or at a temperature
from the same seed: the cached one runs a prefill over the prompt and then one position at
a time, the other reruns the model over the whole 404-token sequence for every cell. The
script checks that both return the same tokens and prints the time ratio; the goal is a
ratio of at least 5.

Usage: python benchmarks/kv_cache.py [--n 32] [--threads 1] [--model 0 | --preset 4M]
       [--temperature 0] [--device cpu]
With --preset, a MyGPT of that size with random weights is timed instead of a checkpoint.
"""

from __future__ import annotations

import argparse
import time

import torch

from culturectl.checkpoints import BUNDLED_DIR, checkpoints_in, load_checkpoint
from vendor_culture.culture import full_recompute_autoregression
from vendor_culture.mygpt import MyGPT, preset_config
from vendor_culture.quiz_machine import masked_autoregression
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import make_ar_mask
from vendor_culture.world import generate_world_quizzes


def timed(function, *args):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def load_model(args) -> tuple[MyGPT, str]:
    if args.preset is not None:
        torch.manual_seed(0)
        return MyGPT(preset_config(args.preset)).eval(), f"random MyGPT {args.preset}"
    found = checkpoints_in(BUNDLED_DIR)
    if args.model not in found:
        raise SystemExit(f"no bundled gpt_{args.model:03d}; use --preset 4M to time a random MyGPT")
    return load_checkpoint(found[args.model]).model, f"bundled gpt_{args.model:03d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="quizzes decoded as one batch")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--model", type=int, default=0, help="bundled model id")
    parser.add_argument("--preset", default=None, help="time a random MyGPT of this size instead (17K, 4M, 37M, ...)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 decodes greedily")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, name = load_model(args)
    model = model.to(args.device)
    quizzes = generate_world_quizzes(args.n, RELEASED_TASKS, torch.Generator().manual_seed(0))
    mask = make_ar_mask(quizzes, (0, 0, 0, 1)).bool()
    blank = quizzes.masked_fill(mask, 0).to(args.device)
    mask = mask.to(args.device)

    with torch.no_grad():
        # One untimed call of each, so that lazy initialisation is not timed.
        masked_autoregression(model, blank[:1], mask[:1], args.temperature, torch.Generator().manual_seed(1))
        full_recompute_autoregression(model, blank[:1, :310], mask[:1, :310], args.temperature, torch.Generator().manual_seed(1))
        cached, t_cached = timed(masked_autoregression, model, blank, mask, args.temperature, torch.Generator().manual_seed(1))
        full, t_full = timed(full_recompute_autoregression, model, blank, mask, args.temperature, torch.Generator().manual_seed(1))

    print(f"{name} on {args.device}, {args.n} quizzes, 100 cells of f_B each, temperature {args.temperature:g}, "
          f"{torch.get_num_threads()} threads")
    print(f"tokens identical: {bool((cached == full).all())}")
    print(f"KV cache        {t_cached:8.3f} s")
    print(f"full recompute  {t_full:8.3f} s")
    print(f"ratio           {t_full / t_cached:8.1f}x (goal: at least 5x)")


if __name__ == "__main__":
    main()
