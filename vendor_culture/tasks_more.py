"""The seven tasks of the original default list that the released models never saw:
scale, symbols, path, fill, isometry, trajectory and bounce.

They join the same TASKS registry as the released tasks and keep the same contract: a
task draws from the `RandomStream` it is given and returns the four grids of one quiz as
lists of 100 cells.
Breadth-first searches run on bit masks held in Python ints (see `_ROW`).
"""

from __future__ import annotations

import functools

from .drawing import CELLS, RandomStream, Rect, paint_rect
from .rectangles import random_rectangles, valid_rectangles
from .tasks import Grid, register
from .tokens import HEIGHT, WIDTH

# The original's default task list, in its order. The released models trained on the eight
# tasks of RELEASED_TASKS only.
DEFAULT_TASKS = (
    "replace_color", "translate", "grow", "half_fill", "frame", "detect", "scale", "symbols",
    "corners", "contact", "path", "fill", "isometry", "trajectory", "bounce",
)

UNIT_DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


# Bit masks for breadth-first search. Cell (i, j) is bit i * _ROW + j, and shifting by
# _ROW moves one row up or down. Column 10 of every row is a guard bit that is never free,
# so a shift by one bit cannot wrap from the end of one row to the start of the next.
_ROW = WIDTH + 1


def _bit(i: int, j: int) -> int:
    return 1 << (i * _ROW + j)


def _rect_bits(rect: Rect) -> int:
    i1, j1, i2, j2 = rect
    row = ((1 << (j2 - j1)) - 1) << j1
    # The row pattern fits in _ROW bits, so the product has no carries.
    return row * sum(1 << (i * _ROW) for i in range(i1, i2))


_ALL_CELLS = _rect_bits((0, 0, HEIGHT, WIDTH))


@functools.cache
def _rectangle_bits() -> dict[Rect, int]:
    """Return the bit mask of every rectangle `random_rectangles` can draw."""
    return {rect: _rect_bits(rect) for rect in valid_rectangles()}


def _neighbours(mask: int) -> int:
    """Return the cells 4-adjacent to a cell of `mask`. The result can contain guard bits
    and bits past the last row, so callers intersect it with a mask of free cells."""
    return (mask << 1) | (mask >> 1) | (mask << _ROW) | (mask >> _ROW)


def _distance_layers(start: int, free: int, target: int = 0) -> list[int]:
    """Return the breadth-first layers from the cell mask `start` through `free` cells:
    layer k contains the cells at 4-neighbour distance k. Stops early once a layer contains a
    cell of `target`."""
    layers = [start]
    seen = start
    while not layers[-1] & target:
        layer = _neighbours(layers[-1]) & free & ~seen
        if not layer:
            break
        seen |= layer
        layers.append(layer)
    return layers


def _flood(seed: int, free: int) -> int:
    """Return the cells of `free` reachable from `seed` through 4-adjacent free cells."""
    region = seed
    while True:
        grown = region | (_neighbours(region) & free)
        if grown == region:
            return region
        region = grown


def _cell_indices(mask: int) -> list[int]:
    """Return the row-major indices i * 10 + j of the cells set in `mask`."""
    indices = []
    while mask:
        low = mask & -mask
        i, j = divmod(low.bit_length() - 1, _ROW)
        indices.append(i * WIDTH + j)
        mask ^= low
    return indices


# scale


def _scale_rectangles() -> list[Rect]:
    """Return every half-open rectangle with corners in 0..5 and smaller side at most 3."""
    spans = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    return [
        (i1, j1, i2, j2)
        for i1, i2 in spans
        for j1, j2 in spans
        if min(i2 - i1, j2 - j1) <= 3
    ]


_SCALE_RECTANGLES = _scale_rectangles()


@register
def task_scale(stream: RandomStream) -> list[Grid]:
    """Draw a scale quiz: f_X shows the three c0 rectangles of X scaled by 2 about the
    origin. Both grids carry a c1 L at the offset where X shows the rectangles."""
    c = stream.colours(2)
    i, j = stream.below(5), stream.below(5)
    marker = (i * WIDTH + j, (i + 1) * WIDTH + j, i * WIDTH + j + 1)
    grids = []
    for _ in range(2):
        x_cells, f_cells = [0] * CELLS, [0] * CELLS
        for _ in range(3):
            # Uniform over the valid rectangles, as rejection sampling would give.
            i1, j1, i2, j2 = stream.choice(_SCALE_RECTANGLES)
            paint_rect(x_cells, (i + i1, j + j1, i + i2, j + j2), c[0])
            paint_rect(f_cells, (2 * i1, 2 * j1, 2 * i2, 2 * j2), c[0])
        for index in marker:
            x_cells[index] = f_cells[index] = c[1]
        grids.append(x_cells)
        grids.append(f_cells)
    return grids


# symbols

_SYMBOL_SIZE = 3
_SYMBOL_SPACING = 4  # minimum Chebyshev distance between top-left corners


@functools.cache
def _symbol_layouts() -> list[tuple[tuple[int, int], ...]]:
    """Return every set of 4 top-left corners in 0..7 with pairwise Chebyshev distance at
    least 4, each set as a sorted tuple (9,550 sets)."""
    positions = [
        (i, j)
        for i in range(HEIGHT - _SYMBOL_SIZE + 1)
        for j in range(WIDTH - _SYMBOL_SIZE + 1)
    ]

    def apart(a, b):
        return max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= _SYMBOL_SPACING

    layouts = []

    def extend(chosen: list, start: int) -> None:
        if len(chosen) == 4:
            layouts.append(tuple(chosen))
            return
        for n in range(start, len(positions)):
            if all(apart(positions[n], other) for other in chosen):
                extend(chosen + [positions[n]], n + 1)

    extend([], 0)
    return layouts


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _draw_symbols(stream: RandomStream):
    """Return the 4 top-left corners in colour order, the index q in 1..3 of the square
    the pointer aims at, and the pointer's direction (si, sj).

    The positions are uniform over ordered valid layouts. The original asserts that both
    signs are non-zero and so can crash; this draw resamples the positions and q instead.
    """
    layouts = _symbol_layouts()
    while True:
        layout = list(stream.choice(layouts))
        # A uniform shuffle makes the ordered tuple uniform as well.
        for n in range(3, 0, -1):
            m = stream.below(n + 1)
            layout[n], layout[m] = layout[m], layout[n]
        q = 1 + stream.below(3)
        mean_i = sum(i for i, _ in layout) / 4
        mean_j = sum(j for _, j in layout) / 4
        si, sj = _sign(layout[q][0] - mean_i), _sign(layout[q][1] - mean_j)
        if si != 0 and sj != 0:
            return layout, q, (si, sj)


@register
def task_symbols(stream: RandomStream) -> list[Grid]:
    """Draw a symbols quiz: a c4 pointer inside square 0 aims at another square, and f_X
    paints the pointer's centre in that square's colour."""
    c = stream.colours(5)
    grids = []
    for _ in range(2):
        layout, q, (si, sj) = _draw_symbols(stream)
        cells = [0] * CELLS
        for k, (i, j) in enumerate(layout):
            paint_rect(cells, (i, j, i + _SYMBOL_SIZE, j + _SYMBOL_SIZE), c[k])
        ci, cj = layout[0][0] + 1, layout[0][1] + 1
        for i, j in ((ci + si, cj + sj), (ci, cj + sj), (ci + si, cj)):
            cells[i * WIDTH + j] = c[4]
        grids.append(cells.copy())
        cells[ci * WIDTH + cj] = c[q]
        grids.append(cells)
    return grids


# path

_PATH_MAX_LENGTH = 19


@register
def task_path(stream: RandomStream) -> list[Grid]:
    """Draw a path quiz: f_X paints in c3 every cell, endpoints excepted, that lies on a
    shortest 4-neighbour path between the two c2 endpoints around the two rectangles.

    Each endpoint is uniform over all 100 cells. An endpoint on a rectangle restarts the
    whole draw, rectangles included, as do endpoints 2 or fewer cells apart and a path that
    is missing or longer than 19 steps. Restarting on an occupied endpoint favours smaller
    rectangles. The original's quizzes show that bias: with endpoints drawn among empty
    cells only, the mean non-zero cell counts of A and B come out 4 to 7 standard errors
    above the original's.
    """
    c = stream.colours(4)
    bits = _rectangle_bits()
    grids = []
    for _ in range(2):
        while True:
            first, second = random_rectangles(stream, 2)
            free = _ALL_CELLS & ~(bits[first] | bits[second])
            start, end = stream.below(CELLS), stream.below(CELLS)
            (i1, j1), (i2, j2) = divmod(start, WIDTH), divmod(end, WIDTH)
            start_bit, end_bit = _bit(i1, j1), _bit(i2, j2)
            if not (free & start_bit and free & end_bit and abs(i1 - i2) + abs(j1 - j2) > 2):
                continue
            from_start = _distance_layers(start_bit, free, end_bit)
            length = len(from_start) - 1
            if from_start[-1] & end_bit and length <= _PATH_MAX_LENGTH:
                break
        from_end = _distance_layers(end_bit, free, start_bit)
        # A cell is on a shortest path when its distances to both ends sum to the length.
        on_path = 0
        for k in range(length + 1):
            on_path |= from_start[k] & from_end[length - k]

        cells = [0] * CELLS
        paint_rect(cells, first, c[0])
        paint_rect(cells, second, c[1])
        f_cells = cells.copy()
        for index in _cell_indices(on_path):
            f_cells[index] = c[3]
        for index in (start, end):
            cells[index] = f_cells[index] = c[2]
        grids.append(cells)
        grids.append(f_cells)
    return grids


# fill


@register
def task_fill(stream: RandomStream) -> list[Grid]:
    """Draw a fill quiz: f_X fills the background region of the c3 seed cell of X with c3
    and clears the seed.

    For each pair a coin decides whether the region may be the whole background. When it
    may not, the rectangles are redrawn until the background has more than one region.
    """
    c = stream.colours(4)
    bits = _rectangle_bits()
    grids = []
    for _ in range(2):
        accept_full = stream.below(2) == 1
        while True:
            rects = random_rectangles(stream, 3)
            free = _ALL_CELLS
            for rect in rects:
                free &= ~bits[rect]
            # The original redraws rectangles and seed together until some background cell
            # is unreachable from the seed. Whether one is depends only on the rectangles,
            # so testing them first and drawing the seed once gives the same distribution.
            # Three rectangles can tile the whole grid; that draw has no seed and is redrawn.
            if free and (accept_full or _flood(free & -free, free) != free):
                break
        empty = _cell_indices(free)
        seed = empty[stream.below(len(empty))]
        region = _flood(_bit(*divmod(seed, WIDTH)), free)

        cells = [0] * CELLS
        for n, rect in enumerate(rects):
            paint_rect(cells, rect, c[n])
        f_cells = cells.copy()
        for index in _cell_indices(region):
            f_cells[index] = c[3]
        cells[seed] = c[3]
        f_cells[seed] = 0
        grids.append(cells)
        grids.append(f_cells)
    return grids


# isometry


def _isometry_rectangles() -> list[Rect]:
    """Return every inclusive rectangle (i1, j1, i2, j2) with corners in 1..8 whose larger
    side difference is at least 2 and smaller at most 3.

    NOTE: the task draws uniformly from this list. Sorting two uniform draws per side
    instead would double the weight of every rectangle with i1 < i2 and j1 < j2; it gives
    33.3 non-zero cells per grid on average against 32.7 for the original and for this list.
    """
    spans = [(a, b) for a in range(1, 9) for b in range(a, 9)]
    return [
        (i1, j1, i2, j2)
        for i1, i2 in spans
        for j1, j2 in spans
        if max(i2 - i1, j2 - j1) >= 2 and min(i2 - i1, j2 - j1) <= 3
    ]


_ISOMETRY_RECTANGLES = _isometry_rectangles()
_ISOMETRY_MIN_CELLS = 26


def _isometry_matrix(quarter_turns: int, reflect: bool) -> tuple[int, int, int, int]:
    """Return the rotation by quarter_turns * 90 degrees as (a, b, c, d) for the matrix
    [[a, b], [c, d]], with the first row negated when `reflect`."""
    cos, sin = ((1, 0), (0, 1), (-1, 0), (0, -1))[quarter_turns]
    a, b, c, d = cos, -sin, sin, cos
    if reflect:
        a, b = -a, -b
    return a, b, c, d


def _map_cell(matrix, shift, i: int, j: int) -> tuple[int, int]:
    """Map cell (i, j) by `matrix` about the grid centre (4.5, 4.5), then translate it."""
    a, b, c, d = matrix
    # In doubled coordinates the centre, 9, is an integer.
    u, v = 2 * i - 9, 2 * j - 9
    return (a * u + b * v + 9) // 2 + shift[0], (c * u + d * v + 9) // 2 + shift[1]


@register
def task_isometry(stream: RandomStream) -> list[Grid]:
    """Draw an isometry quiz: f_X is X under one of the 8 rotations and reflections about
    the grid centre, then translated by at most one cell in each direction. The isometry
    can be the identity.

    Colours are drawn afresh for each pair, so a quiz has 3 to 6 colours.
    """
    shift = (stream.below(3) - 1, stream.below(3) - 1)
    matrix = _isometry_matrix(stream.below(4), stream.below(2) == 1)
    grids = []
    for _ in range(2):
        while True:
            c = stream.colours(3)
            rects = [stream.choice(_ISOMETRY_RECTANGLES) for _ in range(3)]
            cells = [0] * CELLS
            for n, (i1, j1, i2, j2) in enumerate(rects):
                paint_rect(cells, (i1, j1, i2 + 1, j2 + 1), c[n])
            visible = CELLS - cells.count(0) >= _ISOMETRY_MIN_CELLS
            if visible and all(colour in cells for colour in c):
                break
        f_cells = [0] * CELLS
        for n, (i1, j1, i2, j2) in enumerate(rects):
            p1, q1 = _map_cell(matrix, shift, i1, j1)
            p2, q2 = _map_cell(matrix, shift, i2, j2)
            rect = (min(p1, p2), min(q1, q2), max(p1, p2) + 1, max(q1, q2) + 1)
            paint_rect(f_cells, rect, c[n])
        grids.append(cells)
        grids.append(f_cells)
    return grids


# trajectory


def _inside(i: int, j: int) -> bool:
    return 0 <= i < HEIGHT and 0 <= j < WIDTH


def _trajectory_starts() -> list[tuple[int, int, int, int]]:
    """Return every (i, j, di, dj) with a non-zero step in -3..3 whose point start + 2 step
    lies inside the grid."""
    return [
        (i, j, di, dj)
        for di in range(-3, 4)
        for dj in range(-3, 4)
        if (di, dj) != (0, 0)
        for i in range(HEIGHT)
        for j in range(WIDTH)
        if _inside(i + 2 * di, j + 2 * dj)
    ]


_TRAJECTORY_STARTS = _trajectory_starts()


@register
def task_trajectory(stream: RandomStream) -> list[Grid]:
    """Draw a trajectory quiz: X shows a c0 start and a c1 point one step away. f_X
    continues the c1 points with the same step up to the edge of the grid."""
    c = stream.colours(2)
    grids = []
    for _ in range(2):
        # Uniform over valid (start, step) pairs, as joint rejection sampling would give.
        i, j, di, dj = stream.choice(_TRAJECTORY_STARTS)
        cells = [0] * CELLS
        cells[i * WIDTH + j] = c[0]
        cells[(i + di) * WIDTH + j + dj] = c[1]
        grids.append(cells.copy())
        k = 2
        while _inside(i + k * di, j + k * dj):
            cells[(i + k * di) * WIDTH + j + k * dj] = c[1]
            k += 1
        grids.append(cells)
    return grids


# bounce

_BOUNCE_OBSTACLE_DRAWS = CELLS // 10
_BOUNCE_MAX_MOVES = WIDTH
# The original keeps a walk after more than 3 loop iterations, that is at least 3 moves.
_BOUNCE_MIN_ITERATIONS = 4


def _walk(occupied: list[bool], i: int, j: int, di: int, dj: int) -> tuple[list[int], int]:
    """Walk from (i, j) for at most _BOUNCE_MAX_MOVES moves. Each move goes straight ahead
    when the next cell is free, else turns to (-dj, di), else to (dj, -di), and the walk
    stops when all three are blocked. Marks the cells moved into in `occupied` and returns
    them with the number of loop iterations, which counts a final blocked test too."""

    def free(a, b):
        return _inside(a, b) and not occupied[a * WIDTH + b]

    path = []
    iterations = 0
    while True:
        iterations += 1
        if free(i + di, j + dj):
            pass
        elif free(i - dj, j + di):
            di, dj = -dj, di
        elif free(i + dj, j - di):
            di, dj = dj, -di
        else:
            break
        i, j = i + di, j + dj
        occupied[i * WIDTH + j] = True
        path.append(i * WIDTH + j)
        if len(path) >= _BOUNCE_MAX_MOVES:
            break
    return path, iterations


@register
def task_bounce(stream: RandomStream) -> list[Grid]:
    """Draw a bounce quiz: a walker starts at a c1 cell, goes straight and turns at c0
    obstacles. X shows its first move in c2 and its final cell in c1, and f_X shows its
    whole track.

    In f_X the first move is c1, the later moves c2 and the final cell c1. The walk is
    redrawn until it takes at least 3 moves. The start cell may fall on an obstacle and
    then hides it.
    """
    c = stream.colours(3)
    grids = []
    for _ in range(2):
        while True:
            cells = [0] * CELLS
            # Repeated draws may pick the same cell, so there are at most 10 obstacles.
            for _ in range(_BOUNCE_OBSTACLE_DRAWS):
                cells[stream.below(CELLS)] = c[0]
            di, dj = stream.choice(UNIT_DIRECTIONS)
            start = stream.below(CELLS)
            cells[start] = c[1]
            occupied = [value != 0 for value in cells]
            path, iterations = _walk(occupied, *divmod(start, WIDTH), di, dj)
            if iterations >= _BOUNCE_MIN_ITERATIONS:
                break
        f_cells = cells.copy()
        for index in path:
            f_cells[index] = c[2]
        cells[path[0]] = c[2]
        f_cells[path[0]] = c[1]
        cells[path[-1]] = f_cells[path[-1]] = c[1]
        grids.append(cells)
        grids.append(f_cells)
    return grids
