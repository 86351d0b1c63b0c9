"""Model-id selection (`0-4`, `0,2,3`, `all`) and where checkpoints come from."""

from __future__ import annotations

from pathlib import Path

from .checkpoints import BUNDLED_DIR, LoadedModel, checkpoints_in, load_checkpoint
from .errors import CulturectlError


def parse_model_ids(text: str, available: list[int]) -> list[int]:
    """Parse `all`, `3`, `0-4` or `0,2,3` (ranges and lists may mix) against the ids
    that exist, keeping the order given and dropping repeats."""
    text = text.strip()
    if text == "all":
        return sorted(available)
    known = set(available)
    ids: list[int] = []
    unknown: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(value) for value in part.split("-", 1))
                if low > high:
                    raise ValueError
                # Expand only the known ids, so that a huge range costs nothing.
                inside = [model_id for model_id in sorted(known) if low <= model_id <= high]
                if len(inside) != high - low + 1:
                    unknown.append(next(model_id for model_id in range(low, high + 1) if model_id not in known))
                ids.extend(inside)
            else:
                ids.append(int(part))
        except ValueError:
            raise CulturectlError(
                f"invalid model selection {text!r}; use ids like '0-4', '0,2,3' or 'all'"
            ) from None
    unknown += [model_id for model_id in ids if model_id not in known]
    if unknown:
        raise CulturectlError(
            f"unknown model id {', '.join(map(str, unknown))}; "
            f"available ids: {', '.join(map(str, sorted(available))) or 'none'}"
        )
    return list(dict.fromkeys(ids))


SOURCES = ("bundled", "hub")


def model_directory(checkpoints: Path | None, source: str = "bundled") -> tuple[Path, str]:
    """Return the folder of `gpt_NNN` checkpoints to use and a name for its source:
    `checkpoints` when given, else the bundled models or the published ones cached by
    `culturectl fetch` (never downloaded here)."""
    if source not in SOURCES:
        raise CulturectlError(f"unknown model source {source!r}; valid sources: {', '.join(SOURCES)}")
    if checkpoints is None and source == "hub":
        from .hub import hub_model_directory

        return hub_model_directory(), "hub"
    if checkpoints is None:
        return BUNDLED_DIR, "bundled"
    checkpoints = Path(checkpoints)
    if not checkpoints.is_dir():
        raise CulturectlError(f"checkpoint folder not found: {checkpoints}")
    return checkpoints, str(checkpoints)


def load_models(
    selection: str, checkpoints: Path | None = None, source: str = "bundled"
) -> tuple[list[LoadedModel], str]:
    """Load the selected models from `checkpoints` or the named source; return them and
    the name of their source."""
    directory, source = model_directory(checkpoints, source)
    found = checkpoints_in(directory)
    if not found:
        raise CulturectlError(
            f"no gpt_NNN.pth or gpt_NNN.safetensors checkpoints in {directory}"
        )
    ids = parse_model_ids(selection, list(found))
    return [load_checkpoint(found[model_id], model_id) for model_id in ids], source
