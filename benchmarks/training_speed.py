"""Training throughput (quizzes/s) of MyGPT shapes, fp32 vs bf16 autocast, with and
without dropout on attention probabilities, side by side in one run.

Dropout on attention probabilities forces the unfused attention path on CPU; the
bundled models are trained without it (dropout stays on embeddings and MLP outputs).
Usage: python benchmarks/training_speed.py [--threads 2] [--batch 32] [--steps 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from vendor_culture.mygpt import MyGPT, MyGPTConfig
from vendor_culture.training import training_loss

SHAPES = {
    "bundled (128/32/256, 4 heads, 3 blocks)": (128, 32, 256, 4, 3),
    "calibration (128/32/512, 4 heads, 4 blocks)": (128, 32, 512, 4, 4),
}


def throughput(config: MyGPTConfig, attention_dropout: bool, bf16: bool, batch: int, steps: int) -> float:
    model = MyGPT(config).train()
    for module in model.modules():
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = attention_dropout
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    quizzes = torch.randint(0, 15, (batch, 404))
    for step in range(steps + 1):
        if step == 1:  # the first step warms up kernels and allocations
            start = time.perf_counter()
        loss = training_loss(model, quizzes, bf16)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} threads, batch {args.batch}")
    for name, shape in SHAPES.items():
        config = MyGPTConfig(*shape, dropout=0.1)
        baseline = throughput(config, True, False, args.batch, args.steps)
        print(f"{name}")
        print(f"  fp32, attention dropout (original)   {baseline:7.1f} quizzes/s   1.00x")
        for attention_dropout, bf16, label in ((False, False, "fp32, fused attention"), (False, True, "bf16, fused attention")):
            speed = throughput(config, attention_dropout, bf16, args.batch, args.steps)
            print(f"  {label:<36} {speed:7.1f} quizzes/s  {speed / baseline:5.2f}x")


if __name__ == "__main__":
    main()
