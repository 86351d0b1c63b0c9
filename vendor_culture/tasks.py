"""Grid tasks of the culture world: one function per rule, in a registry by name.

A task takes a `RandomStream` and returns the four grids A, f_A, B, f_B of one quiz, each
a list of 100 row-major cells (see drawing.py). Global parameters of the rule (colours,
direction, polarity) are drawn once per quiz; the geometry is drawn afresh for each of the
two pairs (A, f_A) and (B, f_B).
"""

from __future__ import annotations

from typing import Callable

from .drawing import CELLS, RandomStream, Rect, paint_border, paint_rect
from .rectangles import contact_distance, random_rectangles
from .tokens import WIDTH

Grid = list[int]
Task = Callable[[RandomStream], list[Grid]]
TASKS: dict[str, Task] = {}

# The tasks of the released culture models, in the original's order.
RELEASED_TASKS = (
    "replace_color", "translate", "grow", "half_fill", "frame", "detect", "corners", "contact",
)


def register(function: Task) -> Task:
    TASKS[function.__name__.removeprefix("task_")] = function
    return function


def _three_rectangles_per_pair(stream: RandomStream, paint) -> list[Grid]:
    """Return a quiz whose pairs each hold three random rectangles, painted on X and f_X
    by `paint(cells, f_cells, n, rect)` for rectangle n."""
    grids = []
    for _ in range(2):
        cells, f_cells = [0] * CELLS, [0] * CELLS
        for n, rect in enumerate(random_rectangles(stream, 3)):
            paint(cells, f_cells, n, rect)
        grids += (cells, f_cells)
    return grids


@register
def task_replace_color(stream: RandomStream) -> list[Grid]:
    """Rectangle 0, of colour c0, becomes colour c3."""
    c = stream.colours(4)

    def paint(cells, f_cells, n, rect):
        paint_rect(cells, rect, c[n])
        paint_rect(f_cells, rect, c[3] if n == 0 else c[n])

    return _three_rectangles_per_pair(stream, paint)


@register
def task_translate(stream: RandomStream) -> list[Grid]:
    """Rectangle 2 moves one cell in a fixed direction (one of eight)."""
    di, dj = 0, 0
    while (di, dj) == (0, 0):
        di, dj = stream.below(3) - 1, stream.below(3) - 1
    c = stream.colours(3)
    grids = []
    for _ in range(2):
        while True:
            rects = random_rectangles(stream, 3)
            i1, j1, i2, j2 = rects[2]
            # As in the original, the moved rectangle must stay off the last row and column.
            if i1 + di >= 0 and i2 + di < 10 and j1 + dj >= 0 and j2 + dj < 10:
                break
        cells, f_cells = [0] * CELLS, [0] * CELLS
        for n, rect in enumerate(rects):
            paint_rect(cells, rect, c[n])
        paint_rect(f_cells, rects[0], c[0])
        paint_rect(f_cells, rects[1], c[1])
        paint_rect(f_cells, (i1 + di, j1 + dj, i2 + di, j2 + dj), c[2])
        grids += (cells, f_cells)
    return grids


@register
def task_grow(stream: RandomStream) -> list[Grid]:
    """Rectangle 2 grows by one cell on every side (or, for the other direction, shrinks)."""
    c = stream.colours(3)
    direction = stream.below(2)
    grids = []
    for _ in range(2):
        while True:
            rects = random_rectangles(stream, 3)
            i1, j1, i2, j2 = rects[2]
            if i2 - i1 >= 4 and j2 - j1 >= 4:
                break
        cells, f_cells = [0] * CELLS, [0] * CELLS
        for n in range(2):
            paint_rect(cells, rects[n], c[n])
            paint_rect(f_cells, rects[n], c[n])
        small, large = (i1 + 1, j1 + 1, i2 - 1, j2 - 1), rects[2]
        before, after = (small, large) if direction == 0 else (large, small)
        paint_rect(cells, before, c[2])
        paint_rect(f_cells, after, c[2])
        grids += (cells, f_cells)
    return grids


def _half_fill_line(rect: Rect, direction: int) -> int:
    i1, j1, i2, j2 = rect
    return ((i1 + i2) // 2, (i1 + i2 - 1) // 2, (j1 + j2) // 2, (j1 + j2 - 1) // 2)[direction]


def _paint_half_fill(cells, rect: Rect, direction: int, fill_colour: int, line_colour: int, half: bool):
    """Fill `rect` and draw its middle line; with `half`, also paint the half beyond it."""
    i1, j1, i2, j2 = rect
    paint_rect(cells, rect, fill_colour)
    line = _half_fill_line(rect, direction)
    start, stop = line, line + 1
    if half:
        start, stop = ((line, i2), (i1, line + 1), (line, j2), (j1, line + 1))[direction]
    if direction < 2:
        paint_rect(cells, (start, j1, stop, j2), line_colour)
    else:
        paint_rect(cells, (i1, start, i2, stop), line_colour)


@register
def task_half_fill(stream: RandomStream) -> list[Grid]:
    """Give each rectangle a middle line, and fill one half of rectangle 2 with its line colour."""
    c = stream.colours(6)
    direction = stream.below(4)

    def paint(cells, f_cells, n, rect):
        _paint_half_fill(cells, rect, direction, c[2 * n], c[2 * n + 1], half=False)
        _paint_half_fill(f_cells, rect, direction, c[2 * n], c[2 * n + 1], half=n == 2)

    return _three_rectangles_per_pair(stream, paint)


@register
def task_frame(stream: RandomStream) -> list[Grid]:
    """Rectangle 2 is reduced to its 1-cell border."""
    c = stream.colours(4)

    def paint(cells, f_cells, n, rect):
        paint_rect(cells, rect, c[n])
        (paint_border if n == 2 else paint_rect)(f_cells, rect, c[n])

    return _three_rectangles_per_pair(stream, paint)


def _paint_top_left_l(cells: list[int], rect: Rect, colour: int) -> None:
    corner = rect[0] * WIDTH + rect[1]
    cells[corner] = cells[corner + 1] = cells[corner + WIDTH] = colour


@register
def task_detect(stream: RandomStream) -> list[Grid]:
    """Rectangles 0 and 1 get an L of colour c3 in their top-left corner."""
    c = stream.colours(4)
    grids = []
    for _ in range(2):
        rects = random_rectangles(stream, 3)
        cells = [0] * CELLS
        for n, rect in enumerate(rects):
            paint_rect(cells, rect, c[n])
        f_cells = cells.copy()
        _paint_top_left_l(f_cells, rects[0], c[3])
        _paint_top_left_l(f_cells, rects[1], c[3])
        grids += (cells, f_cells)
    return grids


def _corner_cells(rect: Rect, polarity: int) -> list[int]:
    """Return the row-major indices of two opposite L-shaped corners of `rect`."""
    i1, j1, i2, j2 = rect
    if polarity == 0:
        cells = [(i1, j1), (i1 + 1, j1), (i1, j1 + 1),
                 (i2 - 1, j2 - 1), (i2 - 2, j2 - 1), (i2 - 1, j2 - 2)]
    else:
        cells = [(i1, j2 - 1), (i1 + 1, j2 - 1), (i1, j2 - 2),
                 (i2 - 1, j1), (i2 - 2, j1), (i2 - 1, j1 + 1)]
    return [i * WIDTH + j for i, j in cells]


@register
def task_corners(stream: RandomStream) -> list[Grid]:
    """Two opposite L-shaped corners of each rectangle become the filled rectangle."""
    c = stream.colours(3)
    polarity = stream.below(2)

    def paint(cells, f_cells, n, rect):
        for index in _corner_cells(rect, polarity):
            cells[index] = c[n]
        paint_rect(f_cells, rect, c[n])

    return _three_rectangles_per_pair(stream, paint)


@register
def task_contact(stream: RandomStream) -> list[Grid]:
    """Rectangles sharing an edge with rectangle 0 are outlined in its colour c0."""
    c = stream.colours(3)
    grids = []
    for _ in range(2):
        while True:
            rects = random_rectangles(stream, 3)
            touching = [contact_distance(rects[0], rect) == 0 for rect in rects]
            if touching[1] or touching[2]:
                break
        cells = [0] * CELLS
        for n, rect in enumerate(rects):
            paint_rect(cells, rect, c[n])
        f_cells = cells.copy()
        for n, rect in enumerate(rects):
            if touching[n]:
                paint_border(f_cells, rect, c[0])
        grids += (cells, f_cells)
    return grids


# The seven other tasks of the original default list live in their own module and register
# themselves into TASKS when it is imported.
from . import tasks_more  # noqa: E402,F401
