"""culturectl generation: completion of world quizzes, culture runs, quiz files, PNG and
SVG sheets, the `generate` and `show-quiz --file` commands, and the TransformerLens backend."""

from __future__ import annotations

import json
import os
import shutil
import struct
import xml.etree.ElementTree as ElementTree
import zlib
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from culturectl.checkpoints import BUNDLED_DIR, checkpoints_in, load_checkpoint, save_original
from culturectl.cli import app
from culturectl.errors import CulturectlError
from culturectl.generation import (
    complete_world_quizzes,
    displayable_quizzes,
    load_culture_quizzes,
    load_quiz_file,
    reorder_slots,
    run_culture,
    save_quiz_file,
)
from culturectl.render_image import (
    CELL_PIXELS, FRAME_PIXELS, FRAME_RIGHT, FRAME_WRONG, GRID_PIXELS, MARGIN_PIXELS, TILE_PIXELS,
    SheetLayout, png_bytes, sheet_pixels, write_png, write_svg,
)
from vendor_culture.culture import REASON_NAMES, KeepRule
from vendor_culture.mygpt import MyGPT, MyGPTConfig
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import (
    MARKER_TOKENS, QUIZ_LEN, SLOT_LEN, STRUCTURE_BY_PREDICTED, WORLD_STRUCT, reconfigure,
)
from vendor_culture.world import generate_world_quizzes

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory, data_dir):
    """A folder of three checkpoints: the reference gpt_000 and two random small MyGPTs."""
    folder = tmp_path_factory.mktemp("checkpoints")
    shutil.copy(data_dir / "gpt_000.pth", folder / "gpt_000.pth")
    for model_id in (1, 2):
        torch.manual_seed(model_id)
        config = MyGPTConfig(dim_model=32, dim_keys=8, dim_hidden=48, nb_heads=4, nb_blocks=2)
        save_original(folder / f"gpt_{model_id:03d}.pth", MyGPT(config))
    return folder


@pytest.fixture(scope="module")
def culture_models(checkpoint_dir):
    """(ids, models): the bundled models when they are installed, else `checkpoint_dir`."""
    found = checkpoints_in(BUNDLED_DIR) if BUNDLED_DIR.is_dir() else {}
    if len(found) < 3:
        found = checkpoints_in(checkpoint_dir)
    ids = sorted(found)
    return ids, [load_checkpoint(found[model_id], model_id).model for model_id in ids]


@pytest.fixture(scope="module")
def reference_model(data_dir):
    return load_checkpoint(data_dir / "gpt_000.pth", 0).model


def without_timing(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key not in ("seconds", "kept_per_hour")}


# ---------------------------------------------------------------------------
# Completion


def test_completion_marks_right_and_wrong(reference_model):
    structure = STRUCTURE_BY_PREDICTED["B"]
    completion = complete_world_quizzes([reference_model], [0], 4, RELEASED_TASKS, structure, temperature=0.0)
    prediction = completion.predictions[0]

    assert prediction.shape == (4, QUIZ_LEN)
    assert torch.equal(prediction[~completion.ar_mask], completion.truth[~completion.ar_mask])
    wrong = completion.wrong(0)
    assert not bool(wrong[~completion.ar_mask].any())
    assert torch.equal(wrong, (prediction != completion.truth) & completion.ar_mask)
    assert torch.equal(completion.right(0), ~wrong.any(dim=1))


def test_completion_quizzes_are_show_quiz_quizzes(reference_model):
    structure = STRUCTURE_BY_PREDICTED["f_A"]
    completion = complete_world_quizzes([reference_model], [0], 3, ["grow", "frame"], structure, seed=5)
    world, tasks = generate_world_quizzes(3, ["grow", "frame"], torch.Generator().manual_seed(5), return_tasks=True)

    assert torch.equal(completion.truth, reconfigure(world, structure.struct))
    assert completion.tasks == [["grow", "frame"][i] for i in tasks.tolist()]


def test_completion_same_seed_same_answers(reference_model):
    structure = STRUCTURE_BY_PREDICTED["f_B"]
    first = complete_world_quizzes([reference_model], [0], 3, RELEASED_TASKS, structure, 1.0, seed=2)
    second = complete_world_quizzes([reference_model], [0], 3, RELEASED_TASKS, structure, 1.0, seed=2)
    other = complete_world_quizzes([reference_model], [0], 3, RELEASED_TASKS, structure, 1.0, seed=3)
    assert torch.equal(first.predictions[0], second.predictions[0])
    assert not torch.equal(first.predictions[0], other.predictions[0])


def test_completion_summary_counts(reference_model):
    structure = STRUCTURE_BY_PREDICTED["f_B"]
    completion = complete_world_quizzes([reference_model, reference_model], [0, 7], 3, ["frame"], structure, 0.0)
    summary = completion.summary()

    assert [record["model"] for record in summary["models"]] == [0, 7]
    assert summary["models"][0]["right"] == int(completion.right(0).sum())
    assert summary["predicted"] == ["f_B"]
    assert [quiz["task"] for quiz in summary["quizzes"]] == ["frame"] * 3
    # The same model gives the same greedy answers under both ids.
    assert torch.equal(completion.predictions[0], completion.predictions[1])


# ---------------------------------------------------------------------------
# Culture runs


@pytest.fixture(scope="module")
def culture_run(culture_models):
    ids, models = culture_models
    return run_culture(models, ids, n_keep=100, max_rounds=len(ids), seed=3, nb_per_round=4)


def test_culture_run_validates_candidates(culture_run, culture_models):
    ids, _ = culture_models
    summary = culture_run.summary()

    assert summary["rounds"] == len(ids)
    assert summary["candidates"] == 4 * len(ids)
    assert summary["validated"] > 0
    assert summary["trivial"] + summary["validated"] == summary["candidates"]
    assert summary["kept"] + sum(summary["rejected"].values()) == summary["validated"]
    assert set(summary["rejected"]) == set(REASON_NAMES) - {"kept"}
    assert sum(summary["failing_histogram"]) == summary["validated"]
    assert len(summary["failing_histogram"]) == len(ids) + 1


def test_culture_run_rotates_generating_models(culture_run, culture_models):
    ids, _ = culture_models
    per_generator = culture_run.summary()["per_generating_model"]

    assert list(per_generator) == [str(model_id) for model_id in ids]
    assert sum(entry["validated"] for entry in per_generator.values()) == culture_run.validated
    assert sum(entry["kept"] for entry in per_generator.values()) == culture_run.kept
    # One round per model: each wrote 4 candidates, so none validated more than 4.
    assert all(entry["validated"] <= 4 for entry in per_generator.values())


def test_culture_run_kept_quizzes_match_counts(culture_run, culture_models):
    ids, _ = culture_models
    kept = culture_run.quizzes()
    probabilities = culture_run.probabilities()

    assert kept.shape == (culture_run.kept, QUIZ_LEN)
    assert probabilities.shape == (culture_run.kept, len(ids))
    assert len(culture_run.kept_generators) == culture_run.kept
    failing = (probabilities <= culture_run.rule.fails).sum(dim=0).tolist()
    assert failing == culture_run.failing_in_kept


def test_culture_run_same_seed_same_output(culture_run, culture_models):
    ids, models = culture_models
    again = run_culture(models, ids, n_keep=100, max_rounds=len(ids), seed=3, nb_per_round=4)

    assert without_timing(again.summary()) == without_timing(culture_run.summary())
    assert torch.equal(again.quizzes(), culture_run.quizzes())


def test_culture_run_keeps_with_permissive_rule(culture_models):
    ids, models = culture_models
    # Every probability is at most 1, so every model fails and every validated quiz is kept.
    rule = KeepRule(understands=1.0, fails=1.0 - 1e-12, min_failing=0, max_failing=len(ids))
    run = run_culture(models[:2], ids[:2], n_keep=3, max_rounds=3, seed=0, rule=rule, nb_per_round=3,
                      nb_averaging_rounds=1, generating_ids=[ids[1]])

    assert run.kept >= 3
    assert run.kept_by_generator == {ids[1]: run.kept}
    assert set(run.kept_generators) == {ids[1]}
    assert run.failing_in_kept == [run.kept, run.kept]


def test_culture_run_rejects_unselected_generator(culture_models):
    ids, models = culture_models
    with pytest.raises(CulturectlError, match="not among the selected models"):
        run_culture(models[:1], ids[:1], n_keep=1, max_rounds=1, generating_ids=[ids[1]])


# ---------------------------------------------------------------------------
# Quiz files


@pytest.fixture(scope="module")
def world_quizzes():
    return generate_world_quizzes(5, RELEASED_TASKS, torch.Generator().manual_seed(8))


def test_saved_pth_loads_weights_only(tmp_path, world_quizzes):
    path = tmp_path / "c_quizzes.pth"
    save_quiz_file(path, world_quizzes[:3], world_quizzes[3:])

    train_list, test_list = torch.load(path, weights_only=True)
    assert isinstance(train_list, list) and isinstance(test_list, list)
    assert torch.equal(torch.cat(train_list), world_quizzes[:3])
    assert torch.equal(torch.cat(test_list), world_quizzes[3:])
    assert all(t.dtype == torch.int64 for t in train_list + test_list)


def test_saved_quizzes_are_in_world_structure(tmp_path, world_quizzes):
    path = tmp_path / "moved.pth"
    moved = reconfigure(world_quizzes, ("f_B", "B", "f_A", "A"))
    save_quiz_file(path, moved[:2], moved[2:])

    loaded = load_culture_quizzes(path)
    assert torch.equal(loaded.train, world_quizzes[:2])
    assert torch.equal(loaded.test, world_quizzes[2:])


def test_safetensors_round_trip(tmp_path, world_quizzes):
    path = tmp_path / "quizzes.safetensors"
    probabilities = torch.rand(3, 5)
    save_quiz_file(path, world_quizzes[:2], world_quizzes[2:], {"test_probabilities": probabilities}, {"seed": 4})

    loaded = load_quiz_file(path)
    assert torch.equal(loaded.train, world_quizzes[:2])
    assert torch.equal(loaded.test, world_quizzes[2:])
    assert torch.equal(loaded.extras["test_probabilities"], probabilities)
    assert loaded.metadata == {"seed": 4}
    assert torch.equal(load_culture_quizzes(path).test, world_quizzes[2:])


def test_original_c_quizzes_file_loads(data_dir):
    train_list, test_list = torch.load(data_dir / "c_quizzes.pth", weights_only=True)
    loaded = load_culture_quizzes(data_dir / "c_quizzes.pth")
    assert torch.equal(loaded.train, torch.cat(train_list))
    assert torch.equal(loaded.test, torch.cat(test_list))
    assert loaded.test.shape == (2, QUIZ_LEN)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"weights": torch.zeros(2)}, "not a culture quiz file"),
        (([torch.zeros(2, 10, dtype=torch.int64)], []), r"shape \(2, 10\)"),
        (([torch.zeros(1, QUIZ_LEN, dtype=torch.int64)], []), "markers are not A, f_A, B, f_B"),
        (([torch.zeros(1, QUIZ_LEN)], []), "dtype torch.float32"),
        (([], [], []), "not a culture quiz file"),
        (([torch.zeros(QUIZ_LEN, dtype=torch.int64)], []), r"shape \(404,\)"),
        (("quizzes", []), "the train entry is not a list of tensors"),
        ((SimpleNamespace(payload=1), []), "rejected, the file contains objects other than tensors"),
    ],
)
def test_invalid_quiz_files_rejected(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    torch.save(content, path)
    with pytest.raises(CulturectlError, match=message):
        load_culture_quizzes(path)


def test_corrupt_and_missing_quiz_files_rejected(tmp_path, world_quizzes):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a zip file")
    with pytest.raises(CulturectlError, match="corrupt"):
        load_culture_quizzes(corrupt)
    truncated = tmp_path / "truncated.pth"
    torch.save(([world_quizzes], [world_quizzes]), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(CulturectlError, match="corrupt or truncated"):
        load_culture_quizzes(truncated)
    with pytest.raises(CulturectlError, match="not found"):
        load_culture_quizzes(tmp_path / "missing.pth")

    quizzes = world_quizzes.clone()
    quizzes[0, 5] = 15
    torch.save(([quizzes], [quizzes]), tmp_path / "token.pth")
    with pytest.raises(CulturectlError, match="train quiz 0 is invalid: a cell is outside the vocabulary"):
        load_culture_quizzes(tmp_path / "token.pth")
    with pytest.raises(CulturectlError, match="unsupported quiz file suffix"):
        save_quiz_file(tmp_path / "quizzes.npy", world_quizzes, world_quizzes)


def test_reorder_slots_moves_companions(world_quizzes):
    wrong = torch.zeros_like(world_quizzes, dtype=torch.bool)
    wrong[:, 3 * SLOT_LEN + 1] = True  # first cell of f_B in (A, f_A, B, f_B)
    struct = ("f_B", "B", "f_A", "A")
    moved, moved_wrong = reorder_slots(world_quizzes, struct, wrong)

    assert torch.equal(moved, reconfigure(world_quizzes, struct))
    assert moved_wrong[:, 1].all()
    assert int(moved_wrong.sum()) == world_quizzes.size(0)


def test_displayable_replaces_marker_cells(world_quizzes):
    quizzes = world_quizzes.clone()
    quizzes[0, 7] = MARKER_TOKENS["B"]
    shown, invalid = displayable_quizzes(quizzes)
    assert shown[0, 7] == 0
    assert invalid.nonzero().tolist() == [[0, 7]]
    assert torch.equal(shown[:, ::SLOT_LEN], quizzes[:, ::SLOT_LEN])


# ---------------------------------------------------------------------------
# PNG and SVG sheets


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """Return (width, height, bit depth, colour type) from the IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour_type


def decode_png(data: bytes) -> torch.Tensor:
    """Decode an 8-bit RGB PNG with filter 0 on every row, as png_bytes writes it."""
    width, height, _, _ = png_header(data)
    position, idat = 8, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        payload = data[position + 8 : position + 8 + length]
        crc = struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0]
        assert crc == zlib.crc32(kind + payload)
        if kind == b"IDAT":
            idat += payload
        position += 12 + length
    rows = torch.frombuffer(bytearray(zlib.decompress(idat)), dtype=torch.uint8).view(height, 1 + 3 * width)
    assert bool((rows[:, 0] == 0).all())
    return rows[:, 1:].reshape(height, width, 3)


def test_png_is_valid(tmp_path, world_quizzes):
    path = tmp_path / "sheet.png"
    write_png(path, world_quizzes)
    data = path.read_bytes()

    width, height, depth, colour_type = png_header(data)
    assert (width, height) == SheetLayout(world_quizzes).size()
    assert (depth, colour_type) == (8, 2)
    assert data.endswith(b"IEND\xaeB`\x82")
    assert decode_png(data).shape == (height, width, 3)


def test_png_round_trips_pixels():
    image = torch.randint(0, 256, (7, 5, 3), dtype=torch.uint8)
    assert torch.equal(decode_png(png_bytes(image)), image)


def test_png_frames_and_palette(world_quizzes):
    quizzes = world_quizzes[:2]
    wrong = torch.zeros_like(quizzes, dtype=torch.bool)
    wrong[1, 3 * SLOT_LEN + 1] = True  # quiz 2 gets one wrong cell in f_B
    image = sheet_pixels(SheetLayout(quizzes, predicted=[3], wrong=wrong))
    layout = SheetLayout(quizzes, predicted=[3], wrong=wrong)

    for quiz, expected in ((0, FRAME_RIGHT), (1, FRAME_WRONG)):
        x, y = layout.origin(quiz)
        frame_x = x + 3 * TILE_PIXELS + MARGIN_PIXELS
        assert image[y + MARGIN_PIXELS, frame_x].tolist() == list(expected)
        # The frame of a given grid is white.
        assert image[y + MARGIN_PIXELS, x + MARGIN_PIXELS].tolist() == [255, 255, 255]

    # The centre pixel of every cell of quiz 1's grid A has the cell's exact palette colour.
    from vendor_culture.tokens import COLOR_RGB

    x, y = layout.origin(0)
    left, top = x + MARGIN_PIXELS + FRAME_PIXELS, y + MARGIN_PIXELS + FRAME_PIXELS
    assert image[top, left].tolist() == [64, 64, 64]  # the grid line
    for index, token in enumerate(quizzes[0, 1:SLOT_LEN].tolist()):
        row, column = divmod(index, 10)
        centre = image[top + row * CELL_PIXELS + CELL_PIXELS // 2 + 1, left + column * CELL_PIXELS + CELL_PIXELS // 2 + 1]
        assert centre.tolist() == list(COLOR_RGB[token])
    assert GRID_PIXELS == 10 * CELL_PIXELS + 1


def test_png_draws_in_world_order(world_quizzes):
    moved = reconfigure(world_quizzes[:1], ("f_B", "B", "f_A", "A"))
    assert torch.equal(sheet_pixels(SheetLayout(moved)), sheet_pixels(SheetLayout(world_quizzes[:1])))


def test_svg_parses(tmp_path, world_quizzes):
    path = tmp_path / "sheet.svg"
    wrong = torch.zeros_like(world_quizzes, dtype=torch.bool)
    wrong[0, 3 * SLOT_LEN + 5] = True
    quizzes = world_quizzes.clone()
    quizzes[1, 3 * SLOT_LEN + 6] = MARKER_TOKENS["A"]  # a non-colour cell, drawn as an X
    titles = [f"quiz <{n}> & co" for n in range(5)]
    write_svg(path, quizzes, predicted=[3], wrong=wrong, titles=titles)

    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{SVG_NAMESPACE}svg"
    width, height = SheetLayout(quizzes).size(18)
    assert (int(root.get("width")), int(root.get("height"))) == (width, height)
    texts = [element.text for element in root.iter(f"{SVG_NAMESPACE}text")]
    assert texts == titles
    # Per grid: frame, line background and 100 cells; plus the sheet background and one ring.
    rects = list(root.iter(f"{SVG_NAMESPACE}rect"))
    assert len(rects) == 1 + 5 * 4 * 102 + 1
    assert len(list(root.iter(f"{SVG_NAMESPACE}path"))) == 1
    assert [element.text for element in root.iter(f"{SVG_NAMESPACE}title")][:4] == list(WORLD_STRUCT)


def test_sheet_rejects_bad_input(world_quizzes):
    with pytest.raises(ValueError, match="predicted slot"):
        SheetLayout(world_quizzes, predicted=[4])
    with pytest.raises(ValueError, match="wrong mask"):
        SheetLayout(world_quizzes, wrong=torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="markers"):
        SheetLayout(torch.zeros(1, QUIZ_LEN, dtype=torch.int64))


# ---------------------------------------------------------------------------
# The commands


def test_generate_cli_json(tmp_path, checkpoint_dir):
    out = tmp_path / "done.safetensors"
    result = runner.invoke(app, [
        "generate", "--checkpoints", str(checkpoint_dir), "--models", "0,1", "--n", "3",
        "--temperature", "0", "--structure", "B", "--json", "--out", str(out), "--png", str(tmp_path / "done.png"),
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["mode"] == "complete"
    assert summary["predicted"] == ["B"]
    assert [record["model"] for record in summary["models"]] == [0, 1]
    assert "right" in result.stderr

    saved = load_quiz_file(out)
    assert saved.test.shape == (6, QUIZ_LEN)
    assert saved.extras["test_wrong"].shape == (6, QUIZ_LEN)
    assert saved.metadata["summary"]["predicted"] == ["B"]
    assert json.loads(out.with_suffix(".json").read_text())["seed"] == 0
    assert (tmp_path / "done.png").read_bytes()[:8] == PNG_SIGNATURE


def test_generate_cli_draws_answers(checkpoint_dir):
    result = runner.invoke(app, ["generate", "--checkpoints", str(checkpoint_dir), "--n", "2", "--temperature", "0"])
    assert result.exit_code == 0, result.output
    assert "gpt_000 quiz 1:" in result.stdout
    assert "gpt_000 quiz 2:" in result.stdout


def test_generate_cli_culture(tmp_path, checkpoint_dir):
    out = tmp_path / "c_quizzes.pth"
    args = [
        "generate", "--culture", "--checkpoints", str(checkpoint_dir), "--models", "0-2", "--n", "2",
        "--per-round", "3", "--max-rounds", "3", "--averaging-rounds", "1", "--json", "--out", str(out),
        "--seed", "4", "--svg", str(tmp_path / "kept.svg"),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["mode"] == "culture"
    assert summary["validated"] > 0
    assert summary["rule"] == {"understands": 0.95, "fails": 0.5, "min_failing": 1, "max_failing": 2}
    assert set(summary["per_generating_model"]) == {"0", "1", "2"}
    assert "culture run:" in first.stderr

    train_list, test_list = torch.load(out, weights_only=True)
    assert torch.cat(train_list).shape[1] == QUIZ_LEN
    assert torch.cat(train_list).size(0) + torch.cat(test_list).size(0) == summary["saved_train"] + summary["saved_test"]
    ElementTree.parse(tmp_path / "kept.svg")

    second = runner.invoke(app, args)
    assert without_timing(json.loads(second.stdout)) == without_timing(summary)


def test_generate_cli_preset_and_rule_flags(checkpoint_dir):
    result = runner.invoke(app, [
        "generate", "--culture", "--checkpoints", str(checkpoint_dir), "--models", "0-2", "--n", "1",
        "--per-round", "2", "--max-rounds", "1", "--averaging-rounds", "1", "--json",
        "--preset", "all-but-one", "--understands", "0.9", "--fails", "0.2", "--generators", "2",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rule"] == {"understands": 0.9, "fails": 0.2, "min_failing": 1, "max_failing": 1}
    assert summary["generating_models"] == [2]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--culture", "--preset", "most"], "invalid --preset 'most'"),
        (["--culture", "--understands", "0.4"], "invalid keep rule"),
        (["--out", "quizzes.npy"], "suffix must be"),
        (["--structure", "A,B,f_A,f_B"], "invalid --structure"),
        (["--backend", "onnx"], "invalid --backend"),
    ],
)
def test_generate_cli_rejects_bad_options(checkpoint_dir, extra, message):
    result = runner.invoke(app, ["generate", "--checkpoints", str(checkpoint_dir), "--n", "1", *extra])
    assert result.exit_code == 1
    assert message in str(result.exception)


def test_show_quiz_file(tmp_path, world_quizzes):
    path = tmp_path / "saved.pth"
    save_quiz_file(path, world_quizzes[:1], world_quizzes[1:3])
    result = runner.invoke(app, ["show-quiz", "--file", str(path), "--png", str(tmp_path / "s.png"), "--svg", str(tmp_path / "s.svg")])

    assert result.exit_code == 0, result.output
    assert "quiz 1: train 1" in result.stdout
    assert "quiz 3: test 2" in result.stdout
    assert png_header((tmp_path / "s.png").read_bytes())[:2] == SheetLayout(world_quizzes[:3]).size()
    ElementTree.parse(tmp_path / "s.svg")


def test_show_quiz_file_marks_answers(tmp_path, checkpoint_dir):
    out = tmp_path / "done.safetensors"
    generated = runner.invoke(app, [
        "generate", "--checkpoints", str(checkpoint_dir), "--n", "2", "--temperature", "0", "--json", "--out", str(out),
    ])
    assert generated.exit_code == 0, generated.output
    result = runner.invoke(app, ["show-quiz", "--file", str(out), "--n", "1"])
    assert result.exit_code == 0, result.output
    assert "predicts f_B" in result.stdout
    assert "f_B right" in result.stdout or "wrong" in result.stdout


def test_show_quiz_file_and_task_exclusive(tmp_path, data_dir):
    result = runner.invoke(app, ["show-quiz", "--file", str(data_dir / "c_quizzes.pth"), "--task", "grow"])
    assert result.exit_code == 1
    assert "exclude each other" in str(result.exception)


# ---------------------------------------------------------------------------
# MyGPT and converted HookedTransformer give the same results


@pytest.fixture(scope="module")
def hooked_pair(reference_model):
    from culturectl.hooked import HookedQuizModel, to_hooked

    return reference_model, HookedQuizModel(to_hooked(reference_model))


def test_backends_complete_identically(hooked_pair):
    model, hooked = hooked_pair
    structure = STRUCTURE_BY_PREDICTED["f_B"]
    for temperature in (0.0, 1.0):
        from_mygpt = complete_world_quizzes([model], [0], 4, RELEASED_TASKS, structure, temperature, seed=6)
        from_hooked = complete_world_quizzes([hooked], [0], 4, RELEASED_TASKS, structure, temperature, seed=6)
        for n in range(4):
            assert torch.equal(from_mygpt.predictions[0][n], from_hooked.predictions[0][n]), f"quiz {n}, T={temperature}"


def test_backends_run_culture_identically(hooked_pair):
    model, hooked = hooked_pair
    options = dict(n_keep=10, max_rounds=1, seed=2, nb_per_round=3, nb_averaging_rounds=1)
    from_mygpt = run_culture([model, model], [0, 1], **options)
    from_hooked = run_culture([hooked, hooked], [0, 1], **options)

    assert without_timing(from_mygpt.summary()) == without_timing(from_hooked.summary())
    assert torch.equal(from_mygpt.quizzes(), from_hooked.quizzes())


def test_generate_cli_hooked_backend(checkpoint_dir):
    args = ["generate", "--checkpoints", str(checkpoint_dir), "--n", "2", "--temperature", "1", "--json"]
    mygpt = runner.invoke(app, args)
    hooked = runner.invoke(app, [*args, "--backend", "hooked"])
    assert mygpt.exit_code == 0, mygpt.output
    assert hooked.exit_code == 0, hooked.output
    strip = lambda text: [{**record, "seconds": 0} for record in json.loads(text)["models"]]  # noqa: E731
    assert strip(mygpt.stdout) == strip(hooked.stdout)
    assert json.loads(mygpt.stdout)["quizzes"] == json.loads(hooked.stdout)["quizzes"]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_same_seed_same_file_bytes(tmp_path, suffix):
    out = tmp_path / f"quizzes{suffix}"
    contents = []
    for _ in range(2):
        result = runner.invoke(app, ["generate", "--models", "0", "--n", "2", "--seed", "3", "--out", str(out)])
        assert result.exit_code == 0, result.output
        contents.append(out.read_bytes())

    assert contents[0] == contents[1]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
