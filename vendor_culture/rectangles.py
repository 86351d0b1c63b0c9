"""Random rectangles on the 10x10 grid, the building block of most grid tasks.

Rectangles are half-open (i1, j1, i2, j2): rows [i1, i2), columns [j1, j2).

The original draws each side as two uniform ints in 0..9, sorted, with the upper one made
exclusive, and keeps a rectangle only if both sides are at least 3 (it tests the width
against the minimum height too) and its area is at most half the grid. It keeps a set of
rectangles only if they are pairwise disjoint and their total area is at most the whole
grid, and draws the whole set again otherwise. A side of 3 or more needs two different
ints, so every valid rectangle is equally likely, and a kept set is uniform over the valid
ordered sets.
"""

from __future__ import annotations

import functools
from array import array

import torch

from .drawing import RandomStream, Rect
from .tokens import HEIGHT, WIDTH

MIN_SIDE = 3
SURFACE_MAX = HEIGHT * WIDTH // 2
MAX_TOTAL_SURFACE = HEIGHT * WIDTH


def valid_rectangles() -> list[Rect]:
    """Return every rectangle the original can draw, in a fixed order."""
    spans = [(a, b) for a in range(HEIGHT) for b in range(a + MIN_SIDE, HEIGHT + 1)]
    return [
        (i1, j1, i2, j2)
        for i1, i2 in spans
        for j1, j2 in spans
        if (i2 - i1) * (j2 - j1) <= SURFACE_MAX
    ]


def area(rect: Rect) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def cell_mask(rect: Rect) -> int:
    """Return the cells of `rect` as a 100-bit mask, cell (i, j) at bit i * 10 + j."""
    i1, j1, i2, j2 = rect
    row = ((1 << (j2 - j1)) - 1) << j1
    return sum(row << (i * WIDTH) for i in range(i1, i2))


class RectangleSampler:
    """Draws sets of valid rectangles with the original's distribution, faster.

    The original's rejection keeps about 2% of its candidate triples. Here the first two
    rectangles come in one draw from the list of disjoint ordered pairs, and each further
    rectangle is drawn uniformly and tested against the ones before. A failed test starts
    the whole set again. This is still rejection sampling from independent uniform
    rectangles, with the failing pairs removed up front, so the kept sets have the same
    distribution. About 7.5% of the triples pass.
    """

    def __init__(self) -> None:
        self.rects = valid_rectangles()
        self.masks = [cell_mask(rect) for rect in self.rects]
        self.areas = [area(rect) for rect in self.rects]

        i1, j1, i2, j2 = torch.tensor(self.rects).unbind(1)
        overlapping = (
            (i1[:, None] < i2[None, :]) & (i1[None, :] < i2[:, None])
            & (j1[:, None] < j2[None, :]) & (j1[None, :] < j2[:, None])
        )
        first, second = (~overlapping).nonzero().unbind(1)
        # Two valid rectangles cover at most 100 cells, so every disjoint pair is kept.
        # A pair is stored as one int, first * len(rects) + second, to keep the table small.
        self.pairs = array("q", (first * len(self.rects) + second).tolist())

    def draw(self, stream: RandomStream, nb_rec: int) -> list[Rect]:
        """Return `nb_rec` (at least 1) pairwise disjoint valid rectangles covering at
        most the whole grid, uniform over such ordered sets."""
        nb_rects, nb_pairs = len(self.rects), len(self.pairs)
        if nb_rec == 1:
            return [self.rects[stream.below(nb_rects)]]
        while True:
            first, second = divmod(self.pairs[stream.below(nb_pairs)], nb_rects)
            chosen = [first, second]
            covered = self.masks[first] | self.masks[second]
            budget = MAX_TOTAL_SURFACE - self.areas[first] - self.areas[second]
            while len(chosen) < nb_rec:
                index = stream.below(nb_rects)
                if self.masks[index] & covered or self.areas[index] > budget:
                    break
                chosen.append(index)
                covered |= self.masks[index]
                budget -= self.areas[index]
            else:
                return [self.rects[index] for index in chosen]


@functools.cache
def rectangle_sampler() -> RectangleSampler:
    """Return the process's sampler, built on first use."""
    return RectangleSampler()


def random_rectangles(stream: RandomStream, nb_rec: int) -> list[Rect]:
    """Return `nb_rec` valid rectangles, pairwise disjoint, with total area at most the
    grid's, distributed as the original's rejection sampling keeps them."""
    return rectangle_sampler().draw(stream, nb_rec)


def contact_distance(a: Rect, b: Rect) -> int:
    """Return 0 when two rectangles share an edge segment, 1 when they touch only at a
    corner, and more the further apart they are."""
    v = max(a[0] - b[2], b[0] - a[2])
    h = max(a[1] - b[3], b[1] - a[3])
    return min(max(v, 0) + max(h + 1, 0), max(v + 1, 0) + max(h, 0))
