"""MyGPT converted to a TransformerLens HookedTransformer: weights, logits, hooks, decoding.

The reference models `tiny` and `small` were built and run by the original culture code.
`tiny` has query/key heads of 12 features and value heads of 8, so its value heads are
padded. `narrow_keys` below is the opposite case, with padded query/key heads.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from culturectl.checkpoints import BUNDLED_DIR, build_model, checkpoints_in, file_sha256, infer_config, load_checkpoint
from culturectl.cli import app
from culturectl.evaluation import build_eval_sets, evaluate_model
from culturectl.hooked import (
    HookedMyGPT, HookedQuizModel, IdentityFinalNorm, forward_quizzes, hooked_config, load_hooked,
    quiz_logits, save_hooked, to_hooked,
)
from culturectl.hooked_convert import HOOKED_CONFIG_KEYS, convert_mygpt_weights, hooked_config_fields
from vendor_culture.mygpt import MyGPT, MyGPTConfig, preset_config, sinusoidal_positions
from vendor_culture.quiz_machine import masked_autoregression, shift_right
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import QUIZ_LEN, ROW_LEN, make_ar_mask, quizzes_to_rows

# MyGPT and TransformerLens sum in different orders. The float32 rounding that causes
# stays near 1e-6 on these models, far below this bound for an exact conversion.
LOGITS_ATOL = 1e-4
POSITIONS_ATOL = 5e-5
F_B_SLOT = (0, 0, 0, 1)
runner = CliRunner()


def load_reference(data_dir, name: str) -> tuple[MyGPT, dict]:
    path = data_dir / f"mygpt_{name}.safetensors"
    state_dict = load_file(path)
    model = build_model(state_dict, infer_config(state_dict, path), path)
    return model, load_file(data_dir / f"mygpt_{name}_io.safetensors")


def random_mygpt(config: MyGPTConfig, seed: int = 0) -> MyGPT:
    """A MyGPT with random weights, its LayerNorms perturbed so that they are not identity."""
    torch.manual_seed(seed)
    model = MyGPT(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_(0.0, 0.2)
    return model


def random_quizzes(nb: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 15, (nb, QUIZ_LEN), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=("tiny", "small"))
def reference(request, data_dir):
    """(name, MyGPT, recorded io tensors, converted model) for each reference model."""
    model, io = load_reference(data_dir, request.param)
    return request.param, model, io, to_hooked(model)


@pytest.fixture(scope="module")
def narrow_keys():
    """A MyGPT whose query/key heads (4) are narrower than its value heads (16)."""
    model = random_mygpt(MyGPTConfig(dim_model=32, dim_keys=4, dim_hidden=40, nb_heads=2, nb_blocks=2))
    return model, to_hooked(model)


@pytest.fixture(scope="module")
def full_size():
    """A randomly initialised 37M MyGPT and its conversion, built once for the module."""
    model = random_mygpt(preset_config("37M"))
    return model, to_hooked(model)


# --- Logits -------------------------------------------------------------------------


def test_reference_logits_match(reference):
    name, model, io, hooked = reference

    with torch.no_grad():
        row_logits = hooked(quizzes_to_rows(io["tokens"]))
        mygpt_logits = model(io["tokens"])

    assert row_logits.shape == (6, ROW_LEN, 15)
    torch.testing.assert_close(row_logits[:, :QUIZ_LEN], mygpt_logits, atol=LOGITS_ATOL, rtol=0, msg=name)
    torch.testing.assert_close(row_logits[:, :QUIZ_LEN], io["logits"], atol=LOGITS_ATOL, rtol=0, msg=name)


def test_full_size_random_logits_match(full_size):
    model, hooked = full_size
    quizzes = random_quizzes(2)

    with torch.no_grad():
        expected = model(quizzes)
        actual = forward_quizzes(hooked, quizzes)

    assert hooked.cfg.d_head == 64
    assert hooked.cfg.n_layers == 12
    torch.testing.assert_close(actual, expected, atol=LOGITS_ATOL, rtol=0)


def test_narrow_keys_logits_match(narrow_keys):
    model, hooked = narrow_keys
    quizzes = random_quizzes(3)

    with torch.no_grad():
        expected = model(quizzes)
        actual = forward_quizzes(hooked, quizzes)

    assert hooked.cfg.d_head == 16
    torch.testing.assert_close(actual, expected, atol=LOGITS_ATOL, rtol=0)


def test_forward_quizzes_is_row_logits_without_last(reference):
    _, _, io, hooked = reference

    with torch.no_grad():
        from_rows = quiz_logits(hooked(quizzes_to_rows(io["tokens"])))
        from_quizzes = forward_quizzes(hooked, io["tokens"])

    assert torch.equal(from_rows, from_quizzes)


def test_quiz_helpers_reject_wrong_lengths(reference):
    _, _, io, hooked = reference

    with pytest.raises(ValueError, match="expected logits for 405-token rows, got 404"):
        quiz_logits(torch.zeros(1, QUIZ_LEN, 15))
    with pytest.raises(ValueError, match="expected quizzes of 404 tokens, got 405"):
        forward_quizzes(hooked, quizzes_to_rows(io["tokens"]))


# --- Weights and config -------------------------------------------------------------


def test_config_head_size_and_scale():
    config = MyGPTConfig(dim_model=32, dim_keys=12, dim_hidden=48, nb_heads=4, nb_blocks=2)

    cfg = hooked_config(config)

    assert cfg.d_head == 12
    assert cfg.attn_scale == math.sqrt(12)
    assert cfg.n_ctx == ROW_LEN
    assert cfg.normalization_type == "LN"
    assert cfg.act_fn == "relu"
    assert cfg.tokenizer_name is None
    assert set(hooked_config_fields(config)) == set(HOOKED_CONFIG_KEYS)


def test_config_rejects_short_context():
    config = MyGPTConfig(dim_model=32, dim_keys=12, dim_hidden=48, nb_heads=4, nb_blocks=2)

    with pytest.raises(ValueError, match="n_ctx must be at least 405"):
        hooked_config_fields(config, n_ctx=404)


def test_every_tensor_maps_exactly(data_dir):
    model, _ = load_reference(data_dir, "tiny")
    source = model.state_dict()
    h, dk, dv = 4, 12, 8

    weights = convert_mygpt_weights(source, model.config)

    expected_keys = {name for name, _ in HookedMyGPT(hooked_config(model.config)).named_parameters()}
    assert set(weights) == expected_keys
    assert torch.equal(weights["embed.W_E"], source["embedding.0.f.0.weight"])
    assert torch.equal(weights["pos_embed.W_pos"], sinusoidal_positions(ROW_LEN, 32))
    for block in range(2):
        attention, mlp, prefix = f"trunk.{2 * block}.f", f"trunk.{2 * block + 1}.f.f", f"blocks.{block}"
        assert torch.equal(weights[f"{prefix}.ln1.w"], source[f"{attention}.0.f.0.weight"])
        assert torch.equal(weights[f"{prefix}.ln1.b"], source[f"{attention}.0.f.0.bias"])
        for head in range(h):
            assert torch.equal(weights[f"{prefix}.attn.W_Q"][head], source[f"{attention}.1.w_q"][head].T)
            assert torch.equal(weights[f"{prefix}.attn.W_K"][head], source[f"{attention}.1.w_k"][head].T)
            assert torch.equal(weights[f"{prefix}.attn.W_V"][head, :, :dv], source[f"{attention}.1.w_v"][head].T)
            rows = source[f"{attention}.1.w_o"][head * dv : (head + 1) * dv]
            assert torch.equal(weights[f"{prefix}.attn.W_O"][head, :dv], rows)
        # Value heads are padded from 8 to d_head = 12 features with zeros.
        assert weights[f"{prefix}.attn.W_V"][:, :, dv:].abs().max() == 0
        assert weights[f"{prefix}.attn.W_O"][:, dv:].abs().max() == 0
        for bias, shape in (("b_Q", (h, dk)), ("b_K", (h, dk)), ("b_V", (h, dk)), ("b_O", (32,))):
            assert torch.equal(weights[f"{prefix}.attn.{bias}"], torch.zeros(shape))
        assert torch.equal(weights[f"{prefix}.ln2.w"], source[f"{mlp}.0.weight"])
        assert torch.equal(weights[f"{prefix}.ln2.b"], source[f"{mlp}.0.bias"])
        assert torch.equal(weights[f"{prefix}.mlp.W_in"], source[f"{mlp}.2.weight"].T)
        assert torch.equal(weights[f"{prefix}.mlp.b_in"], source[f"{mlp}.2.bias"])
        assert torch.equal(weights[f"{prefix}.mlp.W_out"], source[f"{mlp}.4.weight"].T)
        assert torch.equal(weights[f"{prefix}.mlp.b_out"], source[f"{mlp}.4.bias"])
    assert torch.equal(weights["unembed.W_U"], source["readout.f.weight"].T)
    assert torch.equal(weights["unembed.b_U"], source["readout.f.bias"])


def test_narrow_keys_queries_padded(narrow_keys):
    model, _ = narrow_keys

    weights = convert_mygpt_weights(model.state_dict(), model.config)

    for block in range(2):
        w_q = model.state_dict()[f"trunk.{2 * block}.f.1.w_q"]
        assert weights[f"blocks.{block}.attn.W_Q"].shape == (2, 32, 16)
        assert torch.equal(weights[f"blocks.{block}.attn.W_Q"][:, :, :4], w_q.transpose(1, 2))
        assert weights[f"blocks.{block}.attn.W_Q"][:, :, 4:].abs().max() == 0
        assert weights[f"blocks.{block}.attn.W_K"][:, :, 4:].abs().max() == 0


def test_conversion_accepts_fork_layout(data_dir):
    model, _ = load_reference(data_dir, "tiny")
    original = model.state_dict()
    fork = {}
    for key, value in original.items():
        parts = key.split(".")
        extra = 2 if parts[0] == "trunk" else 1
        fork[".".join(parts[:extra] + ["f"] + parts[extra:])] = value

    from_fork = convert_mygpt_weights(fork, model.config)
    from_original = convert_mygpt_weights(original, model.config)

    assert set(from_fork) == set(from_original)
    for key in from_original:
        assert torch.equal(from_fork[key], from_original[key]), key


def test_conversion_rejects_wrong_shape(data_dir):
    model, _ = load_reference(data_dir, "tiny")
    wrong = dict(model.state_dict())
    wrong["trunk.0.f.1.w_q"] = torch.zeros(4, 8, 32)

    with pytest.raises(ValueError, match=r"trunk\.0\.f\.1\.w_q has shape \(4, 8, 32\), expected \(4, 12, 32\)"):
        convert_mygpt_weights(wrong, model.config)


def test_synthesised_tensors_on_target_device_and_dtype(data_dir):
    model, _ = load_reference(data_dir, "tiny")

    # The meta device shows where each tensor is created without allocating memory.
    weights = convert_mygpt_weights(model.state_dict(), model.config, n_ctx=512, device="meta", dtype=torch.float64)

    for key, tensor in weights.items():
        assert tensor.device.type == "meta", key
        assert tensor.dtype == torch.float64, key
    assert weights["pos_embed.W_pos"].shape == (512, 32)


def test_full_size_positions_match_reference(full_size, data_dir):
    _, hooked = full_size
    reference_positions = load_file(data_dir / "positional_encoding.safetensors")["pe"]

    torch.testing.assert_close(hooked.W_pos.detach(), reference_positions, atol=POSITIONS_ATOL, rtol=0)


# --- Hooks, caches and the logit lens -------------------------------------------------


def test_cache_has_final_norm_hooks(reference):
    _, _, io, hooked = reference

    with torch.no_grad():
        logits, cache = hooked.run_with_cache(quizzes_to_rows(io["tokens"]))

    assert isinstance(hooked.ln_final, IdentityFinalNorm)
    assert torch.equal(cache["ln_final.hook_scale"], torch.ones(6, ROW_LEN, 1))
    last_resid = cache[f"blocks.{hooked.cfg.n_layers - 1}.hook_resid_post"]
    assert torch.equal(cache["ln_final.hook_normalized"], last_resid)


def test_logit_lens_last_layer_equals_logits(reference):
    name, _, io, hooked = reference

    with torch.no_grad():
        logits, cache = hooked.run_with_cache(quizzes_to_rows(io["tokens"]))
        lens = hooked.unembed(cache.accumulated_resid(apply_ln=True)[-1])

    torch.testing.assert_close(lens, logits, atol=1e-5, rtol=0, msg=name)


def test_decompose_resid_sums_to_logits(reference):
    name, _, io, hooked = reference

    with torch.no_grad():
        logits, cache = hooked.run_with_cache(quizzes_to_rows(io["tokens"]))
        raw = cache.decompose_resid().sum(dim=0)
        normalized = cache.decompose_resid(apply_ln=True).sum(dim=0)

    torch.testing.assert_close(hooked.unembed(raw), logits, atol=LOGITS_ATOL, rtol=0, msg=name)
    torch.testing.assert_close(hooked.unembed(normalized), logits, atol=LOGITS_ATOL, rtol=0, msg=name)


def test_projected_decompositions_at_unembed(reference):
    name, _, io, hooked = reference
    last = hooked.cfg.n_layers

    with torch.no_grad():
        logits, cache = hooked.run_with_cache(quizzes_to_rows(io["tokens"][:2]))
        neurons = cache.stack_neuron_results(last, apply_ln=True)
        projected = cache.stack_neuron_results(last, apply_ln=True, project_output_onto=hooked.W_U)
        full = cache.get_full_resid_decomposition(apply_ln=True, project_output_onto=hooked.W_U)

    # The parent class computes the projected case by its own centring formula.
    torch.testing.assert_close(projected, neurons @ hooked.W_U, atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(full.sum(dim=0) + hooked.b_U, logits, atol=LOGITS_ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("case", ("tiny", "narrow_keys"))
def test_attention_hooks_hold_mygpt_values(case, data_dir, narrow_keys):
    if case == "tiny":
        model = load_reference(data_dir, "tiny")[0]
        hooked = to_hooked(model)
    else:
        model, hooked = narrow_keys
    config = model.config
    quizzes = random_quizzes(2)
    rows = quizzes_to_rows(quizzes)

    with torch.no_grad():
        _, cache = hooked.run_with_cache(rows)
        attention = model.trunk[0].f
        normalized = attention[0](model.embedding(rows) + sinusoidal_positions(ROW_LEN, config.dim_model))
        q = torch.einsum("ntc,hdc->nthd", normalized, attention[1].w_q)
        k = torch.einsum("ntc,hdc->nthd", normalized, attention[1].w_k)
        v = torch.einsum("ntc,hdc->nthd", normalized, attention[1].w_v)
        scores = torch.einsum("nthd,nshd->nhts", q, k) / math.sqrt(config.dim_keys)

    dk, dv = config.dim_keys, config.dim_value
    torch.testing.assert_close(cache["blocks.0.attn.hook_q"][..., :dk], q, atol=1e-5, rtol=0)
    torch.testing.assert_close(cache["blocks.0.attn.hook_k"][..., :dk], k, atol=1e-5, rtol=0)
    torch.testing.assert_close(cache["blocks.0.attn.hook_v"][..., :dv], v, atol=1e-5, rtol=0)
    assert cache["blocks.0.attn.hook_q"][..., dk:].count_nonzero() == 0
    assert cache["blocks.0.attn.hook_v"][..., dv:].count_nonzero() == 0
    allowed = torch.ones(ROW_LEN, ROW_LEN).tril().bool()
    recorded = cache["blocks.0.attn.hook_attn_scores"]
    torch.testing.assert_close(recorded[..., allowed], scores[..., allowed], atol=1e-4, rtol=0)
    assert torch.isinf(recorded[..., ~allowed]).all()


# --- Weight processing ----------------------------------------------------------------


def test_fold_ln_keeps_logits_and_identity(data_dir):
    model, io = load_reference(data_dir, "tiny")
    hooked = to_hooked(model)

    hooked.process_weights_(fold_ln=True, center_writing_weights=False, center_unembed=False)
    with torch.no_grad():
        logits = forward_quizzes(hooked, io["tokens"])

    assert hooked.cfg.normalization_type == "LNPre"
    assert isinstance(hooked.ln_final, IdentityFinalNorm)
    assert "ln_final.hook_scale" in hooked.hook_dict
    torch.testing.assert_close(logits, io["logits"], atol=LOGITS_ATOL, rtol=0)


@pytest.mark.parametrize(
    "flags, message",
    [
        (dict(fold_ln=False, center_writing_weights=True, center_unembed=False), "center_writing_weights would change the logits"),
        (dict(fold_ln=False, center_writing_weights=False, center_unembed=True), "center_unembed would change the logits"),
        # TransformerLens's defaults: fold_ln, center_writing_weights and center_unembed all on.
        ({}, "pass center_writing_weights=False, center_unembed=False"),
    ],
)
def test_centering_rejected(data_dir, flags, message):
    model, _ = load_reference(data_dir, "tiny")
    hooked = to_hooked(model)
    before = {name: tensor.clone() for name, tensor in hooked.state_dict().items()}

    with pytest.raises(ValueError, match=message):
        hooked.process_weights_(**flags)

    for name, tensor in hooked.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_temperature_must_be_one(data_dir):
    model, _ = load_reference(data_dir, "tiny")
    model.temperature = 0.5

    with pytest.raises(ValueError, match="has temperature 0.5; set it to 1.0"):
        to_hooked(model)


# --- Incremental decoding -------------------------------------------------------------


def test_cached_logits_equal_full_forward(reference):
    name, _, io, hooked = reference
    adapter = HookedQuizModel(hooked)
    inputs = shift_right(io["tokens"])

    with torch.no_grad():
        logits, cache = adapter.prefill(inputs[:, :300])
        pieces = [logits] + [adapter.step(inputs[:, p : p + 1], cache) for p in range(300, QUIZ_LEN)]
        full = adapter(io["tokens"])

    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(full, io["logits"], atol=LOGITS_ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("case", ("tiny", "small", "narrow_keys"))
def test_greedy_continuations_identical(case, data_dir, narrow_keys):
    if case == "narrow_keys":
        model, hooked = narrow_keys
        quizzes = random_quizzes(4)
    else:
        model, io = load_reference(data_dir, case)
        hooked, quizzes = to_hooked(model), io["tokens"]
    mask = make_ar_mask(quizzes, F_B_SLOT)
    blanked = quizzes.masked_fill(mask.bool(), 0)

    from_mygpt = masked_autoregression(model, blanked, mask, temperature=0.0)
    from_hooked = masked_autoregression(HookedQuizModel(hooked), blanked, mask, temperature=0.0)

    assert torch.equal(from_hooked, from_mygpt)
    # Uncached greedy decoding picks the argmax of a full forward over its own output at
    # every generated position, so one forward pass checks the cached decoding.
    with torch.no_grad():
        uncached_choice = forward_quizzes(hooked, from_hooked).argmax(dim=-1)
    assert torch.equal(uncached_choice[mask.bool()], from_hooked[mask.bool()])


def test_step_past_context_rejected(reference):
    _, _, io, hooked = reference
    adapter = HookedQuizModel(hooked)
    rows = quizzes_to_rows(io["tokens"])

    with torch.no_grad():
        _, cache = adapter.prefill(rows)
        with pytest.raises(ValueError, match="positions 405..405 exceed the model's n_ctx of 405"):
            adapter.step(rows[:, :1], cache)


# --- Files and loading ----------------------------------------------------------------


def test_save_and_load_round_trip(reference, tmp_path):
    name, _, io, hooked = reference
    path = tmp_path / "gpt_007.hooked.safetensors"

    config_path = save_hooked(path, hooked, {"model_id": 7})
    loaded = load_hooked(path)
    loaded64 = load_hooked(path, dtype=torch.float64)
    with torch.no_grad():
        logits = forward_quizzes(loaded, io["tokens"])
        logits64 = forward_quizzes(loaded64, io["tokens"])

    record = json.loads(config_path.read_text())
    assert config_path.name == "gpt_007.hooked.json"
    assert record["format"] == "culturectl-hooked-transformer"
    assert record["model_id"] == 7
    assert isinstance(loaded.ln_final, IdentityFinalNorm)
    assert loaded64.W_E.dtype == torch.float64
    assert torch.equal(logits, forward_quizzes(hooked, io["tokens"]))
    torch.testing.assert_close(logits64.float(), io["logits"], atol=LOGITS_ATOL, rtol=0, msg=name)


def test_load_hooked_by_id_path_and_model(data_dir):
    expected = load_checkpoint(data_dir / "gpt_000.pth").model
    quizzes = random_quizzes(2)

    by_id = load_hooked(0, checkpoints=data_dir)
    by_path = load_hooked(data_dir / "gpt_000.pth")
    by_model = load_hooked(expected, dtype=torch.float64)
    with torch.no_grad():
        reference_logits = expected(quizzes)
        for hooked in (by_id, by_path, by_model):
            torch.testing.assert_close(forward_quizzes(hooked, quizzes).float(), reference_logits, atol=LOGITS_ATOL, rtol=0)


def test_load_hooked_missing_file(tmp_path):
    from culturectl.errors import CulturectlError

    with pytest.raises(CulturectlError, match="converted model not found"):
        load_hooked(tmp_path / "gpt_000.hooked.safetensors")


def test_convert_command_writes_files(data_dir, tmp_path):
    out = tmp_path / "converted"

    result = runner.invoke(app, ["convert", "--models", "0", "--checkpoints", str(data_dir), "--out", str(out)])

    assert result.exit_code == 0, result.output
    weights = out / "gpt_000.hooked.safetensors"
    record = json.loads((out / "gpt_000.hooked.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    source = data_dir / "gpt_000.pth"
    assert record["source_sha256"] == file_sha256(source)
    assert record["source_checkpoint"] == str(source.resolve())
    assert record["culturectl_version"]
    assert record["hooked_config"]["d_head"] == 12
    assert record["max_abs_logit_difference_float32"] < LOGITS_ATOL
    assert manifest["models"][0]["weights_sha256"] == file_sha256(weights)
    assert manifest["command"].startswith("culturectl ")
    assert set(manifest["versions"]) == {"culturectl", "torch", "transformer_lens"}
    model = load_checkpoint(source).model
    quizzes = random_quizzes(2)
    with torch.no_grad():
        torch.testing.assert_close(forward_quizzes(load_hooked(weights), quizzes), model(quizzes), atol=LOGITS_ATOL, rtol=0)


def test_convert_command_bfloat16(data_dir, tmp_path):
    result = runner.invoke(app, ["convert", "-m", "0", "--checkpoints", str(data_dir), "--out", str(tmp_path), "--dtype", "bfloat16"])

    assert result.exit_code == 0, result.output
    weights = load_file(tmp_path / "gpt_000.hooked.safetensors")
    assert {tensor.dtype for tensor in weights.values()} == {torch.bfloat16}
    assert load_hooked(tmp_path / "gpt_000.hooked.safetensors").cfg.dtype == torch.bfloat16


# --- eval --backend -----------------------------------------------------------------


def test_eval_backends_agree_per_quiz():
    """Needs the bundled models in culturectl/models."""
    found = checkpoints_in(BUNDLED_DIR)
    assert 0 in found, f"bundled model gpt_000 not found in {BUNDLED_DIR}"
    model = load_checkpoint(found[0], 0).model
    eval_sets = build_eval_sets(list(RELEASED_TASKS), ["f_B", "A"], num_samples=8, seed=0)

    mygpt_records = evaluate_model(model, 0, "bundled", eval_sets, batch_size=16)
    hooked_records = evaluate_model(HookedQuizModel(to_hooked(model)), 0, "bundled", eval_sets, batch_size=16)

    right = [quiz for record in mygpt_records for quiz in record.per_quiz_greedy]
    assert 0 < sum(right) < len(right), "accuracy must be strictly between 0 and 1 for a meaningful comparison"
    for mine, theirs in zip(mygpt_records, hooked_records):
        assert mine.per_quiz_greedy == theirs.per_quiz_greedy, (mine.task, mine.structure)
        assert mine.expected_sampled == pytest.approx(theirs.expected_sampled, abs=1e-4)


def test_eval_command_backends_agree():
    """Needs the bundled models in culturectl/models."""
    arguments = ["eval", "--models", "0", "--structures", "f_B", "-n", "8", "--json"]

    mygpt = runner.invoke(app, arguments + ["--backend", "mygpt"])
    hooked = runner.invoke(app, arguments + ["--backend", "hooked"])

    assert mygpt.exit_code == 0, mygpt.output
    assert hooked.exit_code == 0, hooked.output
    mygpt_records, hooked_records = json.loads(mygpt.stdout), json.loads(hooked.stdout)
    assert len(mygpt_records) == len(RELEASED_TASKS)
    for mine, theirs in zip(mygpt_records, hooked_records):
        assert mine["greedy"] == theirs["greedy"], mine["task"]
        assert mine["expected_sampled"] == pytest.approx(theirs["expected_sampled"], abs=1e-4)
