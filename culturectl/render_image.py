"""Quiz sheets as PNG and SVG images, in the layout of the original's PNG renderer.

Each quiz is drawn as its four grids side by side in A, f_A, B, f_B order, whatever
structure it is in, and the quizzes fill rows of PER_ROW with padding between them. A
grid has 15-pixel cells separated by dark lines, inside a coloured frame: white for a
given grid, grey for a predicted one, and green or red once the prediction is judged
right or wrong. Wrong cells get a ring in a contrasting colour, and a cell holding a token
that is not a colour (a model can sample a marker token there) is white with a black X.

The PNG encoder uses only zlib and struct. SVG sheets also carry the quiz titles and the
marker names; PNG sheets have no text.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Iterable, Optional, Sequence
from xml.sax.saxutils import escape

import torch

from vendor_culture.tokens import (
    COLOR_RGB, HEIGHT, MARKER_TOKENS, NB_COLORS, NB_SLOTS, QUIZ_LEN, SLOT_LEN, WIDTH, WORLD_STRUCT,
)

from .atomic import atomic_path

CELL_PIXELS = 15  # one grid line plus 14 pixels of colour
LINE_RGB = (64, 64, 64)
GRID_PIXELS = WIDTH * CELL_PIXELS + 1  # the closing line on the right and bottom
FRAME_PIXELS = 8
MARGIN_PIXELS = 2
TILE_PIXELS = GRID_PIXELS + 2 * (FRAME_PIXELS + MARGIN_PIXELS)
PADDING_PIXELS = 32
PER_ROW = 4
# Commands draw at most this many quizzes per sheet, as the original saved 128 per image.
MAX_SHEET_QUIZZES = 128
# A caption line above each quiz, in SVG sheets only.
CAPTION_PIXELS = 18

WHITE = (255, 255, 255)
FRAME_GIVEN = WHITE
FRAME_PREDICTED = (200, 200, 200)
FRAME_RIGHT = (0, 192, 0)
FRAME_WRONG = (255, 0, 0)
BLACK = (0, 0, 0)
RING_PIXELS = 2


class SheetLayout:
    """Quizzes in world order with one frame colour per grid, ready to draw."""

    def __init__(self, quizzes: torch.Tensor, predicted: Iterable[int] = (), wrong: Optional[torch.Tensor] = None):
        if quizzes.dim() != 2 or quizzes.size(1) != QUIZ_LEN:
            raise ValueError(f"quizzes must be (N, {QUIZ_LEN}), got shape {tuple(quizzes.shape)}")
        if wrong is not None and wrong.shape != quizzes.shape:
            raise ValueError(f"wrong mask has shape {tuple(wrong.shape)}; expected {tuple(quizzes.shape)}")
        predicted = sorted(set(predicted))
        for slot in predicted:
            if not 0 <= slot < NB_SLOTS:
                raise ValueError(f"predicted slot {slot!r} is invalid; slots are 0..{NB_SLOTS - 1}")

        quizzes = quizzes.detach().cpu().long()
        slots = quizzes.view(-1, NB_SLOTS, SLOT_LEN)
        markers = slots[:, :, 0]
        if not all(sorted(row) == sorted(MARKER_TOKENS.values()) for row in markers.tolist()):
            raise ValueError("every quiz must have the markers A, f_A, B, f_B once each at its slot starts")
        world = torch.tensor([MARKER_TOKENS[name] for name in WORLD_STRUCT])
        # source[n, q] is the slot of quiz n that contains the grid drawn at position q.
        source = (markers[:, None, :] == world[None, :, None]).int().argmax(dim=2)

        def in_world_order(per_slot: torch.Tensor) -> torch.Tensor:
            index = source.view(*source.shape, *([1] * (per_slot.dim() - 2)))
            return per_slot.gather(1, index.expand(-1, -1, *per_slot.shape[2:]))

        self.count = quizzes.size(0)
        self.cells = in_world_order(slots[:, :, 1:]).view(-1, NB_SLOTS, HEIGHT, WIDTH)
        wrong_cells = torch.zeros_like(slots[:, :, 1:], dtype=torch.bool)
        if wrong is not None:
            wrong_cells = wrong.detach().cpu().bool().view(-1, NB_SLOTS, SLOT_LEN)[:, :, 1:]
        self.wrong = in_world_order(wrong_cells).view(-1, NB_SLOTS, HEIGHT, WIDTH)

        is_predicted = torch.zeros(self.count, NB_SLOTS, dtype=torch.bool)
        is_predicted[:, predicted] = True
        self.predicted = in_world_order(is_predicted)
        self.judged = wrong is not None
        self.markers = WORLD_STRUCT

    def frame_rgb(self, quiz: int, position: int) -> tuple[int, int, int]:
        if not self.predicted[quiz, position]:
            return FRAME_GIVEN
        if not self.judged:
            return FRAME_PREDICTED
        return FRAME_WRONG if self.wrong[quiz, position].any() else FRAME_RIGHT

    def origin(self, quiz: int, caption: int = 0) -> tuple[int, int]:
        """Return the (x, y) pixel of the top-left corner of quiz `quiz`."""
        row, column = divmod(quiz, PER_ROW)
        x = PADDING_PIXELS + column * (NB_SLOTS * TILE_PIXELS + PADDING_PIXELS)
        y = PADDING_PIXELS + row * (TILE_PIXELS + caption + PADDING_PIXELS) + caption
        return x, y

    def size(self, caption: int = 0) -> tuple[int, int]:
        """Return the (width, height) of the sheet in pixels."""
        columns = min(max(self.count, 1), PER_ROW)
        rows = max(1, -(-self.count // PER_ROW))
        width = PADDING_PIXELS + columns * (NB_SLOTS * TILE_PIXELS + PADDING_PIXELS)
        height = PADDING_PIXELS + rows * (TILE_PIXELS + caption + PADDING_PIXELS)
        return width, height


# ---------------------------------------------------------------------------
# PNG


def _cell_patterns() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (line, ring, cross) boolean (15, 15) masks of one cell with its top and left line."""
    offsets = torch.arange(CELL_PIXELS)
    rows, columns = offsets[:, None], offsets[None, :]
    line = (rows == 0) | (columns == 0)
    inner_rows, inner_columns = rows - 1, columns - 1  # 0..13 inside the cell
    last = CELL_PIXELS - 2
    ring = ~line & (
        (inner_rows < RING_PIXELS) | (inner_rows > last - RING_PIXELS)
        | (inner_columns < RING_PIXELS) | (inner_columns > last - RING_PIXELS)
    )
    cross = ~line & ((inner_rows == inner_columns) | (inner_rows + inner_columns == last))
    return line, ring, cross


def _contrast_rgb() -> torch.Tensor:
    """Black or white per colour token, whichever reads better on that colour."""
    values = []
    for red, green, blue in COLOR_RGB:
        values.append(BLACK if 0.299 * red + 0.587 * green + 0.114 * blue > 128 else WHITE)
    return torch.tensor(values, dtype=torch.uint8)


def grid_pixels(cells: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    """Draw (N, 10, 10) cells with their (N, 10, 10) wrong mask: (N, 151, 151, 3) uint8."""
    palette = torch.tensor(COLOR_RGB + (WHITE,), dtype=torch.uint8)
    colour_ok = (cells >= 0) & (cells < NB_COLORS)
    index = torch.where(colour_ok, cells, torch.full_like(cells, NB_COLORS))
    line, ring, cross = _cell_patterns()

    def blocks(per_cell: torch.Tensor) -> torch.Tensor:
        # (N, 10, 10, ...) -> (N, 150, 150, ...): each cell value repeated over its 15 x 15 block.
        return per_cell.repeat_interleave(CELL_PIXELS, dim=1).repeat_interleave(CELL_PIXELS, dim=2)

    pixels = blocks(palette[index])  # (N, 150, 150, 3)
    line_mask = line.repeat(HEIGHT, WIDTH)[None, :, :, None]
    ring_mask = ring.repeat(HEIGHT, WIDTH)[None] & blocks(wrong & colour_ok)
    cross_mask = cross.repeat(HEIGHT, WIDTH)[None] & blocks(~colour_ok)
    contrast = blocks(_contrast_rgb()[index.clamp(max=NB_COLORS - 1)])
    pixels = torch.where(ring_mask[..., None], contrast, pixels)
    pixels = torch.where(cross_mask[..., None], torch.tensor(BLACK, dtype=torch.uint8), pixels)
    pixels = torch.where(line_mask, torch.tensor(LINE_RGB, dtype=torch.uint8), pixels)

    # Close the grid with the line on its right and bottom edges.
    grid = torch.empty(cells.size(0), GRID_PIXELS, GRID_PIXELS, 3, dtype=torch.uint8)
    grid[:] = torch.tensor(LINE_RGB, dtype=torch.uint8)
    grid[:, :-1, :-1] = pixels
    return grid


def sheet_pixels(layout: SheetLayout) -> torch.Tensor:
    """Draw every quiz of `layout` on one white sheet: (height, width, 3) uint8."""
    width, height = layout.size()
    sheet = torch.full((height, width, 3), 255, dtype=torch.uint8)
    if layout.count == 0:
        return sheet
    grids = grid_pixels(layout.cells.flatten(0, 1), layout.wrong.flatten(0, 1))
    grids = grids.view(layout.count, NB_SLOTS, GRID_PIXELS, GRID_PIXELS, 3)
    for quiz in range(layout.count):
        x, y = layout.origin(quiz)
        for position in range(NB_SLOTS):
            left = x + position * TILE_PIXELS + MARGIN_PIXELS
            top = y + MARGIN_PIXELS
            span = GRID_PIXELS + 2 * FRAME_PIXELS
            sheet[top : top + span, left : left + span] = torch.tensor(layout.frame_rgb(quiz, position), dtype=torch.uint8)
            inner_top, inner_left = top + FRAME_PIXELS, left + FRAME_PIXELS
            sheet[inner_top : inner_top + GRID_PIXELS, inner_left : inner_left + GRID_PIXELS] = grids[quiz, position]
    return sheet


def png_bytes(image: torch.Tensor) -> bytes:
    """Encode a (height, width, 3) uint8 image as an 8-bit RGB PNG."""
    if image.dim() != 3 or image.size(2) != 3 or image.dtype != torch.uint8:
        raise ValueError(f"expected a (height, width, 3) uint8 image, got {tuple(image.shape)} {image.dtype}")
    height, width, _ = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # Every scanline starts with filter type 0 (none).
    rows = torch.cat([torch.zeros(height, 1, dtype=torch.uint8), image.reshape(height, width * 3)], dim=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.contiguous().numpy().tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def write_png(path: Path, quizzes: torch.Tensor, predicted: Iterable[int] = (), wrong: Optional[torch.Tensor] = None) -> None:
    """Write a PNG sheet of `quizzes`; `predicted` slots and `wrong` as in `SheetLayout`."""
    image = sheet_pixels(SheetLayout(quizzes, predicted, wrong))
    with atomic_path(Path(path)) as temporary:
        temporary.write_bytes(png_bytes(image))


# ---------------------------------------------------------------------------
# SVG


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def svg_text(layout: SheetLayout, titles: Optional[Sequence[str]] = None) -> str:
    """Return an SVG document drawing `layout` like `sheet_pixels`, plus captions."""
    if titles is not None and len(titles) != layout.count:
        raise ValueError(f"got {len(titles)} titles for {layout.count} quizzes; give one title per quiz")
    width, height = layout.size(CAPTION_PIXELS)
    contrast = _contrast_rgb().tolist()
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" shape-rendering="crispEdges">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for quiz in range(layout.count):
        x, y = layout.origin(quiz, CAPTION_PIXELS)
        if titles is not None:
            parts.append(
                f'<text x="{x + MARGIN_PIXELS}" y="{y - 5}" font-family="sans-serif" font-size="13">'
                f"{escape(titles[quiz])}</text>"
            )
        for position in range(NB_SLOTS):
            left = x + position * TILE_PIXELS + MARGIN_PIXELS
            top = y + MARGIN_PIXELS
            span = GRID_PIXELS + 2 * FRAME_PIXELS
            grid_left, grid_top = left + FRAME_PIXELS, top + FRAME_PIXELS
            parts.append(f'<g><title>{layout.markers[position]}</title>')
            parts.append(f'<rect x="{left}" y="{top}" width="{span}" height="{span}" fill="{_hex(layout.frame_rgb(quiz, position))}"/>')
            parts.append(f'<rect x="{grid_left}" y="{grid_top}" width="{GRID_PIXELS}" height="{GRID_PIXELS}" fill="{_hex(LINE_RGB)}"/>')
            cells = layout.cells[quiz, position].tolist()
            wrong = layout.wrong[quiz, position].tolist()
            for row in range(HEIGHT):
                for column in range(WIDTH):
                    parts.append(_svg_cell(
                        grid_left + 1 + column * CELL_PIXELS, grid_top + 1 + row * CELL_PIXELS,
                        cells[row][column], wrong[row][column], contrast,
                    ))
            parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _svg_cell(x: int, y: int, token: int, wrong: bool, contrast: list) -> str:
    size = CELL_PIXELS - 1
    if not 0 <= token < NB_COLORS:
        return (
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="#ffffff"/>'
            f'<path d="M{x},{y}L{x + size},{y + size}M{x + size},{y}L{x},{y + size}" stroke="#000000"/>'
        )
    cell = f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{_hex(COLOR_RGB[token])}"/>'
    if wrong:
        inset = RING_PIXELS / 2
        cell += (
            f'<rect x="{x + inset}" y="{y + inset}" width="{size - RING_PIXELS}" height="{size - RING_PIXELS}" '
            f'fill="none" stroke="{_hex(contrast[token])}" stroke-width="{RING_PIXELS}"/>'
        )
    return cell


def write_svg(
    path: Path,
    quizzes: torch.Tensor,
    predicted: Iterable[int] = (),
    wrong: Optional[torch.Tensor] = None,
    titles: Optional[Sequence[str]] = None,
) -> None:
    """Write an SVG sheet of `quizzes` with optional per-quiz `titles`."""
    text = svg_text(SheetLayout(quizzes, predicted, wrong), titles)
    with atomic_path(Path(path)) as temporary:
        temporary.write_text(text)
