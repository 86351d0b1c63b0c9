"""The eight grid tasks of the released culture models, checked three ways.

- Rules: every quiz is read back from its grids alone and must obey its task's rule, as the
  original's grid code defines it. The same checkers run on quizzes made by the original code,
  which shows that they accept the original's output.
- Determinism: quizzes depend only on the generator passed in.
- Statistics: per-quiz figures (non-zero cells, changed cells, colours) must agree in mean with
  200 quizzes per task made by the original, within 4 combined standard errors.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.world import generate_task_quizzes, generate_world_quizzes

QUIZ_LEN = 404
SLOT_LEN = 101
MARKERS = (11, 12, 13, 14)
NB_RULE_CHECKS = 200
NB_STATISTICS = 2000
MAX_STANDARD_ERRORS = 4.0
DIRECTIONS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
STATISTICS = (
    "non-zero cells of A", "non-zero cells of f_A", "non-zero cells of B", "non-zero cells of f_B",
    "cells changed from A to f_A", "cells changed from B to f_B", "distinct colours per quiz",
)

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


def rect_mask(rect: Rect) -> torch.Tensor:
    i1, j1, i2, j2 = rect
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask[i1:i2, j1:j2] = True
    return mask


def interior_mask(rect: Rect) -> torch.Tensor:
    i1, j1, i2, j2 = rect
    return rect_mask((i1 + 1, j1 + 1, i2 - 1, j2 - 1))


def cells_mask(cells) -> torch.Tensor:
    mask = torch.zeros(10, 10, dtype=torch.bool)
    for i, j in cells:
        mask[i, j] = True
    return mask


def bounding_box(mask: torch.Tensor) -> Rect:
    rows, columns = mask.nonzero(as_tuple=True)
    return (int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1)


def expand(rect: Rect) -> Rect:
    i1, j1, i2, j2 = rect
    return (i1 - 1, j1 - 1, i2 + 1, j2 + 1)


EDGE_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1))
DIAGONAL_OFFSETS = ((-1, -1), (-1, 1), (1, -1), (1, 1))


def neighbours(mask: torch.Tensor, offsets) -> torch.Tensor:
    """Return the cells that have a cell of `mask` at one of `offsets` from them."""
    padded = torch.zeros(12, 12, dtype=torch.bool)
    padded[1:11, 1:11] = mask
    result = torch.zeros(10, 10, dtype=torch.bool)
    for di, dj in offsets:
        result |= padded[1 + di : 11 + di, 1 + dj : 11 + dj]
    return result


def shares_edge(a: Rect, b: Rect) -> bool:
    """Return whether a cell of `a` is 4-adjacent to a cell of `b`."""
    return bool((neighbours(rect_mask(a), EDGE_OFFSETS) & rect_mask(b)).any())


def touches_only_at_corner(a: Rect, b: Rect) -> bool:
    """Return whether `a` and `b` have diagonally adjacent cells but no 4-adjacent ones."""
    diagonal = bool((neighbours(rect_mask(a), DIAGONAL_OFFSETS) & rect_mask(b)).any())
    return diagonal and not shares_edge(a, b)


def filled_rectangles(grid: torch.Tensor, nb: int) -> dict[int, Rect]:
    """Map each non-zero colour of `grid` to the rectangle it fills. Requires exactly `nb`
    colours, each covering the whole of its bounding box."""
    colours = colours_in(grid)
    require(len(colours) == nb, f"expected {nb} colours, found {sorted(colours)}")
    rects = {}
    for colour in colours:
        mask = grid == colour
        rect = bounding_box(mask)
        require(torch.equal(mask, rect_mask(rect)), f"colour {colour} is not a filled rectangle")
        rects[colour] = rect
    return rects


def check_sampled_rectangles(rects) -> None:
    """Check the constraints of the original's rectangle sampler: sides of at least 3,
    area at most 50, pairwise disjoint."""
    rects = list(rects)
    for rect in rects:
        i1, j1, i2, j2 = rect
        require(i2 - i1 >= 3 and j2 - j1 >= 3, f"rectangle {rect} is too small")
        require((i2 - i1) * (j2 - j1) <= 50, f"rectangle {rect} is larger than 50 cells")
    for m in range(len(rects)):
        for n in range(m):
            overlap = rect_mask(rects[m]) & rect_mask(rects[n])
            require(not overlap.any(), f"rectangles {rects[m]} and {rects[n]} overlap")


def require_same_for_both_pairs(per_pair: list, description: str) -> None:
    first, second = per_pair
    require(first == second, f"{description} differs between the pairs: {first} and {second}")


# One checker per task. Each takes the four grids of a quiz and raises RuleViolation.


def check_replace_color(A, f_A, B, f_B):
    recoloured, new_colours = [], []
    for X, f_X in ((A, f_A), (B, f_B)):
        check_sampled_rectangles(filled_rectangles(X, 3).values())
        changed = X != f_X
        require(changed.any(), "f_X equals X")
        old = X[changed].unique().tolist()
        new = f_X[changed].unique().tolist()
        require(len(old) == 1, f"changed cells had colours {old} in X")
        require(torch.equal(changed, X == old[0]), "only part of the recoloured rectangle changed")
        require(len(new) == 1, f"changed cells have colours {new} in f_X")
        require(new[0] not in colours_in(X), f"new colour {new[0]} is already in X")
        recoloured.append(old[0])
        new_colours.append(new[0])
    require_same_for_both_pairs(recoloured, "recoloured colour c0")
    require_same_for_both_pairs(new_colours, "new colour c3")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def check_translate(A, f_A, B, f_B):
    moves = []
    for X, f_X in ((A, f_A), (B, f_B)):
        rects = filled_rectangles(X, 3)
        check_sampled_rectangles(rects.values())
        matches = []
        for colour, (i1, j1, i2, j2) in rects.items():
            for di, dj in DIRECTIONS:
                moved = (i1 + di, j1 + dj, i2 + di, j2 + dj)
                if min(moved) < 0 or max(moved) > 10:
                    continue
                expected = X.clone()
                expected[X == colour] = 0
                expected[rect_mask(moved)] = colour
                if torch.equal(expected, f_X):
                    matches.append((colour, (di, dj), moved))
        require(len(matches) == 1, f"f_X is not X with one rectangle moved by one cell: {matches}")
        colour, direction, moved = matches[0]
        # The moved rectangle stays off the last row and column.
        require(moved[2] < 10 and moved[3] < 10, f"moved rectangle {moved} reaches row or column 9")
        moves.append((colour, direction))
    require_same_for_both_pairs([colour for colour, _ in moves], "moving colour")
    require_same_for_both_pairs([direction for _, direction in moves], "direction")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def check_grow(A, f_A, B, f_B):
    changes = []
    for X, f_X in ((A, f_A), (B, f_B)):
        before, after = filled_rectangles(X, 3), filled_rectangles(f_X, 3)
        require(before.keys() == after.keys(), "X and f_X use different colours")
        changed = [colour for colour in before if before[colour] != after[colour]]
        require(len(changed) == 1, f"colours {changed} change shape, expected one")
        colour = changed[0]
        if after[colour] == expand(before[colour]):
            direction, large = "grow", after[colour]
        else:
            shrinks = before[colour] == expand(after[colour])
            require(shrinks, "the rectangle neither grows nor shrinks by one cell")
            direction, large = "shrink", before[colour]
        big_enough = large[2] - large[0] >= 4 and large[3] - large[1] >= 4
        require(big_enough, f"full rectangle {large} is smaller than 4x4")
        others = [rect for other, rect in before.items() if other != colour]
        check_sampled_rectangles(others + [large])
        outside = ~rect_mask(large)
        same_outside = torch.equal(X[outside], f_X[outside])
        require(same_outside, "cells outside the changing rectangle differ")
        changes.append((colour, direction))
    require_same_for_both_pairs([colour for colour, _ in changes], "changing colour")
    require_same_for_both_pairs([direction for _, direction in changes], "grow or shrink")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def half_fill_parts(X) -> dict[int, tuple[Rect, int, set[int]]]:
    """Map each fill colour of a half_fill grid to (rectangle, line colour, directions
    consistent with the line's position)."""
    colours = colours_in(X)
    require(len(colours) == 6, f"expected 6 colours, found {sorted(colours)}")
    parts = {}
    for colour in colours:
        rect = bounding_box(X == colour)
        inside = set(X[rect_mask(rect)].unique().tolist()) - {colour}
        if not inside:
            continue
        require(len(inside) == 1, f"fill colour {colour} surrounds colours {sorted(inside)}")
        line_colour = inside.pop()
        line_mask = X == line_colour
        line = bounding_box(line_mask)
        straight = torch.equal(line_mask, rect_mask(line))
        require(straight, f"line colour {line_colour} is not a straight line")
        filled = torch.equal((X == colour) | line_mask, rect_mask(rect))
        require(filled, f"fill colour {colour} and its line do not fill a rectangle")
        i1, j1, i2, j2 = rect
        # Directions 0 and 1 draw a row, 2 and 3 a column. The two of each kind pick the
        # same middle line when the side is odd, and differ by one when it is even.
        directions = set()
        if line[2] - line[0] == 1 and (line[1], line[3]) == (j1, j2):
            if line[0] == (i1 + i2) // 2:
                directions.add(0)
            if line[0] == (i1 + i2 - 1) // 2:
                directions.add(1)
        if line[3] - line[1] == 1 and (line[0], line[2]) == (i1, i2):
            if line[1] == (j1 + j2) // 2:
                directions.add(2)
            if line[1] == (j1 + j2 - 1) // 2:
                directions.add(3)
        require(directions, f"line {line} is not a middle line of rectangle {rect}")
        parts[colour] = (rect, line_colour, directions)
    require(len(parts) == 3, f"found {len(parts)} filled rectangles with a line, expected 3")
    return parts


def half_beyond_line(rect: Rect, direction: int) -> Rect:
    """Return the part of `rect` that f_X paints in the line colour: the middle line and
    the half beyond it (below, above, right of or left of it for directions 0 to 3)."""
    i1, j1, i2, j2 = rect
    if direction == 0:
        return ((i1 + i2) // 2, j1, i2, j2)
    if direction == 1:
        return (i1, j1, (i1 + i2 - 1) // 2 + 1, j2)
    if direction == 2:
        return (i1, (j1 + j2) // 2, i2, j2)
    return (i1, j1, i2, (j1 + j2 - 1) // 2 + 1)


def check_half_fill(A, f_A, B, f_B):
    directions = {0, 1, 2, 3}
    filled_pairs = []
    for X, f_X in ((A, f_A), (B, f_B)):
        parts = half_fill_parts(X)
        check_sampled_rectangles(rect for rect, _, _ in parts.values())
        for _, _, part_directions in parts.values():
            directions &= part_directions
        changed = X != f_X
        require(changed.any(), "f_X equals X")
        fill_colours = X[changed].unique().tolist()
        one_fill = len(fill_colours) == 1 and fill_colours[0] in parts
        require(one_fill, f"changed cells had colours {fill_colours} in X")
        rect, line_colour, _ = parts[fill_colours[0]]
        matching = set()
        for direction in range(4):
            expected = X.clone()
            expected[rect_mask(half_beyond_line(rect, direction))] = line_colour
            if torch.equal(expected, f_X):
                matching.add(direction)
        require(matching, "f_X is not X with half of one rectangle in its line colour")
        directions &= matching
        filled_pairs.append((fill_colours[0], line_colour))
    require(directions, "no single direction explains the lines and halves of the quiz")
    require_same_for_both_pairs(filled_pairs, "half-filled rectangle colours")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def check_frame(A, f_A, B, f_B):
    framed = []
    for X, f_X in ((A, f_A), (B, f_B)):
        rects = filled_rectangles(X, 3)
        check_sampled_rectangles(rects.values())
        changed = X != f_X
        candidates = [
            colour for colour, rect in rects.items() if torch.equal(changed, interior_mask(rect))
        ]
        require(len(candidates) == 1, "f_X is not X with one rectangle's interior cleared")
        require((f_X[changed] == 0).all(), "the cleared interior is not background")
        framed.append(candidates[0])
    require_same_for_both_pairs(framed, "framed colour")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def top_left_l(rect: Rect) -> list[tuple[int, int]]:
    i1, j1, _, _ = rect
    return [(i1, j1), (i1 + 1, j1), (i1, j1 + 1)]


def check_detect(A, f_A, B, f_B):
    unmarked_colours, marker_colours = [], []
    for X, f_X in ((A, f_A), (B, f_B)):
        rects = filled_rectangles(X, 3)
        check_sampled_rectangles(rects.values())
        new = colours_in(f_X) - colours_in(X)
        require(len(new) == 1, f"f_X adds colours {sorted(new)}, expected one")
        marker = new.pop()
        marked = [
            colour
            for colour, rect in rects.items()
            if all(f_X[i, j] == marker for i, j in top_left_l(rect))
        ]
        require(len(marked) == 2, f"{len(marked)} rectangles carry the L marker, expected 2")
        expected = X.clone()
        for colour in marked:
            expected[cells_mask(top_left_l(rects[colour]))] = marker
        require(torch.equal(expected, f_X), "f_X differs from X outside the two L markers")
        unmarked_colours.append((set(rects) - set(marked)).pop())
        marker_colours.append(marker)
    require_same_for_both_pairs(unmarked_colours, "unmarked colour")
    require_same_for_both_pairs(marker_colours, "marker colour c3")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def corner_ls(rect: Rect, polarity: int) -> list[tuple[int, int]]:
    i1, j1, i2, j2 = rect
    if polarity == 0:
        top_left = [(i1, j1), (i1 + 1, j1), (i1, j1 + 1)]
        bottom_right = [(i2 - 1, j2 - 1), (i2 - 2, j2 - 1), (i2 - 1, j2 - 2)]
        return top_left + bottom_right
    top_right = [(i1, j2 - 1), (i1 + 1, j2 - 1), (i1, j2 - 2)]
    bottom_left = [(i2 - 1, j1), (i2 - 2, j1), (i2 - 1, j1 + 1)]
    return top_right + bottom_left


def check_corners(A, f_A, B, f_B):
    polarities = {0, 1}
    for X, f_X in ((A, f_A), (B, f_B)):
        rects = filled_rectangles(f_X, 3)
        check_sampled_rectangles(rects.values())
        require(colours_in(X) == set(rects), "X and f_X use different colours")
        for colour, rect in rects.items():
            nb_cells = int((X == colour).sum())
            require(nb_cells == 6, f"colour {colour} has {nb_cells} cells in X, expected 6")
            polarities &= {
                p for p in (0, 1) if torch.equal(X == colour, cells_mask(corner_ls(rect, p)))
            }
    require(polarities, "X is not two opposite L corners of each rectangle with one polarity")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


def check_contact(A, f_A, B, f_B):
    outline_colours = []
    for X, f_X in ((A, f_A), (B, f_B)):
        rects = filled_rectangles(X, 3)
        check_sampled_rectangles(rects.values())
        candidates = []
        for colour, rect in rects.items():
            touching = [
                other for other in rects.values() if other != rect and shares_edge(rect, other)
            ]
            expected = X.clone()
            for other in touching:
                expected[rect_mask(other) & ~interior_mask(other)] = colour
            if touching and torch.equal(expected, f_X):
                candidates.append(colour)
        require(
            len(candidates) == 1,
            f"f_X is not X with the rectangles touching one rectangle outlined in its colour: "
            f"{candidates}",
        )
        outline_colours.append(candidates[0])
    require_same_for_both_pairs(outline_colours, "outline colour c0")
    require(colours_in(A) == colours_in(B), "A and B use different colours")


CHECKERS = {
    "replace_color": check_replace_color,
    "translate": check_translate,
    "grow": check_grow,
    "half_fill": check_half_fill,
    "frame": check_frame,
    "detect": check_detect,
    "corners": check_corners,
    "contact": check_contact,
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
    """Return (N, 7) float64 per-quiz figures in the order of STATISTICS."""
    grids = quizzes.view(-1, 4, SLOT_LEN)[:, :, 1:]
    non_zero = (grids != 0).sum(dim=2)
    changed_a = (grids[:, 0] != grids[:, 1]).sum(dim=1)
    changed_b = (grids[:, 2] != grids[:, 3]).sum(dim=1)
    changed = torch.stack([changed_a, changed_b], dim=1)
    present = torch.zeros(len(quizzes), 11, dtype=torch.bool)
    present.scatter_(1, grids.flatten(1), True)
    colours = present[:, 1:].sum(dim=1, keepdim=True)
    return torch.cat([non_zero, changed, colours], dim=1).double()


@pytest.fixture(scope="module")
def reference_quizzes(data_dir) -> dict[str, torch.Tensor]:
    """Return the 200 quizzes per task made by the original code, as int64."""
    stored = load_file(data_dir / "world_quizzes.safetensors")
    return {task: stored[task].long() for task in RELEASED_TASKS}


@pytest.fixture(scope="module")
def generated_quizzes() -> dict[str, torch.Tensor]:
    """Generate NB_STATISTICS quizzes per task, each task from its own seeded generator."""
    return {
        task: generate_task_quizzes(
            NB_STATISTICS, task, torch.Generator().manual_seed(1000 + index)
        )
        for index, task in enumerate(RELEASED_TASKS)
    }


def test_checkers_cover_released_tasks():
    assert tuple(CHECKERS) == RELEASED_TASKS


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_reference_quizzes_obey_rule(task, reference_quizzes):
    # Shows that the checkers accept what the original code generates.
    violations = rule_violations(task, reference_quizzes[task])

    assert not violations, "\n".join(violations[:5])


# f_B is fully determined by B and the rule's parameters, so a checker must reject any
# change to it. These tests show that the checkers can fail.


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_checker_rejects_changed_answer_cell(task, reference_quizzes):
    quizzes = reference_quizzes[task][:50].clone()
    generator = torch.Generator().manual_seed(21)
    rows = torch.arange(50)
    cells = 304 + torch.randint(0, 100, (50,), generator=generator)
    # Adding 1..10 modulo 11 always gives another colour.
    offsets = torch.randint(1, 11, (50,), generator=generator)
    quizzes[rows, cells] = (quizzes[rows, cells] + offsets) % 11

    assert len(rule_violations(task, quizzes)) == 50


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_checker_rejects_swapped_answers(task, reference_quizzes):
    quizzes = reference_quizzes[task][:50].clone()
    f_A_cells, f_B_cells = slice(102, 202), slice(304, 404)
    f_A_grids = quizzes[:, f_A_cells].clone()
    quizzes[:, f_A_cells] = quizzes[:, f_B_cells]
    quizzes[:, f_B_cells] = f_A_grids

    assert len(rule_violations(task, quizzes)) == 50


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_generated_quizzes_obey_rule(task, generated_quizzes):
    violations = rule_violations(task, generated_quizzes[task][:NB_RULE_CHECKS])

    assert not violations, "\n".join(violations[:5])


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_generated_quizzes_layout(task, generated_quizzes):
    quizzes = generated_quizzes[task]
    slots = quizzes.view(-1, 4, SLOT_LEN)

    assert quizzes.dtype == torch.int64
    assert quizzes.shape == (NB_STATISTICS, QUIZ_LEN)
    assert torch.equal(slots[:, :, 0], torch.tensor([MARKERS]).expand(NB_STATISTICS, 4))
    assert slots[:, :, 1:].min() >= 0
    assert slots[:, :, 1:].max() <= 10


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_generated_quizzes_not_trivial(task, generated_quizzes):
    grids = generated_quizzes[task].view(-1, 4, SLOT_LEN)[:, :, 1:]

    assert (grids[:, 0] != grids[:, 1]).any(dim=1).all(), "some quiz has A == f_A"
    assert (grids[:, 2] != grids[:, 3]).any(dim=1).all(), "some quiz has B == f_B"


def test_mixed_world_quizzes_obey_their_rules():
    quizzes, choices = generate_world_quizzes(
        160, RELEASED_TASKS, torch.Generator().manual_seed(5), return_tasks=True
    )

    assert choices.shape == (160,)
    assert set(choices.tolist()) == set(range(len(RELEASED_TASKS)))
    for index, task in enumerate(RELEASED_TASKS):
        violations = rule_violations(task, quizzes[choices == index])
        assert not violations, f"{task}: " + "\n".join(violations[:5])


# Determinism.


def test_same_seed_gives_same_quizzes():
    first = generate_world_quizzes(40, RELEASED_TASKS, torch.Generator().manual_seed(11))
    second = generate_world_quizzes(40, RELEASED_TASKS, torch.Generator().manual_seed(11))

    assert torch.equal(first, second)


def test_different_seed_gives_different_quizzes():
    first = generate_world_quizzes(40, RELEASED_TASKS, torch.Generator().manual_seed(11))
    second = generate_world_quizzes(40, RELEASED_TASKS, torch.Generator().manual_seed(12))

    assert not torch.equal(first, second)


@pytest.mark.parametrize("task", RELEASED_TASKS)
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

    generate_world_quizzes(20, RELEASED_TASKS, torch.Generator().manual_seed(0))

    assert torch.equal(torch.random.get_rng_state(), state)


# Statistics against the original.


def test_reference_statistics_match_recorded_figures(data_dir, reference_quizzes):
    # Confirms that quiz_statistics computes the figures the reference data records.
    recorded = json.loads((data_dir / "world_quizzes.json").read_text())["tasks"]
    for task in RELEASED_TASKS:
        means = quiz_statistics(reference_quizzes[task]).mean(dim=0).tolist()
        figures = recorded[task]
        expected = [
            *(figures["nonzero_cells_mean_per_slot"][slot] for slot in ("A", "f_A", "B", "f_B")),
            figures["diff_cells_A_vs_f_A_mean"],
            figures["diff_cells_B_vs_f_B_mean"],
            figures["distinct_nonzero_colours_per_quiz_mean"],
        ]
        assert means == pytest.approx(expected, abs=1e-9), task


@pytest.mark.parametrize("task", RELEASED_TASKS)
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
        standard_error = math.sqrt(expected.var() / len(expected) + actual.var() / len(actual))
        difference = actual.mean().item() - expected.mean().item()
        assert abs(difference) <= MAX_STANDARD_ERRORS * standard_error, (
            f"{name}: mean {actual.mean().item():.3f} against {expected.mean().item():.3f} in the "
            f"original, {difference / standard_error:+.1f} standard errors"
        )
