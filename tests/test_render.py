"""Tests of the quiz renderables (culturectl.render) and of `culturectl show-quiz`."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest
import torch
from rich.console import Console
from rich.measure import Measurement
from rich.text import Text
from typer.testing import CliRunner

from culturectl.cli import app
from culturectl.errors import CulturectlError
from culturectl.render import QuizGallery, QuizView
from vendor_culture.tokens import MARKER_NAMES, QUIZ_LEN, create_empty_quizzes, grids_view

RED_BACKGROUND = "\x1b[48;2;255;0;0m"
GRAY_BACKGROUND = "\x1b[48;2;128;128;128m"
ESCAPE = "\x1b"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """Remove the variables through which rich reads colour and size from the environment."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "TERM"):
        monkeypatch.delenv(name, raising=False)


def render(renderable, width: int = 100, colour: bool = False) -> str:
    console = Console(
        file=io.StringIO(),
        width=width,
        color_system="truecolor" if colour else None,
        force_terminal=colour,
        legacy_windows=False,
    )
    console.print(renderable)
    return console.file.getvalue()


def visible_widths(output: str) -> list[int]:
    """Return the width in cells of each line of `output`, ignoring escape codes."""
    return [Text.from_ansi(line).cell_len for line in output.splitlines()]


def known_quiz() -> torch.Tensor:
    """Return a (404,) quiz in structure (A, f_A, B, f_B) with a few known cells.

    Grid A has colours 0..9 on its first row and colour 10 at (1, 0). Grid f_B has
    red (1) at (9, 9) and gray (10) at (0, 0). Every other cell is 0.
    """
    quiz = create_empty_quizzes(1)
    grids = grids_view(quiz)
    grids[0, 0, 0] = torch.arange(10)
    grids[0, 0, 1, 0] = 10
    grids[0, 3, 9, 9] = 1
    grids[0, 3, 0, 0] = 10
    return quiz[0]


def wrong_mask(*cells: tuple[int, int, int]) -> torch.Tensor:
    """Return a (404,) mask that is True on the given (slot, row, column) cells."""
    mask = torch.zeros(1, QUIZ_LEN, dtype=torch.bool)
    for slot, row, column in cells:
        grids_view(mask)[0, slot, row, column] = True
    return mask[0]


def parse_plain_quizzes(output: str) -> list[dict[str, list[str]]]:
    """Read plain `show-quiz` output back into one {marker: 10 grid rows} dict per quiz.

    Works for every layout: a label line names 1, 2 or 4 markers and the 10 lines
    below it hold the rows of those grids, in the same order.
    """
    quizzes: list[dict[str, list[str]]] = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("quiz "):
            quizzes.append({})
            continue
        names = line.split()
        if names and all(name in MARKER_NAMES for name in names):
            rows = [lines[index + 1 + row].split() for row in range(10)]
            for position, name in enumerate(names):
                quizzes[-1][name] = [row[position] for row in rows]
    return quizzes


# Rendering without colour


def test_plain_exact_output():
    blank = "0000000000"
    expected = (
        "A           f_A         B           f_B\n"
        f"0123456789  {blank}  {blank}  a000000000\n"
        f"a000000000  {blank}  {blank}  {blank}\n"
        + f"{blank}  {blank}  {blank}  {blank}\n" * 7
        + f"{blank}  {blank}  {blank}  0000000001\n"
    )

    assert render(QuizView(known_quiz())) == expected


def test_plain_has_no_escape_codes():
    output = render(QuizView(known_quiz(), title="grow", predicted={3}, wrong=wrong_mask((3, 9, 9))))

    assert ESCAPE not in output
    assert output.splitlines()[0] == "grow"


def test_no_color_console_prints_digits(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    console = Console(file=io.StringIO(), width=100, color_system="truecolor", force_terminal=True, legacy_windows=False)

    console.print(QuizView(known_quiz()))
    output = console.file.getvalue()

    assert ESCAPE not in output
    assert output.splitlines()[1].startswith("0123456789  ")


def test_plain_accepts_list_input():
    assert render(QuizView(known_quiz().tolist())) == render(QuizView(known_quiz()))


# Rendering with colour


def test_truecolor_paints_exact_rgb():
    output = render(QuizView(known_quiz()), colour=True)

    assert RED_BACKGROUND in output
    assert GRAY_BACKGROUND in output
    assert "0123456789" not in output


def test_truecolor_omits_absent_colour():
    output = render(QuizView(create_empty_quizzes(1)[0]), colour=True)

    assert RED_BACKGROUND not in output
    assert "\x1b[48;2;255;255;255m" in output


def test_truecolor_cell_is_two_columns():
    output = render(QuizView(known_quiz()), colour=True)
    last_row = output.splitlines()[-1]

    # The last row ends with f_B's red cell at (9, 9): one two-column block, then a reset.
    assert last_row.endswith(f"{RED_BACKGROUND}  \x1b[0m")


# Layout and measurement


@pytest.mark.parametrize(
    ("width", "colour", "nb_lines", "label_line"),
    [
        (100, True, 11, ["A", "f_A", "B", "f_B"]),
        (86, True, 11, ["A", "f_A", "B", "f_B"]),
        (85, True, 23, ["A", "f_A"]),
        (42, True, 23, ["A", "f_A"]),
        (41, True, 47, ["A"]),
        (46, False, 11, ["A", "f_A", "B", "f_B"]),
        (45, False, 23, ["A", "f_A"]),
        (21, False, 47, ["A"]),
    ],
)
def test_layout_fits_width(width, colour, nb_lines, label_line):
    output = render(QuizView(known_quiz()), width=width, colour=colour)

    assert len(output.splitlines()) == nb_lines
    assert Text.from_ansi(output.splitlines()[0]).plain.split() == label_line
    assert max(visible_widths(output)) <= width


def test_stacked_keeps_slot_order():
    output = render(QuizView(known_quiz()), width=15)
    labels = [line for line in output.splitlines() if line.strip() in MARKER_NAMES]

    assert labels == ["A", "f_A", "B", "f_B"]


def test_narrower_than_grid_crops():
    output = render(QuizView(known_quiz(), title="a title longer than the console"), width=8, colour=True)

    assert max(visible_widths(output)) <= 8


def test_measure_reports_widths():
    view = QuizView(known_quiz())
    plain = Console(file=io.StringIO(), width=200, color_system=None, legacy_windows=False)
    colour = Console(file=io.StringIO(), width=200, color_system="truecolor", force_terminal=True, legacy_windows=False)

    assert Measurement.get(plain, plain.options, view) == Measurement(10, 46)
    assert Measurement.get(colour, colour.options, view) == Measurement(20, 86)


def test_measure_counts_long_title():
    view = QuizView(known_quiz(), title="x" * 60)
    console = Console(file=io.StringIO(), width=200, color_system=None, legacy_windows=False)

    assert Measurement.get(console, console.options, view) == Measurement(10, 60)


# Marking predicted slots


def test_predicted_slot_labels():
    right = render(QuizView(known_quiz(), predicted={3}, wrong=wrong_mask()))
    wrong = render(QuizView(known_quiz(), predicted={3}, wrong=wrong_mask((3, 0, 0), (3, 9, 9))))
    unjudged = render(QuizView(known_quiz(), predicted={3}))

    assert right.splitlines()[0].split() == ["A", "f_A", "B", "f_B", "right"]
    assert wrong.splitlines()[0].split() == ["A", "f_A", "B", "f_B", "2", "wrong"]
    assert unjudged.splitlines()[0].split() == ["A", "f_A", "B", "f_B", "predicted"]


def test_wide_label_widens_columns():
    output = render(QuizView(known_quiz(), predicted={0}))

    # "A predicted" is 11 characters, wider than a plain grid of 10.
    assert output.splitlines()[0] == "A predicted  f_A          B            f_B"
    assert output.splitlines()[1] == "0123456789   0000000000   0000000000   a000000000"


def test_wrong_cells_highlighted_in_colour():
    output = render(QuizView(known_quiz(), predicted={3}, wrong=wrong_mask((3, 9, 9))), colour=True)

    # The wrong cell at (9, 9) keeps its red background under bold white "XX".
    assert output.splitlines()[-1].endswith("\x1b[1;37;48;2;255;0;0mXX\x1b[0m")
    assert "48;2;220;0;0m" in output.splitlines()[0]


def test_right_label_green_in_colour():
    output = render(QuizView(known_quiz(), predicted={3}, wrong=wrong_mask()), colour=True)

    assert "48;2;0;160;0m" in output.splitlines()[0]
    assert "XX" not in output


# Input validation


def quiz_with(position: int, token: int) -> torch.Tensor:
    quiz = known_quiz().clone()
    quiz[position] = token
    return quiz


@pytest.mark.parametrize(
    ("quiz", "message"),
    [
        (torch.zeros(403, dtype=torch.int64), "has 403 entries; expected 404"),
        (known_quiz().float(), "dtype torch.float32"),
        (known_quiz()[None], r"1-D tensor .* shape \(1, 404\)"),
        (quiz_with(101, 3), "position 101 is 3; a slot must start with a marker"),
        (quiz_with(5, 11), "position 5 is 11; cells must be colour tokens 0..10"),
        (quiz_with(6, -1), "position 6 is -1"),
        (quiz_with(202, 11), "quiz markers are A, f_A, A, f_B"),
        (["x"] * QUIZ_LEN, "position 0 is 'x'; expected an integer"),
        ("not a quiz", "got str"),
    ],
)
def test_bad_quiz_raises(quiz, message):
    with pytest.raises(ValueError, match=message):
        QuizView(quiz)


def test_bad_predicted_slot_raises():
    with pytest.raises(ValueError, match="predicted slot 4 is invalid"):
        QuizView(known_quiz(), predicted={4})


def test_wrong_mask_on_marker_raises():
    mask = torch.zeros(QUIZ_LEN, dtype=torch.bool)
    mask[303] = True

    with pytest.raises(ValueError, match="position 303, a marker"):
        QuizView(known_quiz(), wrong=mask)


def test_wrong_mask_bad_length_raises():
    with pytest.raises(ValueError, match="wrong mask has 405 entries"):
        QuizView(known_quiz(), wrong=torch.zeros(405, dtype=torch.bool))


def test_wrong_mask_bad_value_raises():
    mask = [0] * QUIZ_LEN
    mask[7] = 2

    with pytest.raises(ValueError, match="wrong mask at position 7 is 2"):
        QuizView(known_quiz(), wrong=mask)


# Several quizzes


def test_gallery_separates_quizzes():
    quizzes = torch.stack([known_quiz(), known_quiz()])
    output = render(QuizGallery(quizzes, titles=["first", "second"]))
    lines = output.splitlines()

    assert lines[0] == "first"
    assert lines[12] == ""
    assert lines[13] == "second"
    assert len(lines) == 25


def test_gallery_title_count_raises():
    with pytest.raises(ValueError, match="got 1 titles for 2 quizzes"):
        QuizGallery(torch.stack([known_quiz(), known_quiz()]), titles=["only one"])


def test_gallery_one_dimensional_raises():
    with pytest.raises(ValueError, match=r"2-D \(N, 404\) tensor"):
        QuizGallery(known_quiz())


# The show-quiz command


runner = CliRunner()
GROW_ARGS = ["show-quiz", "--task", "grow", "--n", "2", "--seed", "3"]


def test_cli_prints_plain_grids():
    result = runner.invoke(app, GROW_ARGS)

    assert result.exit_code == 0, result.output
    assert ESCAPE not in result.output
    assert result.output.count("quiz ") == 2
    assert "quiz 1: grow, structure (A, f_A, B, f_B), predicts f_B" in result.output


def test_cli_same_seed_same_output():
    first = runner.invoke(app, GROW_ARGS)
    second = runner.invoke(app, GROW_ARGS)
    other_seed = runner.invoke(app, GROW_ARGS[:-1] + ["4"])

    assert first.output == second.output
    assert first.output != other_seed.output


def test_cli_task_list():
    result = runner.invoke(app, ["show-quiz", "--task", "frame,detect", "--n", "6", "--seed", "1"])
    titles = [line for line in result.output.splitlines() if line.startswith("quiz ")]
    tasks = {title.split(":")[1].split(",")[0].strip() for title in titles}

    assert result.exit_code == 0, result.output
    assert len(titles) == 6
    assert tasks <= {"frame", "detect"}


@pytest.mark.parametrize(
    ("structure", "order"),
    [
        ("B", ["f_A", "A", "f_B", "B"]),
        ("A", ["f_B", "B", "f_A", "A"]),
        ("f_B,f_A,A,B", ["f_B", "f_A", "A", "B"]),
    ],
)
def test_cli_structure_reorders_slots(structure, order):
    default = runner.invoke(app, GROW_ARGS)
    reordered = runner.invoke(app, GROW_ARGS + ["--structure", structure])
    default_quizzes = parse_plain_quizzes(default.output)
    reordered_quizzes = parse_plain_quizzes(reordered.output)

    assert reordered.exit_code == 0, reordered.output
    assert f"structure ({', '.join(order)})" in reordered.output
    assert list(reordered_quizzes[0]) == order
    assert reordered_quizzes == default_quizzes


def test_cli_bad_structure_raises():
    result = runner.invoke(app, GROW_ARGS + ["--structure", "A,B"])

    assert result.exit_code != 0
    assert isinstance(result.exception, CulturectlError)
    assert "invalid --structure 'A,B'" in str(result.exception)


def test_cli_unknown_task_raises():
    result = runner.invoke(app, ["show-quiz", "--task", "nope"])

    assert result.exit_code != 0
    assert isinstance(result.exception, CulturectlError)
    assert "unknown task nope" in str(result.exception)
    assert "grow" in str(result.exception)


def test_main_unknown_task_one_line():
    completed = subprocess.run(
        [sys.executable, "-m", "culturectl", "show-quiz", "--task", "nope"],
        capture_output=True, text=True, timeout=120,
    )

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith("error: invalid --task 'nope'")
    assert "valid tasks:" in completed.stderr
    assert "replace_color" in completed.stderr


def test_cli_skips_interpretability_imports():
    script = textwrap.dedent(
        """
        import sys
        sys.argv = ["culturectl", "show-quiz", "--n", "1"]
        import culturectl.cli
        try:
            culturectl.cli.main()
        except SystemExit as exit:
            assert not exit.code, exit.code
        loaded = sorted(name for name in ("transformer_lens", "sae_lens") if name in sys.modules)
        print("loaded:", loaded)
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "loaded: []"
    assert "quiz 1:" in completed.stdout
