"""Random rectangles on the 10x10 grid, the building block of the grid tasks.

Rectangles are half-open (i1, j1, i2, j2): rows [i1, i2), columns [j1, j2).
"""

from __future__ import annotations

import torch

from .tokens import HEIGHT, WIDTH

Rect = tuple[int, int, int, int]

# The original keeps a rectangle only if its area is at most half the grid, and a set of
# rectangles only if their total area is at most the whole grid.
DEFAULT_SURFACE_MAX = HEIGHT * WIDTH // 2
MAX_TOTAL_SURFACE = HEIGHT * WIDTH
_CANDIDATES_PER_DRAW = 64


# TODO: the eight rectangle tasks run at about half the original's speed, because each
# random draw and painted rectangle is a torch call. Building grids in Python lists and
# drawing in batches, as tasks_more does, would reach the dataset's throughput goal.
def _valid_rectangles(generator: torch.Generator, min_size: int, surface_max: int) -> list[Rect]:
    # Each side is two uniform ints in 0..9, sorted, with the upper one made exclusive.
    draws = torch.randint(0, HEIGHT, (_CANDIDATES_PER_DRAW, 4), generator=generator).tolist()
    rects = []
    for a, b, c, d in draws:
        i1, i2 = min(a, b), max(a, b) + 1
        j1, j2 = min(c, d), max(c, d) + 1
        # The original tests the width against the minimum height too.
        if i2 - i1 >= min_size and j2 - j1 >= min_size and (i2 - i1) * (j2 - j1) <= surface_max:
            rects.append((i1, j1, i2, j2))
    return rects


def overlap(a: Rect, b: Rect) -> bool:
    """Return whether two rectangles share a cell (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def area(rect: Rect) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def random_rectangles(
    generator: torch.Generator,
    nb_rec: int,
    min_size: int = 3,
    surface_max: int = DEFAULT_SURFACE_MAX,
    prevent_overlap: bool = True,
) -> list[Rect]:
    """Draw `nb_rec` valid rectangles by rejection sampling.

    With `prevent_overlap`, a set is kept only if its rectangles are pairwise disjoint and
    their total area is at most the grid's.
    """
    pool: list[Rect] = []
    while True:
        pool.extend(_valid_rectangles(generator, min_size, surface_max))
        while len(pool) >= nb_rec:
            rects, pool = pool[:nb_rec], pool[nb_rec:]
            if not prevent_overlap:
                return rects
            disjoint = all(
                not overlap(rects[m], rects[n]) for m in range(nb_rec) for n in range(m)
            )
            if disjoint and sum(area(r) for r in rects) <= MAX_TOTAL_SURFACE:
                return rects


def fill(grid: torch.Tensor, rect: Rect, colour: int) -> None:
    """Paint a filled rectangle on a (10, 10) grid in place."""
    i1, j1, i2, j2 = rect
    grid[i1:i2, j1:j2] = colour


def border(grid: torch.Tensor, rect: Rect, colour: int) -> None:
    """Paint the 1-cell border of a rectangle (first and last row and column) in place."""
    i1, j1, i2, j2 = rect
    grid[i1, j1:j2] = colour
    grid[i2 - 1, j1:j2] = colour
    grid[i1:i2, j1] = colour
    grid[i1:i2, j2 - 1] = colour


def contact_distance(a: Rect, b: Rect) -> int:
    """Return 0 when two rectangles share an edge segment, 1 when they touch only at a
    corner, and more the further apart they are."""
    v = max(a[0] - b[2], b[0] - a[2])
    h = max(a[1] - b[3], b[1] - a[3])
    return min(max(v, 0) + max(h + 1, 0), max(v + 1, 0) + max(h, 0))
