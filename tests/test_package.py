"""Packaging: the bundled models ship with the package, and startup stays light."""

import json
import subprocess
import sys

import culturectl
from culturectl.checkpoints import BUNDLED_DIR, checkpoints_in, load_checkpoint

TASKS = {"replace_color", "translate", "grow", "half_fill", "frame", "detect", "corners", "contact"}
MAX_BUNDLED_BYTES = 5 * 1024 * 1024


def test_bundled_models_ship_inside_package():
    assert BUNDLED_DIR.parent == __import__("pathlib").Path(culturectl.__file__).parent
    found = checkpoints_in(BUNDLED_DIR)
    assert sorted(found) == [0, 1, 2, 3, 4]
    for model_id, path in found.items():
        assert path.suffix == ".safetensors"
        assert path.stat().st_size <= MAX_BUNDLED_BYTES


def test_bundled_metadata_complete():
    seeds = set()
    for model_id, path in checkpoints_in(BUNDLED_DIR).items():
        metadata = json.loads(path.with_suffix(".json").read_text())
        assert metadata["model_id"] == model_id
        assert set(metadata["config"]) >= {"dim_model", "dim_keys", "dim_hidden", "nb_heads", "nb_blocks"}
        assert metadata["training"]["command"].startswith("culturectl train")
        assert metadata["training"]["samples_seen"] > 0
        assert set(metadata["accuracy"]["per_task"]) == TASKS
        seeds.add(metadata["training"]["seed"])
        loaded = load_checkpoint(path, model_id)
        assert loaded.config.dim_model == metadata["config"]["dim_model"]
    assert len(seeds) == 5, "bundled models must be trained from different seeds"


def test_load_hooked_exported_lazily():
    from culturectl.hooked import load_hooked

    assert culturectl.load_hooked is load_hooked


def test_help_does_not_import_heavy_libraries():
    script = (
        "import sys\n"
        "from culturectl.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [name for name in ('transformer_lens', 'sae_lens', 'datasets', 'transformers') if name in sys.modules]\n"
        "print('heavy:' + ','.join(heavy))\n"
    )
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip().splitlines()[-1] == "heavy:"
