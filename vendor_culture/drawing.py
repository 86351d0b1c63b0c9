"""Fast building blocks for the grid tasks: batched random numbers, and grids held as
Python lists of 100 row-major cells.

A torch call costs microseconds, so a task that made one per random number or per
painted rectangle would spend most of its time in call overhead. The tasks work on lists,
and `vendor_culture.world` copies all the quizzes of a call into one tensor at the end.
"""

from __future__ import annotations

import torch

from .tokens import HEIGHT, WIDTH

CELLS = HEIGHT * WIDTH

Rect = tuple[int, int, int, int]


class RandomStream:
    """Uniform random integers drawn from a `torch.Generator` in batches.

    Each batch is one call for float64 uniforms in [0, 1), and an integer below `high` is
    floor(u * high), so a quiz costs a few generator calls instead of one per number.
    Numbers left in the last batch are discarded, so the generator's state after a task
    depends on the batch size as well as on the draws.
    """

    def __init__(self, generator: torch.Generator, batch_size: int = 64):
        self.generator = generator
        self.batch_size = batch_size
        self.values: list[float] = []
        self.position = 0

    def below(self, high: int) -> int:
        """Return a uniform integer in [0, high)."""
        if self.position == len(self.values):
            batch = torch.rand(self.batch_size, dtype=torch.float64, generator=self.generator)
            self.values = batch.tolist()
            self.position = 0
        value = self.values[self.position]
        self.position += 1
        return int(value * high)

    def choice(self, sequence):
        return sequence[self.below(len(sequence))]

    def colours(self, k: int) -> list[int]:
        """Return k distinct colours from 1..10, the first k of a uniform permutation."""
        colours = list(range(1, 11))
        for n in range(k):
            m = n + self.below(10 - n)
            colours[n], colours[m] = colours[m], colours[n]
        return colours[:k]


def paint_rect(cells: list[int], rect: Rect, colour: int) -> None:
    """Paint a half-open rectangle (i1, j1, i2, j2) on a list of 100 cells."""
    i1, j1, i2, j2 = rect
    row = [colour] * (j2 - j1)
    for start in range(i1 * WIDTH + j1, i2 * WIDTH, WIDTH):
        cells[start : start + j2 - j1] = row


def paint_border(cells: list[int], rect: Rect, colour: int) -> None:
    """Paint the 1-cell border of a rectangle: its first and last rows and columns."""
    i1, j1, i2, j2 = rect
    paint_rect(cells, (i1, j1, i1 + 1, j2), colour)
    paint_rect(cells, (i2 - 1, j1, i2, j2), colour)
    for i in range(i1 + 1, i2 - 1):
        cells[i * WIDTH + j1] = cells[i * WIDTH + j2 - 1] = colour
