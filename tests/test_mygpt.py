"""MyGPT against the original: weights, logits, KV-cache decoding, positions, sizes.

The reference models `tiny` and `small` were built and run by the original culture code.
`tiny` has query/key heads of 12 features and value heads of 8, so it also covers the case
dim_keys != dim_model / nb_heads.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from vendor_culture.mygpt import PRESETS, MyGPT, MyGPTConfig, preset_config, sinusoidal_positions

LOGITS_ATOL = 1e-5
POSITIONS_ATOL = 5e-5
LOGPROB_ATOL = 1e-4
# The f_B cells are positions 304..403 of a quiz, right after the f_B marker at 303.
F_B_START = 304
QUIZ_LEN = 404
REFERENCE_MODELS = ("tiny", "small")
CONFIG_FIELDS = (
    "vocabulary_size", "dim_model", "dim_keys", "dim_hidden", "nb_heads", "nb_blocks",
    "dropout", "len_max",
)


def load_reference_model(data_dir, name: str) -> tuple[MyGPT, dict]:
    """Build the reference model `name` from its constructor arguments and load its
    weights strictly. Returns (model in eval mode, metadata)."""
    metadata = json.loads((data_dir / f"mygpt_{name}.json").read_text())
    arguments = metadata["constructor_args"]
    config = MyGPTConfig(**{key: arguments[key] for key in CONFIG_FIELDS})
    model = MyGPT(config)
    model.load_state_dict(load_file(data_dir / f"mygpt_{name}.safetensors"), strict=True)
    return model.eval(), metadata


def shift_right(quizzes: torch.Tensor) -> torch.Tensor:
    """Pad with one 0 on the left and drop the last token, as MyGPT does internally."""
    return F.pad(quizzes[:, :-1], (1, 0), value=0)


def decode_incrementally(model: MyGPT, quizzes: torch.Tensor, prefix: int) -> torch.Tensor:
    """Return logits from a prefill over positions 0..prefix-1 followed by one `step`
    per remaining position."""
    shifted = shift_right(quizzes)
    logits, cache = model.prefill(shifted[:, :prefix])
    pieces = [logits]
    for position in range(prefix, quizzes.size(1)):
        pieces.append(model.step(shifted[:, position : position + 1], cache))
    return torch.cat(pieces, dim=1)


def count_parameters_from_shapes(config: MyGPTConfig) -> int:
    """Count MyGPT parameters from the layer shapes, independently of the module code."""
    d, h = config.dim_model, config.nb_heads
    attention = 2 * d + 2 * h * config.dim_keys * d + h * (d // h) * d + d * d
    mlp = 2 * d + (d * config.dim_hidden + config.dim_hidden) + (config.dim_hidden * d + d)
    embedding = config.vocabulary_size * d
    readout = d * config.vocabulary_size + config.vocabulary_size
    return embedding + config.nb_blocks * (attention + mlp) + readout


@pytest.fixture(scope="module", params=REFERENCE_MODELS)
def reference(request, data_dir):
    """(name, model, metadata, io tensors) for each reference model."""
    model, metadata = load_reference_model(data_dir, request.param)
    io = load_file(data_dir / f"mygpt_{request.param}_io.safetensors")
    return request.param, model, metadata, io


def test_reference_weights_load_strictly(reference):
    name, model, metadata, _ = reference

    # load_state_dict(strict=True) already raised if a key were missing or unexpected.
    assert list(model.state_dict()) == metadata["key_order"]
    assert model.num_parameters() == metadata["nb_parameters"]
    for key, tensor in model.state_dict().items():
        assert list(tensor.shape) == metadata["weights"][key]["shape"], f"{name}: {key}"


def test_full_forward_matches_reference(reference):
    name, model, _, io = reference

    with torch.no_grad():
        logits = model(io["tokens"])

    assert logits.shape == io["logits"].shape
    torch.testing.assert_close(logits, io["logits"], atol=LOGITS_ATOL, rtol=0, msg=name)


def test_step_by_step_matches_reference(reference):
    name, model, _, io = reference

    with torch.no_grad():
        logits = decode_incrementally(model, io["tokens"], prefix=1)

    torch.testing.assert_close(logits, io["logits_incremental"], atol=LOGITS_ATOL, rtol=0, msg=name)


def test_prefix304_then_steps_matches_reference(reference):
    name, model, _, io = reference

    with torch.no_grad():
        logits = decode_incrementally(model, io["tokens"], prefix=F_B_START)

    torch.testing.assert_close(
        logits, io["logits_prefix304_incremental"], atol=LOGITS_ATOL, rtol=0, msg=name
    )


def test_sinusoidal_positions_match_reference(data_dir):
    reference_positions = load_file(data_dir / "positional_encoding.safetensors")["pe"]

    positions = sinusoidal_positions(405, 512)

    assert positions.dtype == torch.float32
    assert positions.shape == (405, 512)
    torch.testing.assert_close(positions, reference_positions, atol=POSITIONS_ATOL, rtol=0)
    # Row 0 alternates sin(0) = 0 and cos(0) = 1.
    assert positions[0, 0::2].abs().max() == 0
    assert torch.equal(positions[0, 1::2], torch.ones(256))


def test_teacher_forced_logprobs_match_reference(data_dir):
    model, _ = load_reference_model(data_dir, "small")
    reference = load_file(data_dir / "teacher_forced.safetensors")
    tokens = reference["tokens"]

    with torch.no_grad():
        log_probs = model(tokens).log_softmax(dim=-1)
    per_cell = log_probs.gather(2, tokens[:, :, None])[:, F_B_START:, 0]

    assert per_cell.shape == reference["logprob_per_cell"].shape
    torch.testing.assert_close(per_cell, reference["logprob_per_cell"], atol=LOGPROB_ATOL, rtol=0)
    # The reference's own per-cell sums differ from its totals by up to 6.1e-5, from the
    # order of float32 summation alone, so the totals get a looser tolerance.
    torch.testing.assert_close(per_cell.sum(dim=1), reference["logprob_f_B"], atol=1e-3, rtol=0)


def test_reference_tokens_are_world_quizzes(data_dir):
    io = load_file(data_dir / "mygpt_tiny_io.safetensors")
    tokens = io["tokens"]

    assert tokens.dtype == torch.int64
    assert tokens.shape == (6, QUIZ_LEN)
    assert torch.equal(tokens[:, ::101], torch.tensor([[11, 12, 13, 14]]).expand(6, 4))


def count_module_parameters(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_37m_preset_parameter_count():
    # The meta device gives every shape without allocating the 150 MB of weights.
    with torch.device("meta"):
        model = MyGPT(preset_config("37M"))

    assert model.num_parameters() == 37_819_407
    assert count_module_parameters(model.embedding) == 7_680
    assert count_module_parameters(model.readout) == 7_695
    for block in range(12):
        layer = count_module_parameters(model.trunk[2 * block]) + count_module_parameters(
            model.trunk[2 * block + 1]
        )
        assert layer == 3_150_336, f"block {block}"


def test_37m_preset_state_dict_layout():
    with torch.device("meta"):
        state = MyGPT(preset_config("37M")).state_dict()

    assert len(state) == 147
    assert state["embedding.0.f.0.weight"].shape == (15, 512)
    assert state["trunk.22.f.1.w_q"].shape == (8, 64, 512)
    assert state["trunk.22.f.1.w_v"].shape == (8, 64, 512)
    assert state["trunk.22.f.1.w_o"].shape == (512, 512)
    assert state["trunk.23.f.f.2.weight"].shape == (2048, 512)
    assert state["trunk.23.f.f.4.weight"].shape == (512, 2048)
    assert state["readout.f.weight"].shape == (15, 512)
    assert "trunk.24.f.1.w_q" not in state


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_parameter_count_matches_shapes(preset):
    config = preset_config(preset)
    with torch.device("meta"):
        model = MyGPT(config)

    assert model.num_parameters() == count_parameters_from_shapes(config)


@pytest.mark.parametrize("name, expected", [("tiny", 17_775), ("small", 151_119)])
def test_reference_parameter_count_matches_shapes(data_dir, name, expected):
    model, _ = load_reference_model(data_dir, name)

    assert count_parameters_from_shapes(model.config) == expected


@pytest.fixture(scope="module")
def unequal_heads_model():
    """A random model whose query/key heads (10 features) and value heads (8) differ."""
    config = MyGPTConfig(dim_model=24, dim_keys=10, dim_hidden=40, nb_heads=3, nb_blocks=3)
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    model = MyGPT(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            # Perturb LayerNorm and bias values as well, so that no term is exactly 0 or 1.
            # Small perturbations keep logits of order 1, where 1e-5 is a fair tolerance.
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    quizzes = torch.randint(0, 15, (3, 150), generator=generator)
    with torch.no_grad():
        assert 0.5 < model(quizzes).abs().max() < 20
    return model, quizzes


def test_unequal_heads_shapes(unequal_heads_model):
    model, _ = unequal_heads_model
    attention = model.trunk[0].f[1]

    assert attention.w_q.shape == (3, 10, 24)
    assert attention.w_k.shape == (3, 10, 24)
    assert attention.w_v.shape == (3, 8, 24)
    assert attention.w_o.shape == (24, 24)


@pytest.mark.parametrize("prefix", [1, 37, 149])
def test_unequal_heads_cached_decoding_matches_forward(unequal_heads_model, prefix):
    model, quizzes = unequal_heads_model

    with torch.no_grad():
        full = model(quizzes)
        incremental = decode_incrementally(model, quizzes, prefix=prefix)

    torch.testing.assert_close(incremental, full, atol=LOGITS_ATOL, rtol=0)


def test_unequal_heads_chunked_steps_match_forward(unequal_heads_model):
    model, quizzes = unequal_heads_model
    shifted = shift_right(quizzes)

    with torch.no_grad():
        full = model(quizzes)
        logits, cache = model.prefill(shifted[:, :20])
        pieces = [logits]
        # Uneven chunks check the causal mask of a step with several new positions.
        for start, stop in [(20, 21), (21, 50), (50, 53), (53, 150)]:
            pieces.append(model.step(shifted[:, start:stop], cache))

    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=LOGITS_ATOL, rtol=0)


def test_unequal_heads_attention_scaled_by_dim_keys(unequal_heads_model):
    model, _ = unequal_heads_model
    attention = model.trunk[0].f[1]

    # Scores are divided by sqrt(dim_keys), not by sqrt(dim_model / nb_heads).
    assert attention.scale == pytest.approx(1 / math.sqrt(10))
