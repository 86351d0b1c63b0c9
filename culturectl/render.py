"""Quizzes as rich renderables: the four grids side by side, in the original RGB palette.

With colour, each cell is a block of two spaces on the cell's RGB background. Without
colour (no colour system, `NO_COLOR`, or output that is not a terminal) each cell is one
character, `0`..`9` for colours 0..9 and `a` for colour 10. No escape codes are written
then, so the grids stay readable in a pipe or a log file.
"""

from __future__ import annotations

import numbers
from typing import Iterable, Optional, Sequence

import torch
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from vendor_culture.tokens import (
    COLOR_RGB, HEIGHT, NB_COLORS, NB_SLOTS, QUIZ_LEN, SLOT_LEN, TOKEN_TO_MARKER, WIDTH,
)

# One background style per colour token, in the exact RGB of the original PNG renderer.
# rich downgrades these to the nearest 256 or 16 colours on terminals without truecolor.
CELL_STYLES = tuple(Style(bgcolor=Color.from_rgb(*rgb)) for rgb in COLOR_RGB)
# Characters for colour tokens 0..10 when colour is off, one per cell.
PLAIN_CELL_CHARS = "0123456789a"
# Terminal columns per cell when colour is on. Two columns make a cell roughly square.
CELL_WIDTH = 2
# Text drawn over a wrong cell, on the cell's own colour.
WRONG_CELL_TEXT = "XX"
# Blank columns between two grids.
GRID_GAP = 2
# Lines per grid block, the marker label followed by the grid rows.
BLOCK_LINES = 1 + HEIGHT

TITLE_STYLE = Style(bold=True)
LABEL_STYLE = Style(bold=True)
PREDICTED_LABEL_STYLE = Style(bold=True, reverse=True)
RIGHT_LABEL_STYLE = Style(bold=True, color="white", bgcolor=Color.from_rgb(0, 160, 0))
WRONG_LABEL_STYLE = Style(bold=True, color="white", bgcolor=Color.from_rgb(220, 0, 0))

# Slot starts in a quiz, where the marker tokens sit.
MARKER_POSITIONS = tuple(slot * SLOT_LEN for slot in range(NB_SLOTS))


def uses_plain_cells(console: Console) -> bool:
    """Return True when `console` writes no colour, so cells must be drawn as characters."""
    return console.no_color or console.color_system is None


def _wrong_cell_style(colour: int) -> Style:
    """Return bold text in black or white, whichever reads better on `colour`."""
    red, green, blue = COLOR_RGB[colour]
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    foreground = "black" if luminance > 128 else "white"
    return CELL_STYLES[colour] + Style(color=foreground, bold=True)


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_token_list(values, name: str) -> list:
    """Return `values` (a 1-D tensor or a sequence) as a flat list of QUIZ_LEN entries."""
    if isinstance(values, torch.Tensor):
        if values.dim() != 1:
            raise ValueError(f"{name} must be a 1-D tensor of {QUIZ_LEN} entries, got shape {tuple(values.shape)}")
        values = values.tolist()
    elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a tensor or a sequence of {QUIZ_LEN} entries, got {type(values).__name__}")
    if len(values) != QUIZ_LEN:
        raise ValueError(
            f"{name} has {len(values)} entries; expected {QUIZ_LEN} (4 slots of one marker and 100 cells)"
        )
    return list(values)


def _validate_quiz(quiz) -> list[int]:
    """Return the tokens of `quiz`, raising ValueError on a misplaced marker or a bad cell."""
    if isinstance(quiz, torch.Tensor) and (quiz.is_floating_point() or quiz.is_complex() or quiz.dtype == torch.bool):
        raise ValueError(f"quiz must contain integer tokens, got dtype {quiz.dtype}")
    tokens = _as_token_list(quiz, "quiz")

    for position, token in enumerate(tokens):
        if not _is_integer(token):
            raise ValueError(f"quiz token at position {position} is {token!r}; expected an integer token")
        if position in MARKER_POSITIONS:
            if token not in TOKEN_TO_MARKER:
                raise ValueError(
                    f"quiz token at position {position} is {token}; a slot must start with a marker token "
                    f"{', '.join(f'{t} ({n})' for t, n in TOKEN_TO_MARKER.items())}"
                )
        elif not 0 <= token < NB_COLORS:
            raise ValueError(
                f"quiz token at position {position} is {token}; cells must be colour tokens 0..{NB_COLORS - 1}"
            )

    markers = [tokens[position] for position in MARKER_POSITIONS]
    if len(set(markers)) != NB_SLOTS:
        names = ", ".join(TOKEN_TO_MARKER[token] for token in markers)
        raise ValueError(f"quiz markers are {names}; each of A, f_A, B, f_B must appear exactly once")
    return [int(token) for token in tokens]


def _validate_wrong(wrong) -> list[bool]:
    """Return the per-token wrong mask as booleans, raising ValueError on a bad shape or a set marker."""
    flags = _as_token_list(wrong, "wrong mask")
    for position, flag in enumerate(flags):
        if flag not in (0, 1):  # True and False compare equal to 1 and 0.
            raise ValueError(f"wrong mask at position {position} is {flag!r}; expected a boolean or 0/1")
        if flag and position in MARKER_POSITIONS:
            raise ValueError(
                f"wrong mask is set at position {position}, a marker; only cells can be wrong "
                f"(is the mask aligned with the {QUIZ_LEN}-token quiz?)"
            )
    return [bool(flag) for flag in flags]


def _validate_predicted(predicted: Iterable[int]) -> frozenset[int]:
    slots = frozenset(predicted)
    for slot in slots:
        if not _is_integer(slot) or not 0 <= slot < NB_SLOTS:
            raise ValueError(f"predicted slot {slot!r} is invalid; slots are 0..{NB_SLOTS - 1}")
    return slots


class QuizView:
    """A quiz drawn as its four grids in slot order, each under its marker name.

    The grids sit side by side when they fit the available width, else in two rows of
    two, else one above the other. Lines wider than the width (a console narrower than
    one grid) are cropped.

    Args:
        quiz: A (404,) integer tensor or a sequence of 404 ints: four slots, each a
            marker token (11..14, each once) followed by 100 colour tokens (0..10).
        title: A line printed above the grids, e.g. the task and structure. Default None.
        predicted: Slot indices (0..3) whose grids are model predictions. Their labels
            are highlighted: green when no cell of the slot is wrong, red otherwise, and
            reversed when `wrong` is None. Default: no slot.
        wrong: An optional (404,) boolean mask aligned with `quiz`, True on wrong cells.
            Wrong cells show `XX` over their colour. Default None.

    NOTE: Without colour a cell is one character, so wrong cells are not marked in the
    grid. The label of each predicted slot still gives its count of wrong cells.
    """

    def __init__(
        self,
        quiz,
        title: Optional[str] = None,
        predicted: Iterable[int] = (),
        wrong=None,
    ) -> None:
        tokens = _validate_quiz(quiz)
        wrong_flags = [False] * QUIZ_LEN if wrong is None else _validate_wrong(wrong)

        self.title = title
        self.markers = tuple(TOKEN_TO_MARKER[tokens[position]] for position in MARKER_POSITIONS)
        # cells[slot] and wrong_cells[slot] contain the 100 cells of a slot in row-major order.
        self.cells = tuple(tuple(tokens[start + 1 : start + SLOT_LEN]) for start in MARKER_POSITIONS)
        self.wrong_cells = tuple(tuple(wrong_flags[start + 1 : start + SLOT_LEN]) for start in MARKER_POSITIONS)
        self.predicted = _validate_predicted(predicted)
        self.judged = wrong is not None

    def __repr__(self) -> str:
        return (
            f"QuizView(markers={self.markers!r}, title={self.title!r}, "
            f"predicted={sorted(self.predicted)!r}, judged={self.judged!r})"
        )

    def _label(self, slot: int) -> tuple[str, Style]:
        """Return the text and style of the label above the grid of `slot`."""
        name = self.markers[slot]
        if slot not in self.predicted:
            return name, LABEL_STYLE
        if not self.judged:
            return f"{name} predicted", PREDICTED_LABEL_STYLE
        wrong_count = sum(self.wrong_cells[slot])
        if wrong_count == 0:
            return f"{name} right", RIGHT_LABEL_STYLE
        return f"{name} {wrong_count} wrong", WRONG_LABEL_STYLE

    def _column_width(self, plain: bool) -> int:
        grid_width = WIDTH * (1 if plain else CELL_WIDTH)
        return max(grid_width, *(cell_len(self._label(slot)[0]) for slot in range(NB_SLOTS)))

    def _block(self, slot: int, plain: bool) -> list[list[Segment]]:
        """Return the lines of one grid block: its label, then one line per grid row."""
        text, style = self._label(slot)
        lines = [[Segment(text, None if plain else style)]]
        for row in range(HEIGHT):
            line = []
            for index in range(row * WIDTH, (row + 1) * WIDTH):
                colour = self.cells[slot][index]
                if plain:
                    line.append(Segment(PLAIN_CELL_CHARS[colour]))
                elif self.wrong_cells[slot][index]:
                    line.append(Segment(WRONG_CELL_TEXT, _wrong_cell_style(colour)))
                else:
                    line.append(Segment(" " * CELL_WIDTH, CELL_STYLES[colour]))
            lines.append(list(Segment.simplify(line)))
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        plain = uses_plain_cells(console)
        max_width = options.max_width
        column_width = self._column_width(plain)
        per_row = grids_per_row(column_width, max_width)

        if self.title is not None:
            yield Text(self.title, style="" if plain else TITLE_STYLE)

        blocks = [self._block(slot, plain) for slot in range(NB_SLOTS)]
        for first in range(0, NB_SLOTS, per_row):
            if first > 0:
                yield Segment.line()
            group = blocks[first : first + per_row]
            for line_index in range(BLOCK_LINES):
                line: list[Segment] = []
                for position, block in enumerate(group):
                    if position > 0:
                        line.append(Segment(" " * GRID_GAP))
                    segments = block[line_index]
                    # Pad every block but the last of a row, so that lines carry no trailing blanks.
                    if position < len(group) - 1:
                        segments = Segment.adjust_line_length(segments, column_width)
                    line.extend(segments)
                if Segment.get_line_length(line) > max_width:
                    line = Segment.adjust_line_length(line, max_width)
                yield from line
                yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        column_width = self._column_width(uses_plain_cells(console))
        widest = NB_SLOTS * column_width + (NB_SLOTS - 1) * GRID_GAP
        if self.title is not None:
            widest = max(widest, cell_len(self.title))
        return Measurement(column_width, widest)


class QuizGallery:
    """Several quizzes, one `QuizView` after another with a blank line between them.

    Args:
        quizzes: A (N, 404) integer tensor or a sequence of N quizzes, each as accepted
            by `QuizView`.
        titles: One title per quiz, or None for no titles. Default None.
        predicted: Slot indices (0..3) that are predictions, the same for every quiz.
            Default: no slot.
        wrong: An optional (N, 404) boolean mask, True on wrong cells. Default None.
    """

    def __init__(
        self,
        quizzes,
        titles: Optional[Sequence[str]] = None,
        predicted: Iterable[int] = (),
        wrong=None,
    ) -> None:
        if isinstance(quizzes, torch.Tensor) and quizzes.dim() != 2:
            raise ValueError(f"quizzes must be a 2-D (N, {QUIZ_LEN}) tensor, got shape {tuple(quizzes.shape)}")
        quiz_count = len(quizzes)
        if titles is not None and len(titles) != quiz_count:
            raise ValueError(f"got {len(titles)} titles for {quiz_count} quizzes; give one title per quiz")
        if wrong is not None and len(wrong) != quiz_count:
            raise ValueError(f"got {len(wrong)} wrong masks for {quiz_count} quizzes; give one mask per quiz")

        predicted = _validate_predicted(predicted)
        self.views = [
            QuizView(
                quizzes[n],
                title=None if titles is None else titles[n],
                predicted=predicted,
                wrong=None if wrong is None else wrong[n],
            )
            for n in range(quiz_count)
        ]

    def __repr__(self) -> str:
        return f"QuizGallery(<{len(self.views)} quizzes>)"

    def __len__(self) -> int:
        return len(self.views)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for n, view in enumerate(self.views):
            if n > 0:
                yield Segment.line()
            yield view

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        if not self.views:
            return Measurement(0, 0)
        measurements = [view.__rich_measure__(console, options) for view in self.views]
        return Measurement(
            max(measurement.minimum for measurement in measurements),
            max(measurement.maximum for measurement in measurements),
        )


def grids_per_row(column_width: int, max_width: int) -> int:
    """Return how many grid columns (4, 2 or 1) fit side by side in `max_width` cells."""
    for count in (NB_SLOTS, 2):
        if count * column_width + (count - 1) * GRID_GAP <= max_width:
            return count
    return 1
