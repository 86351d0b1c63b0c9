"""Grid tasks of the culture world: one function per rule, in a registry by name.

Each task fills four zeroed (10, 10) grids A, f_A, B, f_B in place, drawing every random
number from the `torch.Generator` it is given. Global parameters of the rule (colours,
direction, polarity) are drawn once per quiz; the geometry is drawn afresh for each of the
two pairs (A, f_A) and (B, f_B).
"""

from __future__ import annotations

from typing import Callable

import torch

from .rectangles import Rect, border, contact_distance, fill, random_rectangles

Task = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], None]
TASKS: dict[str, Task] = {}

# The tasks of the released culture models, in the original's order.
RELEASED_TASKS = (
    "replace_color", "translate", "grow", "half_fill", "frame", "detect", "corners", "contact",
)


def register(function: Task) -> Task:
    TASKS[function.__name__.removeprefix("task_")] = function
    return function


def random_colours(generator: torch.Generator, k: int) -> list[int]:
    """Return k distinct colours from 1..10 (never the background)."""
    return (torch.randperm(10, generator=generator)[:k] + 1).tolist()


def randint(generator: torch.Generator, high: int) -> int:
    """Return a uniform integer in [0, high)."""
    return int(torch.randint(0, high, (1,), generator=generator))


def _pairs(A, f_A, B, f_B):
    return ((A, f_A), (B, f_B))


@register
def task_replace_color(A, f_A, B, f_B, generator):
    """Rectangle 0, of colour c0, becomes colour c3."""
    c = random_colours(generator, 4)
    for X, f_X in _pairs(A, f_A, B, f_B):
        rects = random_rectangles(generator, 3)
        for n, rect in enumerate(rects):
            fill(X, rect, c[n])
            fill(f_X, rect, c[3] if n == 0 else c[n])


@register
def task_translate(A, f_A, B, f_B, generator):
    """Rectangle 2 moves one cell in a fixed direction (one of eight)."""
    di, dj = 0, 0
    while (di, dj) == (0, 0):
        di, dj = randint(generator, 3) - 1, randint(generator, 3) - 1
    c = random_colours(generator, 3)
    for X, f_X in _pairs(A, f_A, B, f_B):
        while True:
            rects = random_rectangles(generator, 3)
            i1, j1, i2, j2 = rects[2]
            # As in the original, the moved rectangle must stay off the last row and column.
            if i1 + di >= 0 and i2 + di < 10 and j1 + dj >= 0 and j2 + dj < 10:
                break
        for n, rect in enumerate(rects):
            fill(X, rect, c[n])
        fill(f_X, rects[0], c[0])
        fill(f_X, rects[1], c[1])
        fill(f_X, (i1 + di, j1 + dj, i2 + di, j2 + dj), c[2])


@register
def task_grow(A, f_A, B, f_B, generator):
    """Rectangle 2 grows by one cell on every side (or, for the other direction, shrinks)."""
    c = random_colours(generator, 3)
    direction = randint(generator, 2)
    for X, f_X in _pairs(A, f_A, B, f_B):
        while True:
            rects = random_rectangles(generator, 3)
            i1, j1, i2, j2 = rects[2]
            if i2 - i1 >= 4 and j2 - j1 >= 4:
                break
        for n in range(2):
            fill(X, rects[n], c[n])
            fill(f_X, rects[n], c[n])
        small, large = (i1 + 1, j1 + 1, i2 - 1, j2 - 1), rects[2]
        before, after = (small, large) if direction == 0 else (large, small)
        fill(X, before, c[2])
        fill(f_X, after, c[2])


def _half_fill_line(rect: Rect, direction: int) -> int:
    i1, j1, i2, j2 = rect
    return ((i1 + i2) // 2, (i1 + i2 - 1) // 2, (j1 + j2) // 2, (j1 + j2 - 1) // 2)[direction]


def _draw_half_fill(grid, rect: Rect, direction: int, fill_colour: int, line_colour: int, half: bool):
    """Fill `rect` and draw its middle line; with `half`, also paint the half beyond it."""
    i1, j1, i2, j2 = rect
    fill(grid, rect, fill_colour)
    line = _half_fill_line(rect, direction)
    start, stop = line, line + 1
    if half:
        start, stop = ((line, i2), (i1, line + 1), (line, j2), (j1, line + 1))[direction]
    if direction < 2:
        grid[start:stop, j1:j2] = line_colour
    else:
        grid[i1:i2, start:stop] = line_colour


@register
def task_half_fill(A, f_A, B, f_B, generator):
    """Give each rectangle a middle line, and fill one half of rectangle 2 with its line colour."""
    c = random_colours(generator, 6)
    direction = randint(generator, 4)
    for X, f_X in _pairs(A, f_A, B, f_B):
        rects = random_rectangles(generator, 3)
        for n, rect in enumerate(rects):
            _draw_half_fill(X, rect, direction, c[2 * n], c[2 * n + 1], half=False)
            _draw_half_fill(f_X, rect, direction, c[2 * n], c[2 * n + 1], half=n == 2)


@register
def task_frame(A, f_A, B, f_B, generator):
    """Rectangle 2 is reduced to its 1-cell border."""
    c = random_colours(generator, 4)
    for X, f_X in _pairs(A, f_A, B, f_B):
        rects = random_rectangles(generator, 3)
        for n, rect in enumerate(rects):
            fill(X, rect, c[n])
            if n < 2:
                fill(f_X, rect, c[n])
            else:
                border(f_X, rect, c[n])


def _top_left_l(grid, rect: Rect, colour: int):
    i1, j1, _, _ = rect
    grid[i1, j1] = grid[i1 + 1, j1] = grid[i1, j1 + 1] = colour


@register
def task_detect(A, f_A, B, f_B, generator):
    """Rectangles 0 and 1 get an L of colour c3 in their top-left corner."""
    c = random_colours(generator, 4)
    for X, f_X in _pairs(A, f_A, B, f_B):
        rects = random_rectangles(generator, 3)
        for n, rect in enumerate(rects):
            fill(X, rect, c[n])
            fill(f_X, rect, c[n])
        _top_left_l(f_X, rects[0], c[3])
        _top_left_l(f_X, rects[1], c[3])


def _corner_cells(rect: Rect, polarity: int) -> list[tuple[int, int]]:
    i1, j1, i2, j2 = rect
    if polarity == 0:
        return [(i1, j1), (i1 + 1, j1), (i1, j1 + 1),
                (i2 - 1, j2 - 1), (i2 - 2, j2 - 1), (i2 - 1, j2 - 2)]
    return [(i1, j2 - 1), (i1 + 1, j2 - 1), (i1, j2 - 2),
            (i2 - 1, j1), (i2 - 2, j1), (i2 - 1, j1 + 1)]


@register
def task_corners(A, f_A, B, f_B, generator):
    """Two opposite L-shaped corners of each rectangle become the filled rectangle."""
    c = random_colours(generator, 3)
    polarity = randint(generator, 2)
    for X, f_X in _pairs(A, f_A, B, f_B):
        rects = random_rectangles(generator, 3)
        for n, rect in enumerate(rects):
            for i, j in _corner_cells(rect, polarity):
                X[i, j] = c[n]
            fill(f_X, rect, c[n])


@register
def task_contact(A, f_A, B, f_B, generator):
    """Rectangles sharing an edge with rectangle 0 are outlined in its colour c0."""
    c = random_colours(generator, 3)
    for X, f_X in _pairs(A, f_A, B, f_B):
        while True:
            rects = random_rectangles(generator, 3)
            touching = [contact_distance(rects[0], rect) == 0 for rect in rects]
            if touching[1] or touching[2]:
                break
        for n, rect in enumerate(rects):
            fill(X, rect, c[n])
            fill(f_X, rect, c[n])
        for n, rect in enumerate(rects):
            if touching[n]:
                border(f_X, rect, c[0])


# The seven other tasks of the original default list live in their own module and register
# themselves into TASKS when it is imported.
from . import tasks_more  # noqa: E402,F401
