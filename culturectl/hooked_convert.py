"""Pure conversion of MyGPT weights to TransformerLens HookedTransformer names and shapes.

No I/O and no model building happen here, and transformer_lens is not imported, so the
functions are cheap to import and test. `culturectl.hooked` builds the model from them.

How each MyGPT quirk is handled:
- MyGPT shifts its input right internally. A converted model instead takes the 405-token
  row (a leading 0, then the quiz); its logits at position p score quiz token p.
- Positions are sinusoidal and computed on the fly. Here they become a fixed `W_pos` table.
- Query/key heads have `dim_keys` features and value heads `dim_model // nb_heads`.
  TransformerLens has a single `d_head`, so `d_head` is the larger of the two and the
  narrower projections are padded with zeros. Zero features add nothing to q·k and
  produce zero outputs through W_O, so the padding changes no result.
- Scores are divided by sqrt(dim_keys), so `attn_scale` is set to that value instead of
  TransformerLens's default sqrt(d_head).
- Attention has no biases: b_Q, b_K, b_V and b_O are zeros.
- There is no final LayerNorm before the readout, so no `ln_final.*` tensors are produced.
"""

from __future__ import annotations

import math

import einops
import torch
import torch.nn.functional as F

from vendor_culture.mygpt import MyGPTConfig, sinusoidal_positions
from vendor_culture.tokens import ROW_LEN

from .checkpoints import from_fork_layout

# Epsilon of MyGPT's nn.LayerNorm modules (PyTorch's default).
LAYER_NORM_EPS = 1e-5


def hooked_head_size(config: MyGPTConfig) -> int:
    """Return the single TransformerLens `d_head` that fits both the query/key heads
    (`dim_keys`) and the value heads (`dim_model // nb_heads`)."""
    return max(config.dim_keys, config.dim_value)


# The HookedTransformerConfig fields that `hooked_config_fields` sets. The JSON file of a
# converted model stores them, read from the model's config.
HOOKED_CONFIG_KEYS = (
    "model_name", "original_architecture", "d_model", "d_head", "n_heads", "n_layers", "d_mlp",
    "d_vocab", "d_vocab_out", "n_ctx", "act_fn", "normalization_type", "eps",
    "positional_embedding_type", "attention_dir", "use_attn_scale", "attn_scale",
    "default_prepend_bos", "init_weights",
)


def hooked_config_fields(config: MyGPTConfig, n_ctx: int = ROW_LEN) -> dict:
    """Return the HookedTransformerConfig arguments for a MyGPT of shape `config`, as a
    JSON-ready dict. Device and dtype are left out for the caller to choose.

    `n_ctx` is the number of rows of the positional table and so the maximum input length.
    It must be at least 405, the length of a dataset row.
    """
    if n_ctx < ROW_LEN:
        raise ValueError(f"n_ctx must be at least {ROW_LEN} (a leading 0 plus a 404-token quiz), got {n_ctx}")
    return {
        "model_name": "culture-mygpt",
        "original_architecture": "MyGPT",
        "d_model": config.dim_model,
        "d_head": hooked_head_size(config),
        "n_heads": config.nb_heads,
        "n_layers": config.nb_blocks,
        "d_mlp": config.dim_hidden,
        "d_vocab": config.vocabulary_size,
        "d_vocab_out": config.vocabulary_size,
        "n_ctx": n_ctx,
        "act_fn": "relu",
        "normalization_type": "LN",
        "eps": LAYER_NORM_EPS,
        "positional_embedding_type": "standard",
        "attention_dir": "causal",
        "use_attn_scale": True,
        # MyGPT divides scores by sqrt(dim_keys), which differs from sqrt(d_head) when
        # the value heads are wider than the query/key heads.
        "attn_scale": math.sqrt(config.dim_keys),
        "default_prepend_bos": False,
        "init_weights": False,
    }


def _expected_shapes(config: MyGPTConfig) -> dict[str, tuple[int, ...]]:
    d, h = config.dim_model, config.nb_heads
    shapes = {"embedding.0.f.0.weight": (config.vocabulary_size, d)}
    for block in range(config.nb_blocks):
        attention, mlp = f"trunk.{2 * block}.f", f"trunk.{2 * block + 1}.f.f"
        shapes.update({
            f"{attention}.0.f.0.weight": (d,),
            f"{attention}.0.f.0.bias": (d,),
            f"{attention}.1.w_q": (h, config.dim_keys, d),
            f"{attention}.1.w_k": (h, config.dim_keys, d),
            f"{attention}.1.w_v": (h, config.dim_value, d),
            f"{attention}.1.w_o": (h * config.dim_value, d),
            f"{mlp}.0.weight": (d,),
            f"{mlp}.0.bias": (d,),
            f"{mlp}.2.weight": (config.dim_hidden, d),
            f"{mlp}.2.bias": (config.dim_hidden,),
            f"{mlp}.4.weight": (d, config.dim_hidden),
            f"{mlp}.4.bias": (d,),
        })
    shapes["readout.f.weight"] = (config.vocabulary_size, d)
    shapes["readout.f.bias"] = (config.vocabulary_size,)
    return shapes


def check_mygpt_state_dict(state_dict: dict[str, torch.Tensor], config: MyGPTConfig) -> None:
    """Raise ValueError unless `state_dict` has exactly the MyGPT keys and shapes of `config`."""
    expected = _expected_shapes(config)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match a MyGPT of shape {config.to_dict()}: "
            f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}"
        )
    for key, shape in expected.items():
        if tuple(state_dict[key].shape) != shape:
            raise ValueError(f"tensor {key} has shape {tuple(state_dict[key].shape)}, expected {shape}")


def convert_mygpt_weights(
    state_dict: dict[str, torch.Tensor],
    config: MyGPTConfig,
    n_ctx: int = ROW_LEN,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """Return the HookedTransformer state dict of a MyGPT, keyed by TransformerLens names.

    `state_dict` uses the original culture key layout (the fork's layout with one extra
    `.f` level is accepted too). Every returned tensor is a new tensor on `device` (default:
    the device of the source weights) in `dtype` (default: the source dtype), including
    the synthesised zero biases and the positional table. The attention buffers that
    TransformerLens adds (`mask`, `IGNORE`) are not included.
    """
    state_dict = from_fork_layout(state_dict)
    check_mygpt_state_dict(state_dict, config)
    source = state_dict["embedding.0.f.0.weight"]
    device = source.device if device is None else torch.device(device)
    dtype = source.dtype if dtype is None else dtype
    d_head = hooked_head_size(config)

    def take(key: str) -> torch.Tensor:
        return state_dict[key].detach().to(device=device, dtype=dtype, copy=True)

    def zeros(*shape: int) -> torch.Tensor:
        return torch.zeros(*shape, device=device, dtype=dtype)

    def pad_heads(weight: torch.Tensor, dim: int) -> torch.Tensor:
        # Zero features beyond the head's own width, up to d_head.
        missing = d_head - weight.size(dim)
        padding = [0, 0] * (weight.dim() - 1 - dim) + [0, missing]
        return F.pad(weight, padding).contiguous()

    # MyGPT computes the table in float32 on the CPU, so doing the same here keeps it
    # bit-identical before the cast to `dtype`.
    positions = sinusoidal_positions(n_ctx, config.dim_model, config.len_max)
    hooked = {
        "embed.W_E": take("embedding.0.f.0.weight"),
        "pos_embed.W_pos": positions.to(device=device, dtype=dtype),
    }
    for block in range(config.nb_blocks):
        attention, mlp, prefix = f"trunk.{2 * block}.f", f"trunk.{2 * block + 1}.f.f", f"blocks.{block}"
        hooked[f"{prefix}.ln1.w"] = take(f"{attention}.0.f.0.weight")
        hooked[f"{prefix}.ln1.b"] = take(f"{attention}.0.f.0.bias")

        # MyGPT stores per-head projections as (head, d_head, d_model) and applies x @ w.T;
        # TransformerLens stores (head, d_model, d_head) and applies x @ W.
        for name in ("q", "k", "v"):
            weight = einops.rearrange(take(f"{attention}.1.w_{name}"), "head d_head d_model -> head d_model d_head")
            hooked[f"{prefix}.attn.W_{name.upper()}"] = pad_heads(weight, dim=2)
            hooked[f"{prefix}.attn.b_{name.upper()}"] = zeros(config.nb_heads, d_head)

        # MyGPT multiplies the head-major concatenation of head outputs by w_o, so the rows
        # of w_o are grouped by head already: a reshape, no transpose.
        w_o = einops.rearrange(take(f"{attention}.1.w_o"), "(head d_head) d_model -> head d_head d_model", head=config.nb_heads)
        hooked[f"{prefix}.attn.W_O"] = pad_heads(w_o, dim=1)
        hooked[f"{prefix}.attn.b_O"] = zeros(config.dim_model)

        hooked[f"{prefix}.ln2.w"] = take(f"{mlp}.0.weight")
        hooked[f"{prefix}.ln2.b"] = take(f"{mlp}.0.bias")
        # nn.Linear stores (out, in) and TransformerLens (in, out).
        hooked[f"{prefix}.mlp.W_in"] = take(f"{mlp}.2.weight").T.contiguous()
        hooked[f"{prefix}.mlp.b_in"] = take(f"{mlp}.2.bias")
        hooked[f"{prefix}.mlp.W_out"] = take(f"{mlp}.4.weight").T.contiguous()
        hooked[f"{prefix}.mlp.b_out"] = take(f"{mlp}.4.bias")

    hooked["unembed.W_U"] = take("readout.f.weight").T.contiguous()
    hooked["unembed.b_U"] = take("readout.f.bias")
    return hooked
