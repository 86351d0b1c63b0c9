"""MyGPT as an exact HookedTransformer on stock TransformerLens 3.x, with no source patch.

The weight conversion itself is in `culturectl.hooked_convert`. This module builds the
model, saves and loads converted files, and adapts the model to the incremental-decoding
interface of `vendor_culture.quiz_machine`.

Input convention: a converted model takes 405-token rows (a leading 0, then the 404 quiz
tokens). Row position p contains quiz token p-1, and the logits at row position p score quiz
token p. The logits at position 404 predict nothing. `forward_quizzes` and `quiz_logits`
do this bookkeeping.

What the attention hooks contain, given the conversion (d_head = max(dim_keys, dim_value)):
- `hook_q`, `hook_k`: MyGPT's unscaled queries and keys; features dim_keys.. are zero.
- `hook_v`, `hook_z`: MyGPT's values and head outputs; features dim_value.. are zero.
- `hook_attn_scores`: q·k / sqrt(dim_keys), exactly MyGPT's scaled scores, with -inf
  at the future positions that the causal mask removes.
"""

from __future__ import annotations

import json
import math
import warnings
from importlib.metadata import version
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformer_lens import ActivationCache, HookedTransformer, HookedTransformerConfig
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache
from transformer_lens.hook_points import HookPoint
from transformer_lens.utilities import Slice

from vendor_culture.mygpt import MyGPT, MyGPTConfig
from vendor_culture.tokens import QUIZ_LEN, ROW_LEN, quizzes_to_rows, rows_to_quizzes

from . import __version__
from .atomic import atomic_path
from .checkpoints import LoadedModel, load_checkpoint
from .errors import CulturectlError
from .hooked_convert import HOOKED_CONFIG_KEYS, convert_mygpt_weights, hooked_config_fields

__all__ = [
    "HOOKED_SUFFIX", "HookedMyGPT", "HookedQuizModel", "IdentityFinalNorm", "NoFinalNormActivationCache",
    "export_hooked", "forward_quizzes", "hooked_config", "load_hooked", "max_logit_difference",
    "quiz_logits", "quizzes_to_rows", "rows_to_quizzes", "save_hooked", "to_hooked",
]

HOOKED_FORMAT = "culturectl-hooked-transformer"
HOOKED_FORMAT_VERSION = 1
# A converted model is `<name>.hooked.safetensors` plus `<name>.hooked.json`. The extra
# suffix keeps these files from being read as MyGPT checkpoints, which are `gpt_NNN.safetensors`.
HOOKED_SUFFIX = ".hooked.safetensors"
# Largest logit difference `export_hooked` accepts between a MyGPT and its float32
# conversion. The two evaluation orders differ by about 1e-6 on the reference models.
CONVERSION_ATOL = 1e-4


class IdentityFinalNorm(nn.Module):
    """Stand-in for `ln_final` in a model without a final norm: it returns its input but
    keeps the hook points of TransformerLens's LayerNorm. `hook_scale` receives ones of shape
    (batch, pos, 1) and `hook_normalized` the residual stream, so caches, hooks and the
    logit lens (`accumulated_resid(apply_ln=True)`) work unchanged."""

    def __init__(self):
        super().__init__()
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.hook_scale(torch.ones_like(x[..., :1]))
        return self.hook_normalized(x / scale)


class NoFinalNormActivationCache(ActivationCache):
    """ActivationCache of a HookedMyGPT. In transformer-lens 3.9, `apply_ln_to_stack`
    centres the stack of every model with LayerNorm before dividing by the cached scale.
    The unembed of MyGPT reads the residual stream without a norm, so for that layer the
    stack is returned unchanged, and `decompose_resid(apply_ln=True)` still sums to the
    input of the unembed."""

    def _is_unembed(self, layer) -> bool:
        return layer is None or layer == -1 or layer == self.model.cfg.n_layers

    def apply_ln_to_stack(self, residual_stack, layer=None, mlp_input=False, pos_slice=None,
                          batch_slice=None, has_batch_dim=True, recompute_ln=False):
        if self._is_unembed(layer):
            if has_batch_dim:
                batch_slice = batch_slice if isinstance(batch_slice, Slice) else Slice(batch_slice)
                residual_stack = batch_slice.apply(residual_stack, dim=1)
            return residual_stack
        return super().apply_ln_to_stack(
            residual_stack, layer, mlp_input, pos_slice, batch_slice, has_batch_dim, recompute_ln
        )

    def stack_neuron_results(self, layer, pos_slice=None, neuron_slice=None, return_labels=False,
                             incl_remainder=False, apply_ln=False, project_output_onto=None):
        # With a projection and apply_ln, the parent centres by its own formula instead of
        # calling apply_ln_to_stack. At the unembed, applying no norm is the right result.
        if self._is_unembed(layer):
            apply_ln = False
        return super().stack_neuron_results(
            layer, pos_slice, neuron_slice, return_labels, incl_remainder, apply_ln, project_output_onto
        )


class HookedMyGPT(HookedTransformer):
    """A HookedTransformer whose `ln_final` is an IdentityFinalNorm.

    Weight processing that would change the logits is rejected: `center_writing_weights`
    (without a final norm, the mean of the residual stream reaches the unembed) and
    `center_unembed` (it shifts every logit of a position by a constant). `fold_ln` folds
    the block norms and keeps the identity final norm; `fold_value_biases` is harmless
    because the attention biases are zero.
    """

    def __init__(self, cfg: HookedTransformerConfig, **kwargs):
        # transformer-lens 3.x deprecates HookedTransformer in favour of TransformerBridge,
        # which wraps Hugging Face models. MyGPT is not one, and sae-lens 6 needs this class.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="HookedTransformer is deprecated", category=DeprecationWarning)
            super().__init__(cfg, **kwargs)
        self._install_identity_final_norm()

    def _install_identity_final_norm(self) -> None:
        self.ln_final = IdentityFinalNorm()
        self.setup()  # register the new hook points

    def load_and_process_state_dict(self, state_dict, fold_ln=True, center_writing_weights=True,
                                    center_unembed=True, fold_value_biases=True,
                                    refactor_factored_attn_matrices=False):
        rejected = [name for name, flag in (("center_writing_weights", center_writing_weights),
                                            ("center_unembed", center_unembed)) if flag]
        if rejected:
            raise ValueError(
                f"{' and '.join(rejected)} would change the logits of a model without a final "
                f"layer norm; pass {', '.join(f'{name}=False' for name in rejected)}"
            )
        super().load_and_process_state_dict(
            state_dict, fold_ln=fold_ln, center_writing_weights=False, center_unembed=False,
            fold_value_biases=fold_value_biases, refactor_factored_attn_matrices=refactor_factored_attn_matrices,
        )
        # With fold_ln, the parent installs a LayerNormPre as ln_final, so replace it again.
        self._install_identity_final_norm()

    def run_with_cache(self, *model_args, return_cache_object=True, remove_batch_dim=False, **kwargs):
        out, cache = super().run_with_cache(
            *model_args, return_cache_object=return_cache_object, remove_batch_dim=remove_batch_dim, **kwargs
        )
        if return_cache_object:
            cache = NoFinalNormActivationCache(cache.cache_dict, self, has_batch_dim=not remove_batch_dim)
        return out, cache


def hooked_config(
    config: MyGPTConfig,
    n_ctx: int = ROW_LEN,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> HookedTransformerConfig:
    """Return the HookedTransformerConfig of a converted MyGPT of shape `config`, on
    `device` (default: cpu) in `dtype`. No tokenizer is set, so inputs are token ids."""
    return _config_from_fields(hooked_config_fields(config, n_ctx), device, dtype)


def _config_from_fields(fields: dict, device, dtype: torch.dtype) -> HookedTransformerConfig:
    device = torch.device("cpu" if device is None else device)
    return HookedTransformerConfig(**fields, device=str(device), dtype=dtype)


def _load_weights(model: HookedMyGPT, weights: dict[str, torch.Tensor], source: str) -> None:
    """Load `weights` into `model`. Only TransformerLens's attention buffers may be absent."""
    result = model.load_state_dict(weights, strict=False)
    buffers = {name for name, _ in model.named_buffers()}
    missing = [key for key in result.missing_keys if key not in buffers]
    if missing or result.unexpected_keys:
        raise CulturectlError(
            f"{source}: weights do not fit the model: missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}"
        )


def to_hooked(
    model: MyGPT,
    n_ctx: int = ROW_LEN,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> HookedMyGPT:
    """Convert a MyGPT into a HookedMyGPT in eval mode on `device` (default: cpu)."""
    if model.temperature != 1.0:
        raise ValueError(
            f"the MyGPT has temperature {model.temperature}; set it to 1.0 before converting, "
            "because the converted model returns logits that are not divided by a temperature"
        )
    cfg = hooked_config(model.config, n_ctx, device, dtype)
    weights = convert_mygpt_weights(model.state_dict(), model.config, n_ctx, cfg.device, dtype)
    hooked = HookedMyGPT(cfg)
    _load_weights(hooked, weights, "converted MyGPT")
    return hooked.eval()


def save_hooked(path: Path, model: HookedMyGPT, metadata: dict | None = None) -> Path:
    """Write `model` to `path` (ending in .hooked.safetensors) and its config plus
    `metadata` to the JSON file beside it. Both writes are atomic. Returns the JSON path."""
    path = Path(path)
    if not path.name.endswith(HOOKED_SUFFIX):
        raise ValueError(f"converted model files must end in {HOOKED_SUFFIX}, got {path.name}")
    fields = {key: getattr(model.cfg, key) for key in HOOKED_CONFIG_KEYS}
    record = {
        "format": HOOKED_FORMAT,
        "format_version": HOOKED_FORMAT_VERSION,
        "hooked_config": fields,
        "dtype": str(model.cfg.dtype).removeprefix("torch."),
        "final_norm": "identity (MyGPT has no final layer norm)",
        "input": "405-token rows: token 0, then the 404 quiz tokens; logits at position p score quiz token p",
        "culturectl_version": __version__,
        "transformer_lens_version": version("transformer-lens"),
        **(metadata or {}),
    }
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.named_parameters()}
    with atomic_path(path) as temporary:
        save_file(weights, temporary)
    config_path = path.with_suffix(".json")
    with atomic_path(config_path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")
    return config_path


def _load_hooked_file(path: Path, device, dtype: torch.dtype | None) -> HookedMyGPT:
    config_path = path.with_suffix(".json")
    if not config_path.is_file():
        raise CulturectlError(f"{path}: config {config_path.name} not found beside it; convert the model again")
    try:
        record = json.loads(config_path.read_text())
        if record.get("format") != HOOKED_FORMAT:
            raise ValueError(f"format is {record.get('format')!r}, expected {HOOKED_FORMAT!r}")
        fields = record["hooked_config"]
        stored_dtype = getattr(torch, record["dtype"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise CulturectlError(f"{config_path}: invalid converted-model config ({error})") from None
    dtype = stored_dtype if dtype is None else dtype
    try:
        weights = load_file(path)
    except Exception as error:  # noqa: BLE001 - safetensors reports damage with its own types
        raise CulturectlError(
            f"{path}: cannot read the converted weights, the file is corrupt or truncated "
            f"({type(error).__name__}); convert the model again"
        ) from None
    model = HookedMyGPT(_config_from_fields(fields, device, dtype))
    target = model.cfg.device
    _load_weights(model, {key: value.to(device=target, dtype=dtype) for key, value in weights.items()}, str(path))
    return model.eval()


def load_hooked(
    model: int | str | Path | MyGPT | LoadedModel,
    checkpoints: Path | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    n_ctx: int = ROW_LEN,
    source: str = "bundled",
) -> HookedMyGPT:
    """Return a HookedMyGPT in eval mode on `device` (default: cpu).

    `model` is a model id, a file or a model. An id resolves as in `culturectl eval`: from
    the folder `checkpoints` when given, else from `source` ("bundled" or "hub"). A file is
    either a `.hooked.safetensors` written by `culturectl convert` or any checkpoint that
    `load_checkpoint` reads. A model is a MyGPT or a LoadedModel.

    `dtype` defaults to the dtype stored in a converted file, else float32. `n_ctx`, the
    number of positional rows, applies when converting and is ignored for converted files.
    """
    from .selection import load_models

    if isinstance(model, LoadedModel):
        model = model.model
    if isinstance(model, MyGPT):
        return to_hooked(model, n_ctx, device, dtype or torch.float32)
    if isinstance(model, int) and not isinstance(model, bool):
        (loaded,), _ = load_models(str(model), checkpoints, source)
        return to_hooked(loaded.model, n_ctx, device, dtype or torch.float32)
    path = Path(model)
    if path.name.endswith(HOOKED_SUFFIX):
        if not path.is_file():
            raise CulturectlError(f"converted model not found: {path}")
        return _load_hooked_file(path, device, dtype)
    return to_hooked(load_checkpoint(path).model, n_ctx, device, dtype or torch.float32)


def export_hooked(loaded: LoadedModel, path: Path, dtype: torch.dtype = torch.float32) -> tuple[Path, dict]:
    """Convert a loaded checkpoint and save it at `path` with its provenance.

    Before the cast to `dtype`, the float32 conversion is checked against the MyGPT on two
    random quizzes. Returns (JSON path, record of the source and the check).
    """
    hooked = to_hooked(loaded.model, dtype=torch.float32)
    difference = max_logit_difference(loaded.model, hooked)
    if math.isnan(difference):
        raise CulturectlError(
            f"{loaded.path}: the model gives NaN logits (NaN or infinite weights?); nothing converted"
        )
    if difference > CONVERSION_ATOL:
        raise CulturectlError(
            f"{loaded.path}: converted logits differ from MyGPT's by {difference:.2e} "
            f"(limit {CONVERSION_ATOL:.0e}); the conversion does not support this checkpoint"
        )
    if dtype != torch.float32:
        hooked = hooked.to(dtype, print_details=False)
    provenance = {
        "model_id": loaded.model_id,
        "mygpt_config": loaded.config.to_dict(),
        "source_checkpoint": str(Path(loaded.path).resolve()),
        "source_sha256": loaded.sha256,
        "max_abs_logit_difference_float32": difference,
    }
    return save_hooked(path, hooked, provenance), provenance


@torch.no_grad()
def max_logit_difference(model: MyGPT, hooked: HookedTransformer, nb_quizzes: int = 2) -> float:
    """Return the largest absolute logit difference between `model` and `hooked` on
    `nb_quizzes` quizzes of random tokens, drawn from a fixed seed."""
    generator = torch.Generator().manual_seed(0)
    quizzes = torch.randint(0, model.config.vocabulary_size, (nb_quizzes, QUIZ_LEN), generator=generator)
    device = next(model.parameters()).device
    expected = model(quizzes.to(device)).float()
    actual = forward_quizzes(hooked, quizzes).float().to(device)
    return (expected - actual).abs().max().item()


def quiz_logits(row_logits: torch.Tensor) -> torch.Tensor:
    """Drop the last position of (N, 405, vocab) row logits: the result is (N, 404, vocab)
    and its position p scores quiz token p, as MyGPT's logits do."""
    if row_logits.size(1) != ROW_LEN:
        raise ValueError(f"expected logits for {ROW_LEN}-token rows, got {row_logits.size(1)} positions")
    return row_logits[:, :QUIZ_LEN]


def forward_quizzes(model: HookedTransformer, quizzes: torch.Tensor) -> torch.Tensor:
    """Run (N, 404) quizzes through a converted model as 405-token rows and return the
    (N, 404, vocab) logits whose position p scores quiz token p."""
    if quizzes.size(1) != QUIZ_LEN:
        raise ValueError(f"expected quizzes of {QUIZ_LEN} tokens, got {quizzes.size(1)}")
    return quiz_logits(model(quizzes_to_rows(quizzes)))


class HookedQuizModel(nn.Module):
    """A converted HookedTransformer behind the interface of `vendor_culture.quiz_machine`
    (`model(quizzes)`, `prefill`, `step`), so `teacher_forced` and `masked_autoregression`
    run it exactly as they run MyGPT.

    The key/value cache is TransformerLens's TransformerLensKeyValueCache. Each call passes
    an all-ones attention mask, and TransformerLens takes the absolute positions from the
    cached mask plus the new one, so the new tokens get rows past+0, past+1, … of W_pos.
    `HookedTransformer.generate` is not used, because its KV cache is broken in
    transformer-lens 3.9 when no tokenizer is attached. Each cached step re-embeds the whole
    sequence at a positional offset equal to the cache length, so the new token gets position
    2·(length−1) instead of length−1. The tokens then differ from uncached generation, and
    once that position passes n_ctx the call fails with a shape error.
    """

    def __init__(self, model: HookedTransformer):
        super().__init__()
        self.model = model

    def forward(self, quizzes: torch.Tensor) -> torch.Tensor:
        """(N, 404) quiz tokens -> (N, 404, vocab) logits, where position p scores token p."""
        return forward_quizzes(self.model, quizzes)

    def prefill(self, inputs: torch.Tensor) -> tuple[torch.Tensor, TransformerLensKeyValueCache]:
        """Run shifted inputs (row positions 0..n-1) and return (logits, new cache)."""
        cache = TransformerLensKeyValueCache.init_cache(self.model.cfg, self.model.cfg.device, inputs.size(0))
        return self.step(inputs, cache), cache

    def step(self, inputs: torch.Tensor, cache: TransformerLensKeyValueCache) -> torch.Tensor:
        """Run shifted inputs for the positions right after the cache and extend it."""
        past = cache.entries[0].past_keys.size(1)
        if past + inputs.size(1) > self.model.cfg.n_ctx:
            raise ValueError(
                f"positions {past}..{past + inputs.size(1) - 1} exceed the model's n_ctx of {self.model.cfg.n_ctx}"
            )
        mask = torch.ones_like(inputs)
        return self.model(inputs, past_kv_cache=cache, attention_mask=mask)

    def to(self, device_or_dtype):
        # HookedTransformer.to also updates cfg.device, which decides where inputs go.
        self.model.to(device_or_dtype, print_details=False)
        return self
