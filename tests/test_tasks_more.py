"""The seven other tasks of the original default list, checked as the released ones are.

- Rules: every quiz is read back from its grids alone and must obey its task's rule. The
  same checkers accept the 200 quizzes per task made by the original code.
- Determinism: quizzes depend only on the generator passed in.
- Statistics: per-quiz figures (non-zero cells, changed cells, colours, triviality) must
  agree in mean with the original's quizzes within 4 combined standard errors, and a figure
  that never varies in the original must be that constant in ours.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from safetensors.torch import load_file

from vendor_culture import tasks_more
from vendor_culture.tasks import RELEASED_TASKS, TASKS
from vendor_culture.tasks_more import DEFAULT_TASKS
from vendor_culture.world import check_task_names, generate_task_quizzes, generate_world_quizzes

NEW_TASKS = ("scale", "symbols", "path", "fill", "isometry", "trajectory", "bounce")
QUIZ_LEN = 404
SLOT_LEN = 101
MARKERS = (11, 12, 13, 14)
NB_RULE_CHECKS = 100
NB_STATISTICS = 1000
MAX_STANDARD_ERRORS = 4.0
STATISTICS = (
    "non-zero cells of A", "non-zero cells of f_A", "non-zero cells of B", "non-zero cells of f_B",
    "cells changed from A to f_A", "cells changed from B to f_B", "distinct colours per quiz",
    "trivial (A = f_A or B = f_B)",
)
EDGE_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1))

Cell = tuple[int, int]
Rect = tuple[int, int, int, int]


class RuleViolation(Exception):
    """A quiz breaks the rule of its task."""


def require(condition, message: str) -> None:
    if not condition:
        raise RuleViolation(message)


# Grid helpers. Rectangles are half-open (i1, j1, i2, j2): rows [i1, i2), columns [j1, j2).


def split_grids(quiz: torch.Tensor) -> list[torch.Tensor]:
    """Return the four (10, 10) grids A, f_A, B, f_B of a (404,) quiz."""
    return list(quiz.view(4, SLOT_LEN)[:, 1:].reshape(4, 10, 10))


def colours_in(grid: torch.Tensor) -> set[int]:
    return set(grid.unique().tolist()) - {0}


def cells_of(grid: torch.Tensor, colour: int) -> list[Cell]:
    return [tuple(cell) for cell in (grid == colour).nonzero().tolist()]


def inside(i: int, j: int) -> bool:
    return 0 <= i < 10 and 0 <= j < 10


def bounding_box(mask: torch.Tensor) -> Rect:
    rows, columns = mask.nonzero(as_tuple=True)
    return (int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1)


def rect_mask(rect: Rect) -> torch.Tensor:
    i1, j1, i2, j2 = rect
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask[i1:i2, j1:j2] = True
    return mask


def filled_rectangle(grid: torch.Tensor, colour: int) -> Rect:
    """Return the rectangle that `colour` fills, raising if it fills no rectangle."""
    mask = grid == colour
    rect = bounding_box(mask)
    require(torch.equal(mask, rect_mask(rect)), f"colour {colour} is not a filled rectangle")
    return rect


def check_sampled_rectangles(rects) -> None:
    """Check the constraints of the original's rectangle sampler: sides of at least 3,
    area at most 50, pairwise disjoint, total area at most 100."""
    rects = list(rects)
    for i1, j1, i2, j2 in rects:
        require(i2 - i1 >= 3 and j2 - j1 >= 3, f"rectangle {(i1, j1, i2, j2)} is too small")
        require((i2 - i1) * (j2 - j1) <= 50, f"rectangle {(i1, j1, i2, j2)} exceeds 50 cells")
    for a, b in itertools.combinations(rects, 2):
        require(not (rect_mask(a) & rect_mask(b)).any(), f"rectangles {a} and {b} overlap")
    total = sum((i2 - i1) * (j2 - j1) for i1, j1, i2, j2 in rects)
    require(total <= 100, f"rectangles cover {total} cells, more than 100")


def distances(free: torch.Tensor, start: Cell) -> dict[Cell, int]:
    """Return the 4-neighbour breadth-first distance from `start` to every free cell it
    reaches."""
    result = {start: 0}
    frontier = [start]
    while frontier:
        following = []
        for i, j in frontier:
            for di, dj in EDGE_OFFSETS:
                cell = (i + di, j + dj)
                if inside(*cell) and free[cell] and cell not in result:
                    result[cell] = result[(i, j)] + 1
                    following.append(cell)
        frontier = following
    return result


def same_for_both_pairs(per_pair: list[set], description: str) -> None:
    """Require that the two pairs of a quiz admit a common parameter value."""
    require(per_pair[0] & per_pair[1], f"no {description} explains both pairs: {per_pair}")


# One checker per task. Each takes the four grids of a quiz and raises RuleViolation.


def scale_matches(X, f_X, shape_colour: int, marker_colour: int, offset: Cell) -> bool:
    """Return whether f_X is the shape of X (read from `offset`) scaled by 2 about the
    origin, with the L marker at `offset` on top. The marker may hide shape cells in X,
    so every choice of hidden cells is tried."""
    i, j = offset
    shape = X == shape_colour
    if shape.any() and not rect_mask((i, j, i + 5, j + 5))[shape].all():
        return False
    marker = [(i, j), (i + 1, j), (i, j + 1)]
    window = shape[i : i + 5, j : j + 5]
    for hidden in itertools.product((False, True), repeat=3):
        source = window.clone()
        for (a, b), value in zip(marker, hidden):
            source[a - i, b - j] = value
        expected = torch.zeros(10, 10, dtype=torch.int64)
        scaled = source.repeat_interleave(2, dim=0).repeat_interleave(2, dim=1)
        expected[scaled] = shape_colour
        for cell in marker:
            expected[cell] = marker_colour
        if torch.equal(expected, f_X):
            return True
    return False


def check_scale(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 2, f"expected 2 colours, found {sorted(colours)}")
        explanations = set()
        for marker_colour in colours:
            cells = sorted(cells_of(X, marker_colour))
            if len(cells) != 3:
                continue
            i, j = cells[0]
            if cells != sorted([(i, j), (i + 1, j), (i, j + 1)]) or i > 4 or j > 4:
                continue
            shape_colour = (colours - {marker_colour}).pop()
            if scale_matches(X, f_X, shape_colour, marker_colour, (i, j)):
                explanations.add((marker_colour, shape_colour, (i, j)))
        require(explanations, "f_X is not the shape of X scaled by 2 with the L marker in place")
        per_pair.append(explanations)
    same_for_both_pairs(per_pair, "marker colour, shape colour and offset")


def check_symbols(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 5, f"expected 5 colours, found {sorted(colours)}")
        corners = {}
        for colour in colours:
            i1, j1, i2, j2 = bounding_box(X == colour)
            if (i2 - i1, j2 - j1) == (3, 3):
                corners[colour] = (i1, j1)
        require(len(corners) == 4, f"found {len(corners)} 3x3 squares, expected 4")
        pointer_colour = (colours - set(corners)).pop()
        for a, b in itertools.combinations(corners.values(), 2):
            apart = max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= 4
            require(apart, f"squares at {a} and {b} are closer than 4")
        require(all(max(corner) <= 7 for corner in corners.values()), "a square leaves 0..9")

        pointer = set(cells_of(X, pointer_colour))
        holders = [
            colour for colour, (i, j) in corners.items()
            if pointer <= {(i + a, j + b) for a in range(3) for b in range(3)}
        ]
        require(len(holders) == 1, "the 3-cell pointer is not inside one square")
        holder = holders[0]
        i, j = corners[holder]
        square = rect_mask((i, j, i + 3, j + 3))
        mixed = set(X[square].tolist()) != {holder, pointer_colour}
        require(not mixed, "the pointer's square contains other colours")
        for colour in corners:
            if colour != holder:
                filled = (X == colour).sum() == 9
                require(filled, f"square of colour {colour} is not filled")
        ci, cj = i + 1, j + 1
        directions = [
            (si, sj) for si in (-1, 1) for sj in (-1, 1)
            if pointer == {(ci + si, cj + sj), (ci, cj + sj), (ci + si, cj)}
        ]
        require(directions, f"pointer cells {sorted(pointer)} are not an L around the centre")
        si, sj = directions[0]

        mean_i = sum(a for a, _ in corners.values()) / 4
        mean_j = sum(b for _, b in corners.values()) / 4
        targets = {
            colour for colour, (a, b) in corners.items()
            if colour != holder and (a - mean_i) * si > 0 and (b - mean_j) * sj > 0
        }
        changed = X != f_X
        only_centre = changed.sum() == 1 and changed[ci, cj]
        require(only_centre, "f_X differs from X elsewhere than at the pointer's centre")
        centre = int(f_X[ci, cj])
        require(centre in targets, f"centre colour {centre} is not a square the pointer aims at")
        per_pair.append({(holder, pointer_colour, frozenset(corners))})
    same_for_both_pairs(per_pair, "pointer square, pointer colour and square colours")


def check_path(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 3, f"expected 3 colours, found {sorted(colours)}")
        endpoint_colours = [colour for colour in colours if (X == colour).sum() == 2]
        require(len(endpoint_colours) == 1, "no colour marks exactly two endpoints")
        endpoint_colour = endpoint_colours[0]
        rect_colours = colours - {endpoint_colour}
        check_sampled_rectangles(filled_rectangle(X, colour) for colour in rect_colours)

        start, end = cells_of(X, endpoint_colour)
        manhattan = abs(start[0] - end[0]) + abs(start[1] - end[1])
        require(manhattan > 2, f"endpoints {start} and {end} are only {manhattan} apart")
        free = (X == 0) | (X == endpoint_colour)
        from_start, from_end = distances(free, start), distances(free, end)
        require(end in from_start, "the endpoints are not connected")
        length = from_start[end]
        require(length < 20, f"the shortest path has length {length}, at least 20")

        new = colours_in(f_X) - colours
        require(len(new) == 1, f"f_X adds colours {sorted(new)}, expected one")
        path_colour = new.pop()
        expected = X.clone()
        for cell, distance in from_start.items():
            if cell not in (start, end) and distance + from_end.get(cell, 100) == length:
                expected[cell] = path_colour
        require(torch.equal(expected, f_X), "f_X is not X plus every cell on a shortest path")
        per_pair.append({(endpoint_colour, path_colour, frozenset(rect_colours))})
    same_for_both_pairs(per_pair, "endpoint, path and rectangle colours")


def check_fill(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 4, f"expected 4 colours, found {sorted(colours)}")
        seed_colours = [colour for colour in colours if (X == colour).sum() == 1]
        require(len(seed_colours) == 1, "no colour marks exactly one seed cell")
        seed_colour = seed_colours[0]
        rect_colours = colours - {seed_colour}
        check_sampled_rectangles(filled_rectangle(X, colour) for colour in rect_colours)

        (seed,) = cells_of(X, seed_colour)
        region = distances((X == 0) | (X == seed_colour), seed)
        expected = X.clone()
        for cell in region:
            expected[cell] = seed_colour
        expected[seed] = 0
        require(torch.equal(expected, f_X), "f_X is not X with the seed's region filled")
        per_pair.append({(seed_colour, frozenset(rect_colours))})
    same_for_both_pairs(per_pair, "seed and rectangle colours")


def isometries(grid: torch.Tensor) -> list[torch.Tensor]:
    """Return the 8 images of `grid` under the rotations and reflections of the square."""
    images = []
    for flipped in (grid, grid.flip(0)):
        images.extend(flipped.rot90(k) for k in range(4))
    return images


TRANSLATIONS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]


def check_isometry(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 3, f"expected 3 visible colours, found {sorted(colours)}")
        nb_cells = int((X != 0).sum())
        require(nb_cells > 25, f"X has {nb_cells} non-zero cells, at most 25")
        border = ~rect_mask((1, 1, 9, 9))
        require(not X[border].any(), "X has cells on the outer border")
        # Images of cells in rows and columns 1..8 stay there, so rolling by one cell moves
        # no non-zero cell across an edge.
        matches = {
            (n, shift)
            for n, image in enumerate(isometries(X))
            for shift in TRANSLATIONS
            if torch.equal(image.roll(shift, dims=(0, 1)), f_X)
        }
        require(matches, "f_X is no rotation or reflection of X shifted by at most one cell")
        per_pair.append(matches)
    same_for_both_pairs(per_pair, "isometry and translation")


def check_trajectory(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 2 and (X != 0).sum() == 2, "X is not two cells of two colours")
        explanations = set()
        for start_colour, step_colour in itertools.permutations(colours):
            (i, j), (a, b) = cells_of(X, start_colour)[0], cells_of(X, step_colour)[0]
            di, dj = a - i, b - j
            if max(abs(di), abs(dj)) > 3 or not inside(i + 2 * di, j + 2 * dj):
                continue
            expected = X.clone()
            k = 2
            while inside(i + k * di, j + k * dj):
                expected[i + k * di, j + k * dj] = step_colour
                k += 1
            if torch.equal(expected, f_X):
                explanations.add((start_colour, step_colour))
        require(explanations, "f_X does not continue the step of X to the grid's edge")
        per_pair.append(explanations)
    same_for_both_pairs(per_pair, "start and step colours")


def bounce_walk(occupied: set[Cell], start: Cell, direction: Cell) -> list[Cell]:
    """Return the cells a bounce walker moves into: straight on when free, else turn left
    (-dj, di), else right (dj, -di), else stop, for at most 10 moves."""
    (i, j), (di, dj) = start, direction
    occupied = set(occupied) | {start}

    def free(cell):
        return inside(*cell) and cell not in occupied

    path = []
    while len(path) < 10:
        if free((i + di, j + dj)):
            pass
        elif free((i - dj, j + di)):
            di, dj = -dj, di
        elif free((i + dj, j - di)):
            di, dj = dj, -di
        else:
            break
        i, j = i + di, j + dj
        occupied.add((i, j))
        path.append((i, j))
    return path


def check_bounce(A, f_A, B, f_B):
    per_pair = []
    for X, f_X in ((A, f_A), (B, f_B)):
        colours = colours_in(X)
        require(len(colours) == 3, f"expected 3 colours, found {sorted(colours)}")
        explanations = set()
        for obstacle, end_colour, track_colour in itertools.permutations(colours):
            ends, firsts = cells_of(X, end_colour), cells_of(X, track_colour)
            if len(ends) != 2 or len(firsts) != 1:
                continue
            first = firsts[0]
            obstacles = set(cells_of(X, obstacle))
            for start in ends:
                direction = (first[0] - start[0], first[1] - start[1])
                if abs(direction[0]) + abs(direction[1]) != 1:
                    continue
                path = bounce_walk(obstacles, start, direction)
                # The original accepts a walk after more than 3 loop iterations, and a walk
                # that stops early spends its last iteration finding itself blocked.
                if len(path) < 3 or path[-1] not in ends or path[-1] == start:
                    continue
                expected = torch.zeros(10, 10, dtype=torch.int64)
                for cell in obstacles:
                    expected[cell] = obstacle
                for cell in path[1:]:
                    expected[cell] = track_colour
                for cell in (start, path[0], path[-1]):
                    expected[cell] = end_colour
                if torch.equal(expected, f_X):
                    explanations.add((obstacle, end_colour, track_colour))
        require(explanations, "f_X is not the track of a walker bouncing off the obstacles")
        per_pair.append(explanations)
    same_for_both_pairs(per_pair, "obstacle, end and track colours")


CHECKERS = {
    "scale": check_scale,
    "symbols": check_symbols,
    "path": check_path,
    "fill": check_fill,
    "isometry": check_isometry,
    "trajectory": check_trajectory,
    "bounce": check_bounce,
}


def rule_violations(task: str, quizzes: torch.Tensor) -> list[str]:
    """Return a description of every quiz in `quizzes` that breaks the rule of `task`."""
    violations = []
    for n, quiz in enumerate(quizzes):
        try:
            CHECKERS[task](*split_grids(quiz))
        except RuleViolation as violation:
            violations.append(f"quiz {n}: {violation}")
    return violations


def quiz_statistics(quizzes: torch.Tensor) -> torch.Tensor:
    """Return (N, 8) float64 per-quiz figures in the order of STATISTICS."""
    grids = quizzes.view(-1, 4, SLOT_LEN)[:, :, 1:]
    non_zero = (grids != 0).sum(dim=2)
    changed = torch.stack(
        [(grids[:, 0] != grids[:, 1]).sum(dim=1), (grids[:, 2] != grids[:, 3]).sum(dim=1)],
        dim=1,
    )
    present = torch.zeros(len(quizzes), 11, dtype=torch.bool)
    present.scatter_(1, grids.flatten(1), True)
    colours = present[:, 1:].sum(dim=1, keepdim=True)
    trivial = (changed == 0).any(dim=1, keepdim=True)
    return torch.cat([non_zero, changed, colours, trivial], dim=1).double()


def mean_difference_in_standard_errors(reference: torch.Tensor, ours: torch.Tensor) -> float:
    standard_error = math.sqrt(reference.var() / len(reference) + ours.var() / len(ours))
    return (ours.mean().item() - reference.mean().item()) / standard_error


@pytest.fixture(scope="module")
def reference_quizzes(data_dir) -> dict[str, torch.Tensor]:
    """Return the 200 quizzes per task made by the original code, as int64."""
    stored = load_file(data_dir / "world_quizzes.safetensors")
    return {task: stored[task].long() for task in NEW_TASKS}


@pytest.fixture(scope="module")
def generated_quizzes() -> dict[str, torch.Tensor]:
    """Generate NB_STATISTICS quizzes per task, each task from its own seeded generator."""
    return {
        task: generate_task_quizzes(
            NB_STATISTICS, task, torch.Generator().manual_seed(2000 + index)
        )
        for index, task in enumerate(NEW_TASKS)
    }


# Registry and task lists.


def test_default_tasks_in_original_order():
    assert len(DEFAULT_TASKS) == 15
    assert set(DEFAULT_TASKS) == set(RELEASED_TASKS) | set(NEW_TASKS)
    # The released tasks keep their relative order inside the default list.
    assert tuple(task for task in DEFAULT_TASKS if task in RELEASED_TASKS) == RELEASED_TASKS
    assert DEFAULT_TASKS[6:8] == ("scale", "symbols")
    assert DEFAULT_TASKS[10:] == ("path", "fill", "isometry", "trajectory", "bounce")


def test_new_tasks_registered_by_name():
    for task in NEW_TASKS:
        assert TASKS[task].__name__ == f"task_{task}"
    assert check_task_names(list(DEFAULT_TASKS)) == list(DEFAULT_TASKS)


def test_checkers_cover_new_tasks():
    assert tuple(CHECKERS) == NEW_TASKS


# Rules.


@pytest.mark.parametrize("task", NEW_TASKS)
def test_reference_quizzes_obey_rule(task, reference_quizzes):
    # Shows that the checkers accept what the original code generates.
    violations = rule_violations(task, reference_quizzes[task])

    assert not violations, "\n".join(violations[:5])


# f_B is fully determined by B and the rule's parameters, so a checker must reject any
# change to it. These tests show that the checkers can fail.


@pytest.mark.parametrize("task", NEW_TASKS)
def test_checker_rejects_changed_answer_cell(task, reference_quizzes):
    quizzes = reference_quizzes[task][:50].clone()
    generator = torch.Generator().manual_seed(21)
    rows = torch.arange(50)
    cells = 304 + torch.randint(0, 100, (50,), generator=generator)
    # Adding 1..10 modulo 11 always gives another colour.
    offsets = torch.randint(1, 11, (50,), generator=generator)
    quizzes[rows, cells] = (quizzes[rows, cells] + offsets) % 11

    assert len(rule_violations(task, quizzes)) == 50


@pytest.mark.parametrize("task", NEW_TASKS)
def test_checker_rejects_swapped_answers(task, reference_quizzes):
    quizzes = reference_quizzes[task].clone()
    f_A_cells, f_B_cells = slice(102, 202), slice(304, 404)
    # Swapping changes nothing in a quiz whose two answers are equal. The original's
    # trajectory quizzes include one.
    distinct = (quizzes[:, f_A_cells] != quizzes[:, f_B_cells]).any(dim=1)
    quizzes = quizzes[distinct][:50]
    f_A_grids = quizzes[:, f_A_cells].clone()
    quizzes[:, f_A_cells] = quizzes[:, f_B_cells]
    quizzes[:, f_B_cells] = f_A_grids

    assert len(rule_violations(task, quizzes)) == 50


@pytest.mark.parametrize("task", NEW_TASKS)
def test_generated_quizzes_obey_rule(task, generated_quizzes):
    violations = rule_violations(task, generated_quizzes[task][:NB_RULE_CHECKS])

    assert not violations, "\n".join(violations[:5])


@pytest.mark.parametrize("task", NEW_TASKS)
def test_generated_quizzes_layout(task, generated_quizzes):
    quizzes = generated_quizzes[task]
    slots = quizzes.view(-1, 4, SLOT_LEN)

    assert quizzes.dtype == torch.int64
    assert quizzes.shape == (NB_STATISTICS, QUIZ_LEN)
    assert torch.equal(slots[:, :, 0], torch.tensor([MARKERS]).expand(NB_STATISTICS, 4))
    assert slots[:, :, 1:].min() >= 0
    assert slots[:, :, 1:].max() <= 10


def test_default_world_quizzes_obey_their_rules():
    quizzes, choices = generate_world_quizzes(
        300, DEFAULT_TASKS, torch.Generator().manual_seed(5), return_tasks=True
    )

    assert set(choices.tolist()) == set(range(len(DEFAULT_TASKS)))
    for task in NEW_TASKS:
        violations = rule_violations(task, quizzes[choices == DEFAULT_TASKS.index(task)])
        assert not violations, f"{task}: " + "\n".join(violations[:5])


# Determinism.


def test_same_seed_gives_same_quizzes():
    first = generate_world_quizzes(60, NEW_TASKS, torch.Generator().manual_seed(11))
    second = generate_world_quizzes(60, NEW_TASKS, torch.Generator().manual_seed(11))

    assert torch.equal(first, second)


@pytest.mark.parametrize("task", NEW_TASKS)
def test_task_depends_only_on_generator(task):
    torch.manual_seed(0)
    first = generate_task_quizzes(5, task, torch.Generator().manual_seed(3))
    # A different global seed must not change anything.
    torch.manual_seed(99)
    second = generate_task_quizzes(5, task, torch.Generator().manual_seed(3))
    third = generate_task_quizzes(5, task, torch.Generator().manual_seed(4))

    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_generation_leaves_global_generator_alone():
    state = torch.random.get_rng_state()

    generate_world_quizzes(30, NEW_TASKS, torch.Generator().manual_seed(0))

    assert torch.equal(torch.random.get_rng_state(), state)


# Statistics against the original.


@pytest.mark.parametrize("task", NEW_TASKS)
def test_statistics_match_reference(task, reference_quizzes, generated_quizzes):
    reference = quiz_statistics(reference_quizzes[task])
    ours = quiz_statistics(generated_quizzes[task])

    for column, name in enumerate(STATISTICS):
        expected, actual = reference[:, column], ours[:, column]
        if expected.var() == 0:
            # A figure that never varies in the original, such as the colour count, must be
            # that constant in every one of our quizzes.
            assert (actual == expected[0]).all(), (
                f"{name}: always {expected[0].item():g} in the original, ours ranges "
                f"{actual.min().item():g}..{actual.max().item():g}"
            )
            continue
        difference = mean_difference_in_standard_errors(expected, actual)
        assert abs(difference) <= MAX_STANDARD_ERRORS, (
            f"{name}: mean {actual.mean().item():.3f} against {expected.mean().item():.3f} in the "
            f"original, {difference:+.1f} standard errors"
        )


def test_isometry_colours_range_from_3_to_6(generated_quizzes):
    statistics = quiz_statistics(generated_quizzes["isometry"])
    colours = statistics[:, STATISTICS.index("distinct colours per quiz")]

    # Colours are drawn afresh for each pair, 3 per pair.
    assert colours.min() == 3
    assert colours.max() == 6


def symbol_distances_from_centre(quizzes: torch.Tensor) -> torch.Tensor:
    """Return, for the A and B grid of each symbols quiz, the mean Manhattan distance of the
    four squares' top-left corners from the centre (3.5, 3.5) of the range 0..7."""
    figures = []
    for quiz in quizzes:
        A, _, B, _ = split_grids(quiz)
        for X in (A, B):
            corners = []
            for colour in colours_in(X):
                i1, j1, i2, j2 = bounding_box(X == colour)
                if (i2 - i1, j2 - j1) == (3, 3):
                    corners.append((i1, j1))
            figures.append(sum(abs(i - 3.5) + abs(j - 3.5) for i, j in corners) / len(corners))
    return torch.tensor(figures, dtype=torch.float64)


def test_symbol_positions_match_reference(reference_quizzes, generated_quizzes):
    # The usual figures are constant for symbols, so they cannot detect where the squares
    # go. In a simulation, placing the squares one after the other instead of as a uniform
    # set moved this figure by about 7 standard errors.
    reference = symbol_distances_from_centre(reference_quizzes["symbols"])
    ours = symbol_distances_from_centre(generated_quizzes["symbols"])

    difference = mean_difference_in_standard_errors(reference, ours)
    assert abs(difference) <= MAX_STANDARD_ERRORS, f"{difference:+.1f} standard errors"


def test_fill_redraws_rectangles_that_tile_grid(monkeypatch):
    # Three strips of widths 3, 3 and 4 are valid rectangles that leave no cell for the seed.
    strips = [(0, 0, 10, 3), (0, 3, 10, 6), (0, 6, 10, 10)]
    real_rectangles = tasks_more.random_rectangles
    offered = []

    def tiling_then_real(stream, nb_rec):
        # Alternates, starting with the tiling. A pair always ends on a real draw, since the
        # tiling is rejected, so every pair meets the tiling first.
        offered.append(len(offered) % 2 == 0)
        return list(strips) if offered[-1] else real_rectangles(stream, nb_rec)

    monkeypatch.setattr(tasks_more, "random_rectangles", tiling_then_real)
    # 20 quizzes draw 40 coins, so both outcomes of the coin meet the tiling.
    quizzes = generate_task_quizzes(20, "fill", torch.Generator().manual_seed(8))

    assert sum(offered) >= 40
    violations = rule_violations("fill", quizzes)
    assert not violations, "\n".join(violations[:5])
