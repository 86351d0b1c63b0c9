"""MyGPT: the culture transformer, with the original state-dict layout and a KV cache.

The module tree reproduces the original's parameter names exactly (for instance
`trunk.0.f.1.w_q` and `trunk.1.f.f.2.weight`), so original checkpoints load with
`load_state_dict(strict=True)`. The forward pass is our own: fused attention and an
explicit key/value cache instead of the original's bracketed sequences.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .tokens import VOCAB_SIZE


@dataclass(frozen=True)
class MyGPTConfig:
    """Shape of a MyGPT. Query/key heads have size `dim_keys`; value heads have size
    `dim_model // nb_heads`, which may differ."""

    dim_model: int
    dim_keys: int
    dim_hidden: int
    nb_heads: int
    nb_blocks: int
    vocabulary_size: int = VOCAB_SIZE
    dropout: float = 0.0
    len_max: float = 1e5

    def __post_init__(self):
        if self.dim_model % self.nb_heads != 0:
            raise ValueError(
                f"dim_model ({self.dim_model}) must be divisible by nb_heads ({self.nb_heads})"
            )
        for name in ("dim_model", "dim_keys", "dim_hidden", "nb_heads", "nb_blocks"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def dim_value(self) -> int:
        return self.dim_model // self.nb_heads

    def to_dict(self) -> dict:
        return asdict(self)


# The original's named model sizes.
PRESETS = {
    "17K": dict(dim_model=32, dim_keys=32, dim_hidden=32, nb_heads=2, nb_blocks=2),
    "4M": dict(dim_model=256, dim_keys=32, dim_hidden=1024, nb_heads=4, nb_blocks=6),
    "37M": dict(dim_model=512, dim_keys=64, dim_hidden=2048, nb_heads=8, nb_blocks=12),
    "122M": dict(dim_model=768, dim_keys=64, dim_hidden=2048, nb_heads=8, nb_blocks=24),
    "352M": dict(dim_model=1024, dim_keys=64, dim_hidden=2048, nb_heads=8, nb_blocks=48),
}


def preset_config(name: str, **overrides) -> MyGPTConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return MyGPTConfig(**{**PRESETS[name], **overrides})


def sinusoidal_positions(length: int, dim: int, len_max: float = 1e5) -> torch.Tensor:
    """Return the (length, dim) float32 encoding: even features are sines, each odd one the
    cosine at the frequency of the even one before it, with periods up to `len_max`.
    Computed in float32 in the original's order so that it matches to rounding."""
    t = torch.arange(length, dtype=torch.float32)[:, None]
    j = torch.arange(dim, dtype=torch.float32)[None, :]
    k = j % 2
    return torch.sin(t / torch.pow(len_max, (j - k) / dim) + math.pi / 2 * k)


class _Wrapped(nn.Module):
    """Holds a module under the attribute `f`, the nesting the original keys have."""

    def __init__(self, f: nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


class KVCache:
    """Keys and values of the positions computed so far, per attention layer."""

    def __init__(self, nb_blocks: int):
        self.keys: list[torch.Tensor | None] = [None] * nb_blocks
        self.values: list[torch.Tensor | None] = [None] * nb_blocks
        self.length = 0

    def append(self, block: int, keys: torch.Tensor, values: torch.Tensor):
        if self.keys[block] is None:
            self.keys[block], self.values[block] = keys, values
        else:
            self.keys[block] = torch.cat([self.keys[block], keys], dim=2)
            self.values[block] = torch.cat([self.values[block], values], dim=2)
        return self.keys[block], self.values[block]


class QKVAttention(nn.Module):
    """Multi-head causal attention without biases; scores are divided by sqrt(dim_keys)."""

    def __init__(self, config: MyGPTConfig):
        super().__init__()
        h, d = config.nb_heads, config.dim_model

        def weight(*shape):
            return nn.Parameter(torch.randn(*shape) / math.sqrt(shape[-1]))

        self.w_q = weight(h, config.dim_keys, d)
        self.w_k = weight(h, config.dim_keys, d)
        self.w_v = weight(h, config.dim_value, d)
        self.w_o = weight(config.dim_value * h, d)
        self.dropout = config.dropout
        self.scale = 1.0 / math.sqrt(config.dim_keys)
        self.attention_dropout = True

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, block: int = 0):
        """x: (batch, new positions, dim_model), the positions right after those cached."""
        q = torch.einsum("ntc,hdc->nhtd", x, self.w_q)
        k = torch.einsum("ntc,hdc->nhtd", x, self.w_k)
        v = torch.einsum("ntc,hdc->nhtd", x, self.w_v)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(block, k, v)
        dropout = self.dropout if self.training and self.attention_dropout else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, scale=self.scale)
        else:
            # Query t (absolute past + t) sees keys 0 .. past + t.
            nb_new, nb_keys = q.size(2), k.size(2)
            allowed = torch.arange(nb_keys, device=x.device)[None, :] <= (
                past + torch.arange(nb_new, device=x.device)[:, None]
            )
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout, scale=self.scale)
        y = y.transpose(1, 2).flatten(2)  # (batch, positions, heads * dim_value), head-major
        return y @ self.w_o


class _NoiseInjector(nn.Module):
    """Placeholder for the original's sign-flip noise module, which is the identity while
    its noise level is 0, as in every released checkpoint. It has no parameters."""

    def forward(self, x):
        return x


class MyGPT(nn.Module):
    """The culture GPT. `forward` takes (batch, T) quiz tokens and shifts them right by one
    internally with a 0, so the logits at position p score token p."""

    def __init__(self, config: MyGPTConfig):
        super().__init__()
        self.config = config
        d = config.dim_model
        self.embedding = nn.Sequential(
            _Wrapped(nn.Sequential(nn.Embedding(config.vocabulary_size, d), nn.Dropout(config.dropout)))
        )
        trunk = []
        for _ in range(config.nb_blocks):
            trunk.append(_Wrapped(nn.Sequential(
                _Wrapped(nn.Sequential(nn.LayerNorm(d), _NoiseInjector())),
                QKVAttention(config),
            )))
            trunk.append(_Wrapped(_Wrapped(nn.Sequential(
                nn.LayerNorm(d),
                _NoiseInjector(),
                nn.Linear(d, config.dim_hidden),
                nn.ReLU(),
                nn.Linear(config.dim_hidden, d),
                nn.Dropout(config.dropout),
            ))))
        self.trunk = nn.ModuleList(trunk)
        self.readout = _Wrapped(nn.Linear(d, config.vocabulary_size))
        # The original divides logits by this attribute; sampling code sets it.
        self.temperature = 1.0
        self._positions = torch.empty(0)

        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Embedding):
                    module.weight.normal_(mean=0, std=2e-2)
                elif isinstance(module, nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()

    def positions(self, start: int, stop: int, device, dtype) -> torch.Tensor:
        if self._positions.size(0) < stop:
            self._positions = sinusoidal_positions(max(stop, 512), self.config.dim_model, self.config.len_max)
        return self._positions[start:stop].to(device=device, dtype=dtype)

    def forward(self, quizzes: torch.Tensor) -> torch.Tensor:
        """(batch, T) quiz tokens -> (batch, T, vocabulary) logits."""
        shifted = F.pad(quizzes[:, :-1], (1, 0), value=0)
        return self.forward_shifted(shifted)

    def forward_shifted(self, inputs: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Run already-shifted inputs, where position p holds quiz token p-1 and position 0
        holds 0. With a cache, `inputs` are the positions right after those cached, and the
        cache is extended by them."""
        start = cache.length if cache is not None else 0
        x = self.embedding(inputs)
        x = x + self.positions(start, start + inputs.size(1), x.device, x.dtype)
        for block in range(self.config.nb_blocks):
            attention = self.trunk[2 * block].f
            x = x + attention[1](attention[0](x), cache, block)
            x = x + self.trunk[2 * block + 1](x)
        if cache is not None:
            cache.length += inputs.size(1)
        return self.readout(x) / self.temperature

    def new_cache(self) -> KVCache:
        return KVCache(self.config.nb_blocks)

    # Incremental decoding interface, shared with converted models.
    def prefill(self, inputs: torch.Tensor) -> tuple[torch.Tensor, KVCache]:
        """Run shifted inputs for positions 0..n-1 and return (logits, cache)."""
        cache = self.new_cache()
        return self.forward_shifted(inputs, cache), cache

    def step(self, inputs: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Run shifted inputs for the positions right after the cache and extend it."""
        return self.forward_shifted(inputs, cache)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
