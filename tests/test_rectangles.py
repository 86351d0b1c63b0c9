"""The rectangle sampler behind most grid tasks, against the original's procedure.

The original draws rectangles one at a time, keeps the valid ones, and keeps a set only if
its rectangles are pairwise disjoint with total area at most 100. The sampler in
vendor_culture.rectangles draws the same distribution another way, so these tests compare
it with a draw-by-draw transcription of that procedure.
"""

from __future__ import annotations

import math

import pytest
import torch

from vendor_culture.drawing import RandomStream
from vendor_culture.rectangles import (
    RectangleSampler,
    contact_distance,
    random_rectangles,
    valid_rectangles,
)

Rect = tuple[int, int, int, int]
MAX_STANDARD_ERRORS = 4.0


def cells(rect: Rect) -> set[tuple[int, int]]:
    i1, j1, i2, j2 = rect
    return {(i, j) for i in range(i1, i2) for j in range(j1, j2)}


def is_valid_set(rects: list[Rect]) -> bool:
    """The original's tests: sides of at least 3, area at most 50, pairwise disjoint, total
    area at most 100."""
    covered: set[tuple[int, int]] = set()
    for rect in rects:
        i1, j1, i2, j2 = rect
        if i2 - i1 < 3 or j2 - j1 < 3 or (i2 - i1) * (j2 - j1) > 50:
            return False
        if covered & cells(rect):
            return False
        covered |= cells(rect)
    return len(covered) <= 100


def original_procedure(generator: torch.Generator, nb_rec: int) -> list[Rect]:
    """Draw rectangles as the original does, one uniform int at a time."""
    while True:
        rects = []
        while len(rects) < nb_rec:
            a, b, c, d = torch.randint(0, 10, (4,), generator=generator).tolist()
            rect = (min(a, b), min(c, d), max(a, b) + 1, max(c, d) + 1)
            if is_valid_set([rect]):
                rects.append(rect)
        if is_valid_set(rects):
            return rects


def shares_edge(a: Rect, b: Rect) -> bool:
    return any((i + di, j + dj) in cells(b) for i, j in cells(a)
               for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)))


def touches_only_at_corner(a: Rect, b: Rect) -> bool:
    diagonal = any((i + di, j + dj) in cells(b) for i, j in cells(a)
                   for di, dj in ((-1, -1), (-1, 1), (1, -1), (1, 1)))
    return diagonal and not shares_edge(a, b)


def mean_difference_in_standard_errors(reference: list[float], ours: list[float]) -> float:
    reference_values = torch.tensor(reference, dtype=torch.float64)
    our_values = torch.tensor(ours, dtype=torch.float64)
    standard_error = math.sqrt(
        reference_values.var() / len(reference) + our_values.var() / len(ours)
    )
    return (our_values.mean().item() - reference_values.mean().item()) / standard_error


def test_valid_rectangles_are_those_the_original_can_draw():
    drawable = {
        (min(a, b), min(c, d), max(a, b) + 1, max(c, d) + 1)
        for a in range(10) for b in range(10) for c in range(10) for d in range(10)
    }
    expected = {rect for rect in drawable if is_valid_set([rect])}

    assert set(valid_rectangles()) == expected
    assert len(valid_rectangles()) == len(expected)


def test_pair_table_holds_every_disjoint_ordered_pair_once():
    sampler = RectangleSampler()
    rects = sampler.rects
    pairs = [divmod(code, len(rects)) for code in sampler.pairs]
    covered = [frozenset(cells(rect)) for rect in rects]
    expected = {
        (m, n) for m in range(len(rects)) for n in range(len(rects))
        if covered[m].isdisjoint(covered[n])
    }

    assert len(pairs) == len(expected)
    assert set(pairs) == expected


@pytest.mark.parametrize("nb_rec", [1, 2, 3, 4])
def test_sampled_sets_are_valid(nb_rec):
    stream = RandomStream(torch.Generator().manual_seed(nb_rec))

    for _ in range(300):
        rects = random_rectangles(stream, nb_rec)
        assert len(rects) == nb_rec
        assert is_valid_set(rects), rects


@pytest.mark.parametrize("nb_rec", [2, 3])
def test_sampler_matches_original_procedure(nb_rec):
    generator = torch.Generator().manual_seed(7)
    theirs = [original_procedure(generator, nb_rec) for _ in range(1500)]
    stream = RandomStream(torch.Generator().manual_seed(6))
    ours = [random_rectangles(stream, nb_rec) for _ in range(3000)]

    figures = {
        "total area": lambda rects: sum(len(cells(rect)) for rect in rects),
        "first rectangle's i1 + j1": lambda rects: rects[0][0] + rects[0][1],
        "last rectangle's height": lambda rects: rects[-1][2] - rects[-1][0],
        "last rectangle's width": lambda rects: rects[-1][3] - rects[-1][1],
        "first two share an edge": lambda rects: float(shares_edge(rects[0], rects[1])),
    }
    for name, figure in figures.items():
        difference = mean_difference_in_standard_errors(
            [figure(rects) for rects in theirs], [figure(rects) for rects in ours]
        )
        assert abs(difference) <= MAX_STANDARD_ERRORS, f"{name}: {difference:+.1f} standard errors"


def test_sampler_depends_only_on_stream():
    first = [random_rectangles(RandomStream(torch.Generator().manual_seed(3)), 3) for _ in range(5)]
    second = [random_rectangles(RandomStream(torch.Generator().manual_seed(3)), 3) for _ in range(5)]
    other = [random_rectangles(RandomStream(torch.Generator().manual_seed(4)), 3) for _ in range(5)]

    assert first == second
    assert first != other


def test_contact_distance_zero_for_shared_edge():
    stream = RandomStream(torch.Generator().manual_seed(9))
    nb_touching = nb_corner_only = 0

    for _ in range(1000):
        a, b = random_rectangles(stream, 2)
        touching = shares_edge(a, b)
        assert (contact_distance(a, b) == 0) == touching, (a, b)
        assert contact_distance(a, b) == contact_distance(b, a), (a, b)
        if touches_only_at_corner(a, b):
            assert contact_distance(a, b) == 1, (a, b)
            nb_corner_only += 1
        nb_touching += touching

    # Both cases must actually occur for the checks above to mean anything.
    assert nb_touching > 0
    assert nb_corner_only > 0
