"""Teacher-forced scoring and masked autoregression of quizzes.

Both work with any model that implements the incremental-decoding interface below, so the
same code runs MyGPT and (through an adapter) a converted HookedTransformer:

- `model(quizzes)`: (N, 404) quiz tokens -> (N, 404, vocabulary) logits, where the logits at
  position p score token p (the model shifts its input right internally);
- `model.prefill(inputs)`: shifted inputs for positions 0..n-1 -> (logits, cache);
- `model.step(inputs, cache)`: shifted inputs for the next positions -> logits, extending
  the cache.

Shifted inputs hold 0 at position 0 and quiz token p-1 at position p.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class IncrementalModel(Protocol):
    def __call__(self, quizzes: torch.Tensor) -> torch.Tensor: ...
    def prefill(self, inputs: torch.Tensor): ...
    def step(self, inputs: torch.Tensor, cache) -> torch.Tensor: ...


def shift_right(quizzes: torch.Tensor) -> torch.Tensor:
    """Return the inputs a model sees: a 0, then every quiz token but the last."""
    return F.pad(quizzes[:, :-1], (1, 0), value=0)


@torch.no_grad()
def teacher_forced(model: IncrementalModel, quizzes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every token of `quizzes` given the true prefix, in one forward pass.

    Returns (log-probability of the true token, whether the argmax is the true token),
    both (N, 404).
    """
    logits = model(quizzes).float()
    logprobs = logits.log_softmax(dim=-1)
    true_logprob = logprobs.gather(2, quizzes[:, :, None]).squeeze(2)
    argmax_right = logits.argmax(dim=-1) == quizzes
    return true_logprob, argmax_right


@torch.no_grad()
def masked_autoregression(
    model: IncrementalModel,
    quizzes: torch.Tensor,
    ar_mask: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return a copy of `quizzes` whose positions with `ar_mask` 1 are generated left to
    right with the KV cache; other positions keep their tokens. Temperature 0 is greedy
    (argmax); otherwise tokens are sampled from softmax(logits / temperature), with random
    numbers drawn on the CPU from `generator` so that results do not depend on the device.
    """
    result = quizzes.clone()
    mask = ar_mask.bool()
    if not mask.any():
        return result
    columns = mask.any(dim=0).nonzero().flatten()
    first, last = int(columns[0]), int(columns[-1])
    inputs = shift_right(result)

    # Logits at position p come from shifted inputs 0..p, which hold quiz tokens < p.
    logits, cache = model.prefill(inputs[:, : first + 1])
    logits = logits[:, -1]
    for position in range(first, last + 1):
        if mask[:, position].any():
            token = _choose(logits.float(), temperature, generator).to(result.device)
            result[:, position] = torch.where(mask[:, position], token, result[:, position])
        if position < last:
            logits = model.step(result[:, position : position + 1], cache)[:, -1]
    return result


def _choose(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probabilities = (logits / temperature).softmax(dim=-1).cpu()
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
