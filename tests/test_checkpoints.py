"""Checkpoint files: the original `gpt_NNN.pth` and `c_quizzes.pth`, our safetensors
format, and the errors raised for damaged or foreign files."""

from __future__ import annotations

import collections
import json
import random

import pytest
import torch
from safetensors.torch import load_file

from culturectl.checkpoints import load_checkpoint, save_original, save_safetensors
from culturectl.errors import CulturectlError
from vendor_culture.mygpt import MyGPT, MyGPTConfig

LOGITS_ATOL = 1e-5
TINY_ACCURACY = 0.8125
TINY_CONFIG = MyGPTConfig(dim_model=32, dim_keys=12, dim_hidden=48, nb_heads=4, nb_blocks=2)


class OpaqueObject:
    """A class that `torch.load(weights_only=True)` rejects. It is defined at module level
    so that pickle can store a reference to it."""

    def __init__(self):
        self.payload = [1, 2, 3]


@pytest.fixture(scope="module")
def tiny_io(data_dir) -> dict[str, torch.Tensor]:
    """Quizzes and logits of the tiny reference model."""
    return load_file(data_dir / "mygpt_tiny_io.safetensors")


@pytest.fixture(scope="module")
def tiny_metadata(data_dir) -> dict:
    return json.loads((data_dir / "mygpt_tiny.json").read_text())


@pytest.fixture
def original_content(data_dir):
    """The (state_dict, accuracy) tuple stored in gpt_000.pth."""
    return torch.load(data_dir / "gpt_000.pth", map_location="cpu", weights_only=True)


@pytest.fixture
def tiny_model(data_dir) -> MyGPT:
    """The tiny reference model, built without going through culturectl.checkpoints."""
    model = MyGPT(TINY_CONFIG)
    model.load_state_dict(load_file(data_dir / "mygpt_tiny.safetensors"), strict=True)
    return model.eval()


def assert_same_weights(model: MyGPT, expected: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert sorted(state) == sorted(expected)
    for key, tensor in expected.items():
        assert torch.equal(state[key], tensor), key


# The original formats, read directly.


def test_gpt_000_is_state_dict_and_accuracy(original_content, data_dir, tiny_metadata):
    assert isinstance(original_content, tuple)
    assert len(original_content) == 2
    state_dict, accuracy = original_content

    assert isinstance(state_dict, collections.OrderedDict)
    assert list(state_dict) == tiny_metadata["key_order"]
    reference = load_file(data_dir / "mygpt_tiny.safetensors")
    for key, tensor in reference.items():
        assert torch.equal(state_dict[key], tensor), key
    assert accuracy.dtype == torch.float32
    assert accuracy.dim() == 0
    assert accuracy.item() == TINY_ACCURACY


def test_c_quizzes_loads_with_weights_only(data_dir):
    recorded = json.loads((data_dir / "checkpoints.json").read_text())["c_quizzes.pth"]

    content = torch.load(data_dir / "c_quizzes.pth", map_location="cpu", weights_only=True)

    assert isinstance(content, tuple)
    assert len(content) == 2
    train, test = content
    assert isinstance(train, list)
    assert isinstance(test, list)
    assert [list(t.shape) for t in train] == recorded["train_shapes"]
    assert [list(t.shape) for t in test] == recorded["test_shapes"]


def test_c_quizzes_are_world_quizzes(data_dir):
    train, test = torch.load(data_dir / "c_quizzes.pth", map_location="cpu", weights_only=True)

    for quizzes in train + test:
        assert quizzes.dtype == torch.int64
        assert quizzes.size(1) == 404
        slots = quizzes.view(-1, 4, 101)
        assert torch.equal(slots[:, :, 0], torch.tensor([[11, 12, 13, 14]]).expand(len(quizzes), 4))
        assert slots[:, :, 1:].min() >= 0
        assert slots[:, :, 1:].max() <= 10


# Loading through culturectl.checkpoints.


def test_load_gpt_000_builds_tiny_model(data_dir):
    loaded = load_checkpoint(data_dir / "gpt_000.pth")

    assert loaded.config == TINY_CONFIG
    assert not loaded.model.training
    assert loaded.path == data_dir / "gpt_000.pth"
    manifest = json.loads((data_dir / "manifest.json").read_text())
    assert loaded.sha256 == manifest["files"]["gpt_000.pth"]["sha256"]


def test_load_gpt_000_reads_accuracy(data_dir):
    loaded = load_checkpoint(data_dir / "gpt_000.pth")

    assert loaded.metadata["main_test_accuracy"] == TINY_ACCURACY


def test_load_gpt_000_reproduces_logits(data_dir, tiny_io):
    loaded = load_checkpoint(str(data_dir / "gpt_000.pth"))

    with torch.no_grad():
        logits = loaded.model(tiny_io["tokens"])

    torch.testing.assert_close(logits, tiny_io["logits"], atol=LOGITS_ATOL, rtol=0)


def test_load_fork_layout_keys(tmp_path, original_content, tiny_metadata, tiny_io):
    # The fork's MyGPT nests each top-level module once more, adding one `.f` per key.
    state_dict, accuracy = original_content
    fork_keys = tiny_metadata["fork_keys_equivalent"]
    fork_state = collections.OrderedDict(
        (fork_keys[key], value) for key, value in state_dict.items()
    )
    path = tmp_path / "gpt_000.pth"
    torch.save((fork_state, accuracy), path)

    loaded = load_checkpoint(path)

    with torch.no_grad():
        logits = loaded.model(tiny_io["tokens"])
    torch.testing.assert_close(logits, tiny_io["logits"], atol=LOGITS_ATOL, rtol=0)


# Round trips through our writers.


def test_safetensors_round_trip(tmp_path, tiny_model, data_dir, tiny_io):
    path = tmp_path / "gpt_003.safetensors"

    save_safetensors(path, tiny_model, metadata={"source": "round-trip test"})
    loaded = load_checkpoint(path, model_id=3)

    assert loaded.model_id == 3
    assert loaded.config == TINY_CONFIG
    assert_same_weights(loaded.model, load_file(data_dir / "mygpt_tiny.safetensors"))
    with torch.no_grad():
        logits = loaded.model(tiny_io["tokens"])
    torch.testing.assert_close(logits, tiny_io["logits"], atol=LOGITS_ATOL, rtol=0)


def test_safetensors_writes_config_json(tmp_path, tiny_model):
    path = tmp_path / "gpt_003.safetensors"

    save_safetensors(path, tiny_model, metadata={"source": "round-trip test"})

    record = json.loads((tmp_path / "gpt_003.json").read_text())
    assert record["format"] == "culturectl-mygpt"
    assert record["format_version"] == 1
    assert record["config"] == TINY_CONFIG.to_dict()
    assert record["source"] == "round-trip test"
    assert sorted(load_file(path)) == sorted(tiny_model.state_dict())


def test_safetensors_without_json_infers_shape(tmp_path, tiny_model, data_dir):
    path = tmp_path / "gpt_003.safetensors"
    save_safetensors(path, tiny_model)
    (tmp_path / "gpt_003.json").unlink()

    loaded = load_checkpoint(path)

    assert loaded.config == TINY_CONFIG
    assert_same_weights(loaded.model, load_file(data_dir / "mygpt_tiny.safetensors"))


def test_original_format_round_trip(tmp_path, tiny_model, data_dir):
    path = tmp_path / "gpt_004.pth"

    save_original(path, tiny_model, accuracy=0.75)
    loaded = load_checkpoint(path)

    assert loaded.config == TINY_CONFIG
    assert loaded.metadata["main_test_accuracy"] == 0.75
    assert_same_weights(loaded.model, load_file(data_dir / "mygpt_tiny.safetensors"))


def test_original_format_written_as_tuple(tmp_path, tiny_model, tiny_metadata):
    path = tmp_path / "gpt_004.pth"

    save_original(path, tiny_model, accuracy=0.75)

    state_dict, accuracy = torch.load(path, map_location="cpu", weights_only=True)
    assert list(state_dict) == tiny_metadata["key_order"]
    assert accuracy.dtype == torch.float32
    assert accuracy.dim() == 0
    assert accuracy.item() == 0.75


# Damaged and foreign files. Each writer returns the path of the bad file.


def write_random_bytes(tmp_path, data_dir, original_content):
    path = tmp_path / "gpt_000.pth"
    path.write_bytes(random.Random(0).randbytes(4096))
    return path


def write_empty_file(tmp_path, data_dir, original_content):
    path = tmp_path / "gpt_000.pth"
    path.write_bytes(b"")
    return path


def write_truncated_checkpoint(tmp_path, data_dir, original_content):
    content = (data_dir / "gpt_000.pth").read_bytes()
    path = tmp_path / "gpt_000.pth"
    path.write_bytes(content[: len(content) // 2])
    return path


def write_arbitrary_object(tmp_path, data_dir, original_content):
    path = tmp_path / "gpt_000.pth"
    torch.save((OpaqueObject(), torch.tensor(0.5)), path)
    return path


def write_non_checkpoint_pickle(tmp_path, data_dir, original_content):
    path = tmp_path / "gpt_000.pth"
    torch.save({"a": set()}, path)
    return path


def write_wrong_keys(tmp_path, data_dir, original_content):
    state_dict, accuracy = original_content
    renamed = collections.OrderedDict(
        (key.replace("trunk.", "layers."), value) for key, value in state_dict.items()
    )
    path = tmp_path / "gpt_000.pth"
    torch.save((renamed, accuracy), path)
    return path


def write_missing_key(tmp_path, data_dir, original_content):
    state_dict, accuracy = original_content
    del state_dict["readout.f.bias"]
    path = tmp_path / "gpt_000.pth"
    torch.save((state_dict, accuracy), path)
    return path


def write_extra_key(tmp_path, data_dir, original_content):
    state_dict, accuracy = original_content
    state_dict["trunk.0.f.1.b_q"] = torch.zeros(4, 12)
    path = tmp_path / "gpt_000.pth"
    torch.save((state_dict, accuracy), path)
    return path


def write_wrong_shape(tmp_path, data_dir, original_content):
    state_dict, accuracy = original_content
    state_dict["trunk.1.f.f.4.bias"] = torch.zeros(5)
    path = tmp_path / "gpt_000.pth"
    torch.save((state_dict, accuracy), path)
    return path


def write_corrupt_safetensors(tmp_path, data_dir, original_content):
    path = tmp_path / "gpt_000.safetensors"
    path.write_bytes(random.Random(1).randbytes(4096))
    return path


def write_truncated_safetensors(tmp_path, data_dir, original_content):
    content = (data_dir / "mygpt_tiny.safetensors").read_bytes()
    path = tmp_path / "gpt_000.safetensors"
    path.write_bytes(content[: len(content) // 2])
    return path


def missing_file(tmp_path, data_dir, original_content):
    return tmp_path / "gpt_009.pth"


BAD_FILES = [
    write_random_bytes,
    write_empty_file,
    write_truncated_checkpoint,
    write_arbitrary_object,
    write_non_checkpoint_pickle,
    write_wrong_keys,
    write_missing_key,
    write_extra_key,
    write_wrong_shape,
    write_corrupt_safetensors,
    write_truncated_safetensors,
    missing_file,
]


@pytest.mark.parametrize("write_bad_file", BAD_FILES, ids=lambda writer: writer.__name__)
def test_bad_file_raises_error_naming_it(tmp_path, data_dir, original_content, write_bad_file):
    path = write_bad_file(tmp_path, data_dir, original_content)

    with pytest.raises(CulturectlError) as raised:
        load_checkpoint(path)

    message = str(raised.value)
    assert str(path) in message
    assert "\n" not in message
    assert "Traceback" not in message
    # Printable also rules out terminal escape codes copied from another library's message.
    assert message.isprintable(), repr(message)


def test_wrong_shape_error_names_tensor(tmp_path, data_dir, original_content):
    path = write_wrong_shape(tmp_path, data_dir, original_content)

    with pytest.raises(CulturectlError) as raised:
        load_checkpoint(path)

    assert "trunk.1.f.f.4.bias" in str(raised.value)
    assert "(5,)" in str(raised.value)


def test_missing_key_error_names_tensor(tmp_path, data_dir, original_content):
    path = write_missing_key(tmp_path, data_dir, original_content)

    with pytest.raises(CulturectlError) as raised:
        load_checkpoint(path)

    assert "readout.f.bias" in str(raised.value)


def test_extra_key_error_names_tensor(tmp_path, data_dir, original_content):
    path = write_extra_key(tmp_path, data_dir, original_content)

    with pytest.raises(CulturectlError) as raised:
        load_checkpoint(path)

    assert "trunk.0.f.1.b_q" in str(raised.value)


@pytest.mark.parametrize(
    "write_bad_file",
    [write_random_bytes, write_empty_file, write_truncated_checkpoint],
    ids=lambda writer: writer.__name__,
)
def test_corrupt_file_reported_as_corrupt(tmp_path, data_dir, original_content, write_bad_file):
    path = write_bad_file(tmp_path, data_dir, original_content)

    with pytest.raises(CulturectlError) as raised:
        load_checkpoint(path)

    message = str(raised.value)
    assert "corrupt" in message
    # Advice to retry with weights_only=False is wrong for a damaged file, and unsafe.
    assert "weights_only" not in message
