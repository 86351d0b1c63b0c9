"""Vocabulary, quiz layout and structures of the culture world.

A quiz is a row of 404 int64 tokens: four slots, each a marker token followed by the
100 cells of a 10x10 grid in row-major order. World quizzes are made in the structure
(A, f_A, B, f_B); `reconfigure` permutes slots into any other structure.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# Colour tokens 0..10 with the names and RGB values of the original renderer.
COLOR_NAMES = (
    "white", "red", "green", "blue", "yellow", "cyan",
    "violet", "lightgreen", "brown", "lightblue", "gray",
)
COLOR_RGB = (
    (255, 255, 255), (255, 0, 0), (0, 192, 0), (0, 0, 255), (255, 224, 0), (0, 255, 255),
    (224, 128, 255), (192, 255, 192), (165, 42, 42), (192, 192, 255), (128, 128, 128),
)
NB_COLORS = len(COLOR_NAMES)
BACKGROUND = 0

# Marker tokens follow the colours.
TOKEN_A, TOKEN_F_A, TOKEN_B, TOKEN_F_B = 11, 12, 13, 14
MARKER_NAMES = ("A", "f_A", "B", "f_B")
MARKER_TOKENS = {"A": TOKEN_A, "f_A": TOKEN_F_A, "B": TOKEN_B, "f_B": TOKEN_F_B}
TOKEN_TO_MARKER = {token: name for name, token in MARKER_TOKENS.items()}
VOCAB_SIZE = 15

HEIGHT = WIDTH = 10
GRID_CELLS = HEIGHT * WIDTH
SLOT_LEN = GRID_CELLS + 1
NB_SLOTS = 4
QUIZ_LEN = NB_SLOTS * SLOT_LEN

# A dataset row and a converted HookedTransformer input carry this token before the quiz,
# the start token that MyGPT inserts internally when it shifts its input right.
BOS_TOKEN = 0
ROW_LEN = QUIZ_LEN + 1

Struct = tuple[str, str, str, str]
WORLD_STRUCT: Struct = ("A", "f_A", "B", "f_B")


class Structure(NamedTuple):
    """A slot order with the slots to predict (ar_mask) and the prompt slots to noise."""

    struct: Struct
    ar_mask: tuple[int, int, int, int]
    noise_mask: tuple[int, int, int, int]

    @property
    def predicted(self) -> tuple[str, ...]:
        """Marker names of the predicted slots, in slot order."""
        return tuple(name for name, flag in zip(self.struct, self.ar_mask) if flag)


# The five structures the original models are trained on. The first four predict one
# slot and count for accuracy; the fifth is the order used to generate culture quizzes.
UNDERSTOOD_STRUCTURES = (
    Structure(("A", "f_A", "B", "f_B"), (0, 0, 0, 1), (0, 0, 1, 0)),
    Structure(("f_A", "A", "f_B", "B"), (0, 0, 0, 1), (0, 0, 1, 0)),
    Structure(("B", "f_B", "A", "f_A"), (0, 0, 0, 1), (0, 0, 0, 0)),
    Structure(("f_B", "B", "f_A", "A"), (0, 0, 0, 1), (0, 0, 0, 0)),
    Structure(("f_B", "f_A", "A", "B"), (0, 1, 1, 1), (0, 0, 0, 0)),
)
DETERMINISTIC_STRUCTURES = UNDERSTOOD_STRUCTURES[:4]
GENERATION_STRUCTURE = UNDERSTOOD_STRUCTURES[4]

# Deterministic structures by the name of the slot they predict.
STRUCTURE_BY_PREDICTED = {s.predicted[0]: s for s in DETERMINISTIC_STRUCTURES}


def slot_start(slot: int) -> int:
    """Return the position of the marker of `slot` (0..3) in a quiz."""
    return slot * SLOT_LEN


def create_empty_quizzes(nb: int, struct: Struct = WORLD_STRUCT) -> torch.Tensor:
    """Return `nb` quizzes with markers in place and every cell 0."""
    quizzes = torch.zeros(nb, QUIZ_LEN, dtype=torch.int64)
    for slot, name in enumerate(struct):
        quizzes[:, slot_start(slot)] = MARKER_TOKENS[name]
    return quizzes


def grids_view(quizzes: torch.Tensor) -> torch.Tensor:
    """Return a (N, 4, 10, 10) view of the cells of (N, 404) quizzes."""
    slots = quizzes.view(-1, NB_SLOTS, SLOT_LEN)
    return slots[:, :, 1:].unflatten(2, (HEIGHT, WIDTH))


def get_structure(quizzes: torch.Tensor) -> Struct:
    """Return the structure of the first quiz, read from its markers."""
    markers = quizzes[0, :: SLOT_LEN].tolist()
    return tuple(TOKEN_TO_MARKER[token] for token in markers)  # type: ignore[return-value]


def indices_select(quizzes: torch.Tensor, struct: Struct) -> torch.Tensor:
    """Return a boolean (N,) mask of the quizzes whose markers spell `struct`."""
    wanted = torch.tensor([MARKER_TOKENS[name] for name in struct])
    return (quizzes[:, ::SLOT_LEN] == wanted).all(dim=1)


def reconfigure(quizzes: torch.Tensor, struct: Struct, masks: torch.Tensor | None = None):
    """Permute the slots of each quiz so that slot q holds the grid marked `struct[q]`.

    Rows may start in different structures. `masks`, an optional (N, 4) per-slot tensor,
    is permuted alongside; then the pair (quizzes, masks) is returned.
    """
    slots = quizzes.view(-1, NB_SLOTS, SLOT_LEN)
    markers = slots[:, :, 0]  # (N, 4)
    wanted = torch.tensor([MARKER_TOKENS[name] for name in struct], device=quizzes.device)
    # source[n, q] is the slot of quiz n that holds the grid marked struct[q].
    source = (markers[:, None, :] == wanted[None, :, None]).int().argmax(dim=2)
    result = slots.gather(1, source[:, :, None].expand(-1, -1, SLOT_LEN)).reshape(-1, QUIZ_LEN)
    if masks is None:
        return result
    return result, masks.gather(1, source)


def make_ar_mask(quizzes: torch.Tensor, slot_mask) -> torch.Tensor:
    """Return an int64 mask like `quizzes`: 1 on the cells of the slots flagged in
    `slot_mask`, 0 on markers and elsewhere. Markers are never generated."""
    slot_mask = torch.as_tensor(slot_mask, dtype=torch.int64, device=quizzes.device)
    per_slot = slot_mask.expand(quizzes.size(0), NB_SLOTS)
    mask = per_slot[:, :, None].expand(-1, -1, SLOT_LEN).clone()
    mask[:, :, 0] = 0
    return mask.reshape(-1, QUIZ_LEN)


def inject_noise(
    quizzes: torch.Tensor, noise: float, slot_mask, generator: torch.Generator
) -> torch.Tensor:
    """Return a copy where each cell of the slots in `slot_mask` is, with probability
    `noise`, replaced by a uniform colour (which may equal the old one)."""
    if noise <= 0:
        return quizzes.clone()
    cells = make_ar_mask(quizzes, slot_mask).bool()
    selected = cells & (torch.rand(quizzes.shape, generator=generator) <= noise)
    colours = torch.randint(0, NB_COLORS, quizzes.shape, generator=generator)
    return torch.where(selected, colours, quizzes)


def is_trivial(quizzes: torch.Tensor) -> torch.Tensor:
    """Return a boolean (N,) mask of quizzes with A == f_A or B == f_B."""
    grids = grids_view(reconfigure(quizzes, WORLD_STRUCT)).flatten(2)
    same_a = (grids[:, 0] == grids[:, 1]).all(dim=1)
    same_b = (grids[:, 2] == grids[:, 3]).all(dim=1)
    return same_a | same_b


def quizzes_to_rows(quizzes: torch.Tensor) -> torch.Tensor:
    """Prepend the start token: (N, 404) quizzes -> (N, 405) dataset rows."""
    bos = torch.full((quizzes.size(0), 1), BOS_TOKEN, dtype=quizzes.dtype, device=quizzes.device)
    return torch.cat([bos, quizzes], dim=1)


def rows_to_quizzes(rows: torch.Tensor) -> torch.Tensor:
    """Drop the start token: (N, 405) dataset rows -> (N, 404) quizzes."""
    if rows.size(1) != ROW_LEN:
        raise ValueError(f"expected rows of {ROW_LEN} tokens, got {rows.size(1)}")
    return rows[:, 1:]
