"""The transformer-lens patch in patches/: it applies to the installed version, and the
patched library's `final_ln=False` option gives the same results as culturectl's
runtime approach (an identity `ln_final` on stock TransformerLens).

Nothing here is skipped: if the patch cannot be applied or run, the tests fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from culturectl.checkpoints import build_model, infer_config
from culturectl.hooked import to_hooked
from culturectl.hooked_convert import hooked_config_fields
from vendor_culture.tokens import quizzes_to_rows

PATCH = Path(__file__).parent.parent / "patches" / "transformer_lens_no_final_ln.patch"
TARGET_VERSION = "3.9.0"
# float32 logits computed in another process can differ in the last bits (thread count and
# reduction order); a wrong patch differs by whole units.
LOGITS_ATOL = 1e-4

# Run with the patched copy first on PYTHONPATH. Arguments: the reference model's weights
# file, its io file, the output file. Prints a JSON summary on stdout.
PATCHED_SCRIPT = r"""
import json, sys, warnings
import torch
from safetensors.torch import load_file, save_file
import transformer_lens
from transformer_lens import HookedTransformer, HookedTransformerConfig
from culturectl.checkpoints import infer_config
from culturectl.hooked_convert import convert_mygpt_weights, hooked_config_fields
from vendor_culture.tokens import quizzes_to_rows

weights_path, io_path, out_path = sys.argv[1:4]
state_dict = load_file(weights_path)
config = infer_config(state_dict, weights_path)
cfg = HookedTransformerConfig(**hooked_config_fields(config), final_ln=False, device="cpu")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    model = HookedTransformer(cfg)
result = model.load_state_dict(convert_mygpt_weights(state_dict, config), strict=False)
buffers = {name for name, _ in model.named_buffers()}
rows = quizzes_to_rows(load_file(io_path)["tokens"])

with torch.no_grad():
    logits, cache = model.run_with_cache(rows)
    lens = model.unembed(cache.accumulated_resid(apply_ln=True)[-1])
    decomposed = model.unembed(cache.decompose_resid(apply_ln=True).sum(dim=0))
    last = model.cfg.n_layers
    neurons_projected = cache.stack_neuron_results(last, apply_ln=True, project_output_onto=model.W_U)
    neurons_then_projected = cache.stack_neuron_results(last, apply_ln=True) @ model.W_U
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.process_weights_(fold_ln=True, center_writing_weights=True, center_unembed=False)
    folded = model(rows)

results = {
    "logits": logits, "lens": lens, "decomposed": decomposed, "folded": folded,
    "neurons_projected": neurons_projected, "neurons_then_projected": neurons_then_projected,
}
save_file({name: tensor.contiguous() for name, tensor in results.items()}, out_path)
print(json.dumps({
    "transformer_lens_file": transformer_lens.__file__,
    "missing_parameters": [key for key in result.missing_keys if key not in buffers],
    "unexpected": list(result.unexpected_keys),
    "ln_final": type(model.ln_final).__name__,
    "hook_scale_cached": "ln_final.hook_scale" in cache.cache_dict,
    "centering_warning": any("center_writing_weights" in str(w.message) for w in caught),
}))
"""


def apply_unified_diff(patch_text: str, root: Path) -> None:
    """Apply a unified diff with `-p1` paths under `root`, requiring every context line
    to match. Used only when neither `patch` nor `git` is installed."""
    lines = patch_text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        if not lines[index].startswith("--- "):
            index += 1
            continue
        target = root / lines[index + 1][4:].strip().split("/", 1)[1]
        original = target.read_text().splitlines(keepends=True) if target.exists() else []
        result, position, index = [], 0, index + 2
        while index < len(lines) and lines[index].startswith("@@"):
            start = int(lines[index].split()[1].lstrip("-").split(",")[0])
            old, new, index = [], [], index + 1
            while index < len(lines) and lines[index][:1] in (" ", "-", "+"):
                if lines[index].startswith("--- ") and lines[index + 1].startswith("+++ "):
                    break
                kind, text = lines[index][0], lines[index][1:]
                if kind != "+":
                    old.append(text)
                if kind != "-":
                    new.append(text)
                index += 1
            begin = max(start - 1, 0)
            if original[begin : begin + len(old)] != old:
                raise AssertionError(f"hunk at line {start} of {target} does not match the installed file")
            result += original[position:begin] + new
            position = begin + len(old)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(result + original[position:]))


def apply_patch(root: Path) -> str:
    """Apply the patch under `root` with `patch`, else `git apply`, else Python. Returns
    the tool used. A failure raises, so the test fails."""
    if shutil.which("patch"):
        subprocess.run(["patch", "-p1", "--forward", "--batch", "-i", str(PATCH)], cwd=root, check=True, capture_output=True)
        return "patch"
    if shutil.which("git"):
        subprocess.run(["git", "apply", "-p1", str(PATCH)], cwd=root, check=True, capture_output=True)
        return "git"
    apply_unified_diff(PATCH.read_text(), root)
    return "python"


def installed_package_dir() -> Path:
    spec = importlib.util.find_spec("transformer_lens")
    assert spec is not None and spec.origin is not None, "transformer_lens is not installed"
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def patched_site(tmp_path_factory) -> Path:
    """A folder holding a patched copy of the installed transformer_lens package."""
    site = tmp_path_factory.mktemp("patched_site")
    shutil.copytree(installed_package_dir(), site / "transformer_lens", ignore=shutil.ignore_patterns("__pycache__"))
    apply_patch(site)
    return site


def test_patch_targets_installed_version():
    assert version("transformer-lens") == TARGET_VERSION, (
        f"patches/{PATCH.name} is made against transformer-lens {TARGET_VERSION}; "
        "regenerate it for the installed version"
    )


def test_stock_library_lacks_option(data_dir):
    from transformer_lens import HookedTransformerConfig

    config = infer_config(load_file(data_dir / "mygpt_tiny.safetensors"), data_dir)

    with pytest.raises(TypeError, match="final_ln"):
        HookedTransformerConfig(**hooked_config_fields(config), final_ln=False)


def test_python_applier_matches_patch_tool(tmp_path):
    """The fallback applier gives the same files as the tool `apply_patch` picks."""
    changed = [line[6:].strip() for line in PATCH.read_text().splitlines() if line.startswith("+++ b/")]
    installed = installed_package_dir()
    for root in (tmp_path / "tool", tmp_path / "python"):
        for name in changed:
            source = installed / name.split("/", 1)[1]
            if source.exists():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, root / name)

    apply_patch(tmp_path / "tool")
    apply_unified_diff(PATCH.read_text(), tmp_path / "python")

    for name in changed:
        assert (tmp_path / "python" / name).read_text() == (tmp_path / "tool" / name).read_text(), name


def test_patched_library_matches_runtime_approach(patched_site, data_dir, tmp_path):
    weights_path = data_dir / "mygpt_tiny.safetensors"
    io_path = data_dir / "mygpt_tiny_io.safetensors"
    out_path = tmp_path / "patched.safetensors"
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(patched_site), environment.get("PYTHONPATH")]))

    process = subprocess.run(
        [sys.executable, "-c", PATCHED_SCRIPT, str(weights_path), str(io_path), str(out_path)],
        capture_output=True, text=True, env=environment, timeout=600,
    )

    assert process.returncode == 0, process.stderr[-3000:]
    summary = json.loads(process.stdout.strip().splitlines()[-1])
    assert Path(summary["transformer_lens_file"]).resolve().is_relative_to(patched_site.resolve())
    assert summary["missing_parameters"] == []
    assert summary["unexpected"] == []
    assert summary["ln_final"] == "IdentityNorm"
    assert summary["hook_scale_cached"]
    assert summary["centering_warning"]

    state_dict = load_file(weights_path)
    model = build_model(state_dict, infer_config(state_dict, weights_path), weights_path)
    with torch.no_grad():
        runtime_logits = to_hooked(model)(quizzes_to_rows(load_file(io_path)["tokens"]))
    patched = load_file(out_path)
    for name in ("logits", "lens", "decomposed", "folded"):
        torch.testing.assert_close(
            patched[name], runtime_logits, atol=LOGITS_ATOL, rtol=0, msg=lambda message, name=name: f"{name}: {message}"
        )
    torch.testing.assert_close(
        patched["neurons_projected"], patched["neurons_then_projected"], atol=LOGITS_ATOL, rtol=0
    )
