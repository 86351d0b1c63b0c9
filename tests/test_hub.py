"""culturectl.hub and `culturectl fetch` against a local Hugging Face cache.

Every test runs offline: HF_HUB_OFFLINE=1 is set, huggingface_hub's own offline flag is
forced on (except where a test replaces the hub's response), and opening a socket fails.
The cache is built in tmp_path with the layout huggingface_hub uses: refs/<branch> contains a
commit hash, snapshots/<commit>/<file> links to blobs/<hash>.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub import constants as hub_constants
from typer.testing import CliRunner

from culturectl import hub
from culturectl.checkpoints import checkpoints_in, file_sha256, load_checkpoint
from culturectl.cli import app
from culturectl.errors import CulturectlError

DATA_DIR = Path(__file__).parent / "data"
REFERENCE_CHECKPOINT = DATA_DIR / "gpt_000.pth"
REFERENCE_QUIZZES = DATA_DIR / "c_quizzes.pth"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"

runner = CliRunner()


def _refuse_network(*args, **kwargs):
    raise AssertionError("a test tried to open a network connection")


@pytest.fixture(autouse=True)
def offline_environment(tmp_path, monkeypatch):
    """Point the hub cache and culturectl's state folder into tmp_path, turn on offline
    mode and make any socket connection fail the test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("CULTURECTL_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse_network)
    monkeypatch.setattr(socket, "create_connection", _refuse_network)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_network)
    (tmp_path / "hub").mkdir()


def add_to_cache(cache: Path, repo_id: str, files: dict[str, Path], *, repo_type: str = "model",
                 commit: str = COMMIT, ref: str | None = "main") -> Path:
    """Store `files` (repository name -> source file) in the cache layout of
    huggingface_hub and return the snapshot folder."""
    repo_folder = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    if ref is not None:
        (repo_folder / "refs").mkdir(parents=True, exist_ok=True)
        (repo_folder / "refs" / ref).write_text(commit)
    snapshot = repo_folder / "snapshots" / commit
    for name, source in files.items():
        data = Path(source).read_bytes()
        blob = repo_folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "hub"


@pytest.fixture
def model_cache(cache) -> Path:
    """The model repository cached at main with two checkpoints and c_quizzes.pth."""
    return add_to_cache(cache, hub.MODEL_REPO, {
        "gpt_000.pth": REFERENCE_CHECKPOINT,
        "gpt_001.pth": REFERENCE_CHECKPOINT,
        "c_quizzes.pth": REFERENCE_QUIZZES,
    })


@pytest.fixture
def download_calls(monkeypatch):
    """Record the keyword arguments of every hf_hub_download call and pass it through."""
    calls = []
    original = huggingface_hub.hf_hub_download

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", recording)
    return calls


def go_online(monkeypatch, repo_info):
    """Turn offline mode off and replace HfApi.repo_info with `repo_info`. Sockets stay
    blocked, so any real request fails the test."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)


def remote_answer(files: list[str], commit: str = COMMIT, calls: list | None = None):
    def repo_info(self, repo_id, **kwargs):
        if calls is not None:
            calls.append({"repo_id": repo_id, **kwargs})
        siblings = [SimpleNamespace(rfilename=name) for name in files]
        return SimpleNamespace(sha=commit, siblings=siblings)

    return repo_info


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------
# fetch_files and fetch through the cache
# ---------------------------------------------------------------------------


def test_fetch_files_returns_cached_paths(model_cache, download_calls):
    paths = hub.fetch_files(hub.MODEL_REPO, ["gpt_000.pth", "c_quizzes.pth"])

    assert paths == [model_cache / "gpt_000.pth", model_cache / "c_quizzes.pth"]
    assert paths[0].read_bytes() == REFERENCE_CHECKPOINT.read_bytes()
    assert paths[1].read_bytes() == REFERENCE_QUIZZES.read_bytes()
    assert len(download_calls) == 2
    assert all(call["local_files_only"] is True for call in download_calls)


def test_fetch_files_records_manifest(tmp_path, model_cache):
    hub.fetch_files(hub.MODEL_REPO, ["gpt_000.pth"])
    hub.fetch_files(hub.MODEL_REPO, ["c_quizzes.pth"])

    manifest = read_manifest(tmp_path / "state" / hub.MANIFEST_NAME)
    assert manifest["format"] == hub.MANIFEST_FORMAT
    assert manifest["huggingface_hub_version"] == huggingface_hub.__version__
    entries = {entry["filename"]: entry for entry in manifest["files"]}
    assert set(entries) == {"gpt_000.pth", "c_quizzes.pth"}
    assert entries["gpt_000.pth"]["sha256"] == file_sha256(REFERENCE_CHECKPOINT)
    assert entries["gpt_000.pth"]["commit"] == COMMIT
    assert entries["gpt_000.pth"]["repo_id"] == hub.MODEL_REPO
    assert entries["gpt_000.pth"]["revision"] == "main"
    assert entries["gpt_000.pth"]["path"] == str(model_cache / "gpt_000.pth")


def test_fetched_checkpoint_loads(model_cache):
    (path,) = hub.fetch_files(hub.MODEL_REPO, ["gpt_000.pth"])

    loaded = load_checkpoint(path, 0)

    assert loaded.model_id == 0
    assert loaded.sha256 == file_sha256(REFERENCE_CHECKPOINT)
    assert loaded.metadata["format"] == "original"


def test_fetch_at_commit_revision(cache):
    snapshot = add_to_cache(cache, hub.MODEL_REPO, {"gpt_000.pth": REFERENCE_CHECKPOINT}, commit=OTHER_COMMIT, ref=None)
    add_to_cache(cache, hub.MODEL_REPO, {"gpt_000.pth": REFERENCE_CHECKPOINT})

    (entry,) = hub.fetch(hub.MODEL_REPO, ["gpt_000.pth"], revision=OTHER_COMMIT)

    assert entry.path == snapshot / "gpt_000.pth"
    assert entry.commit == OTHER_COMMIT


def test_fetch_missing_file_names_repo(model_cache):
    with pytest.raises(CulturectlError) as raised:
        hub.fetch_files(hub.MODEL_REPO, ["gpt_004.pth"])

    message = str(raised.value)
    assert "\n" not in message
    assert hub.MODEL_REPO in message
    assert "gpt_004.pth" in message
    assert "--local-dir" in message
    assert "HF_HUB_OFFLINE" in message


def test_fetch_uncached_repo_fails(cache):
    with pytest.raises(CulturectlError) as raised:
        hub.fetch_files(hub.SAE_REPO, list(hub.SAE_FILES))

    assert hub.SAE_REPO in str(raised.value)
    assert hub.SAE_FILES[0] in str(raised.value)


def test_fetch_nested_sae_files(cache, tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text('{"d_in": 512, "d_sae": 16384}')
    weights = tmp_path / "sae_weights.safetensors"
    weights.write_bytes(b"not checked by fetch")
    add_to_cache(cache, hub.SAE_REPO, {hub.SAE_FILES[0]: config, hub.SAE_FILES[1]: weights})

    fetched = hub.fetch(hub.SAE_REPO, hub.SAE_FILES)

    assert [entry.filename for entry in fetched] == list(hub.SAE_FILES)
    assert [entry.commit for entry in fetched] == [COMMIT, COMMIT]
    assert fetched[0].path.read_text() == config.read_text()


def test_fetch_skips_missing_optional_tokenizer_files(cache, tmp_path):
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text("{}")
    add_to_cache(cache, hub.TOKENIZER_REPO, {"tokenizer.json": tokenizer_file})

    fetched = hub.fetch(hub.TOKENIZER_REPO, hub.TOKENIZER_FILES, optional=hub.OPTIONAL_TOKENIZER_FILES)

    assert [entry.filename for entry in fetched] == ["tokenizer.json"]


def test_fetch_snapshot_lists_dataset_files(cache, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# dataset card\n")
    shard = tmp_path / "shard.parquet"
    shard.write_bytes(b"PAR1 test bytes")
    add_to_cache(cache, hub.DATASET_REPO, {"README.md": readme, "data/train-00000-of-00001.parquet": shard},
                 repo_type="dataset")

    fetched = hub.fetch_snapshot(hub.DATASET_REPO)

    assert [entry.filename for entry in fetched] == ["README.md", "data/train-00000-of-00001.parquet"]
    assert all(entry.repo_type == "dataset" for entry in fetched)
    assert fetched[1].sha256 == file_sha256(shard)
    assert fetched[1].commit == COMMIT


def test_fetch_snapshot_uncached_fails(cache):
    with pytest.raises(CulturectlError) as raised:
        hub.fetch_snapshot(hub.PARTITIONED_DATASET_REPO)

    assert hub.PARTITIONED_DATASET_REPO in str(raised.value)
    assert "--local-dir" in str(raised.value)


def test_fetch_snapshot_incomplete_fails(monkeypatch, cache):
    from huggingface_hub.errors import IncompleteSnapshotError

    def incomplete(*args, **kwargs):
        raise IncompleteSnapshotError("1 file(s) are missing (data/a.parquet).", snapshot_path="unused")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", incomplete)

    with pytest.raises(CulturectlError) as raised:
        hub.fetch_snapshot(hub.DATASET_REPO)

    message = str(raised.value)
    assert "is incomplete" in message
    assert "data/a.parquet" in message
    assert hub.DATASET_REPO in message


def test_fetch_from_local_dir(tmp_path, cache):
    local_dir = tmp_path / "models"
    local_dir.mkdir()
    shutil.copy(REFERENCE_CHECKPOINT, local_dir / "gpt_000.pth")
    shutil.copy(REFERENCE_QUIZZES, local_dir / "c_quizzes.pth")

    paths = hub.fetch_files(hub.MODEL_REPO, ["gpt_000.pth", "c_quizzes.pth"], local_dir=local_dir)

    assert paths == [local_dir / "gpt_000.pth", local_dir / "c_quizzes.pth"]
    manifest = read_manifest(local_dir / hub.MANIFEST_NAME)
    assert {entry["filename"] for entry in manifest["files"]} == {"gpt_000.pth", "c_quizzes.pth"}
    assert hub.hub_model_directory(local_dir=local_dir) == local_dir
    assert hub.hub_culture_quizzes_path(local_dir=local_dir) == local_dir / "c_quizzes.pth"
    assert load_checkpoint(paths[0], 0).sha256 == file_sha256(REFERENCE_CHECKPOINT)


def test_fetch_through_symlinked_cache(tmp_path, monkeypatch):
    real_cache = tmp_path / "real-hub"
    add_to_cache(real_cache, hub.MODEL_REPO, {"gpt_000.pth": REFERENCE_CHECKPOINT})
    (tmp_path / "linked-hub").symlink_to(real_cache)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "linked-hub"))

    (entry,) = hub.fetch(hub.MODEL_REPO, ["gpt_000.pth"])

    assert entry.commit == COMMIT
    assert entry.sha256 == file_sha256(REFERENCE_CHECKPOINT)


def test_fetch_local_dir_missing_file(tmp_path, cache):
    local_dir = tmp_path / "models"
    local_dir.mkdir()

    with pytest.raises(CulturectlError) as raised:
        hub.fetch_files(hub.MODEL_REPO, ["gpt_002.pth"], local_dir=local_dir)

    message = str(raised.value)
    assert "gpt_002.pth" in message
    assert str(local_dir) in message
    assert "\n" not in message


# ---------------------------------------------------------------------------
# fetch with a replaced hub response
# ---------------------------------------------------------------------------


def test_fetch_online_uses_resolved_commit(monkeypatch, model_cache, download_calls):
    info_calls = []
    go_online(monkeypatch, remote_answer(["gpt_000.pth", "c_quizzes.pth"], calls=info_calls))

    (entry,) = hub.fetch(hub.MODEL_REPO, ["gpt_000.pth"], timeout=3.0)

    assert entry.path == model_cache / "gpt_000.pth"
    assert entry.commit == COMMIT
    assert info_calls == [{"repo_id": hub.MODEL_REPO, "repo_type": "model", "revision": "main", "timeout": 3.0}]
    assert download_calls[0]["revision"] == COMMIT
    assert download_calls[0]["local_files_only"] is False
    assert download_calls[0]["etag_timeout"] == 3.0


def test_fetch_online_missing_file_fails_early(monkeypatch, model_cache, download_calls):
    go_online(monkeypatch, remote_answer(["gpt_000.pth", "c_quizzes.pth"]))

    with pytest.raises(CulturectlError) as raised:
        hub.fetch(hub.MODEL_REPO, ["gpt_000.pth", "gpt_004.pth"])

    assert "gpt_004.pth not found in tommyp111/culture-gpt" in str(raised.value)
    assert download_calls == []


def test_fetch_online_skips_absent_optional(monkeypatch, cache, tmp_path):
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text("{}")
    add_to_cache(cache, hub.TOKENIZER_REPO, {"tokenizer.json": tokenizer_file})
    go_online(monkeypatch, remote_answer(["tokenizer.json", "README.md"]))

    fetched = hub.fetch(hub.TOKENIZER_REPO, hub.TOKENIZER_FILES, optional=hub.OPTIONAL_TOKENIZER_FILES)

    assert [entry.filename for entry in fetched] == ["tokenizer.json"]


def test_fetch_unreachable_hub_uses_cache(monkeypatch, model_cache, download_calls):
    import httpx2

    def unreachable(self, repo_id, **kwargs):
        raise httpx2.ConnectTimeout("timed out")

    go_online(monkeypatch, unreachable)

    (entry,) = hub.fetch(hub.MODEL_REPO, ["gpt_000.pth"])

    assert entry.path == model_cache / "gpt_000.pth"
    assert download_calls[0]["local_files_only"] is True


def test_fetch_unreachable_hub_names_cause(monkeypatch, model_cache):
    import httpx2

    def unreachable(self, repo_id, **kwargs):
        raise httpx2.ConnectTimeout("timed out")

    go_online(monkeypatch, unreachable)

    with pytest.raises(CulturectlError) as raised:
        hub.fetch(hub.MODEL_REPO, ["gpt_003.pth"], timeout=2.0)

    message = str(raised.value)
    assert "could not be reached (ConnectTimeout: timed out, timeout 2 s)" in message
    assert "gpt_003.pth" in message
    assert "\n" not in message


def test_fetch_unknown_repo_fails(monkeypatch, cache):
    import httpx2
    from huggingface_hub.utils import RepositoryNotFoundError

    def not_found(self, repo_id, **kwargs):
        response = httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co/api/models/x"))
        raise RepositoryNotFoundError("404 Client Error: Repository Not Found", response=response)

    go_online(monkeypatch, not_found)

    with pytest.raises(CulturectlError) as raised:
        hub.fetch("someone/missing-repo", ["gpt_000.pth"])

    assert "someone/missing-repo" in str(raised.value)
    assert "--repo" in str(raised.value)


# ---------------------------------------------------------------------------
# Resolving fetched files offline
# ---------------------------------------------------------------------------


def test_hub_model_directory_finds_snapshot(model_cache):
    directory = hub.hub_model_directory()

    assert directory == model_cache
    assert sorted(checkpoints_in(directory)) == [0, 1]


def test_hub_model_directory_by_commit(cache):
    snapshot = add_to_cache(cache, hub.MODEL_REPO, {"gpt_002.pth": REFERENCE_CHECKPOINT}, commit=OTHER_COMMIT, ref=None)

    assert hub.hub_model_directory(revision=OTHER_COMMIT) == snapshot


def test_hub_cache_env_read_at_call(tmp_path, monkeypatch):
    other_cache = tmp_path / "other-hub"
    snapshot = add_to_cache(other_cache, hub.MODEL_REPO, {"gpt_000.pth": REFERENCE_CHECKPOINT})
    monkeypatch.setenv("HF_HUB_CACHE", str(other_cache))

    assert hub.hub_model_directory() == snapshot


def test_hub_model_directory_empty_cache(cache):
    with pytest.raises(CulturectlError) as raised:
        hub.hub_model_directory()

    message = str(raised.value)
    assert "culturectl fetch" in message
    assert hub.MODEL_REPO in message
    assert "\n" not in message


def test_hub_model_directory_unknown_revision(model_cache):
    with pytest.raises(CulturectlError) as raised:
        hub.hub_model_directory(revision="v2")

    assert "revision v2" in str(raised.value)


def test_hub_model_directory_empty_local_dir(tmp_path):
    with pytest.raises(CulturectlError) as raised:
        hub.hub_model_directory(local_dir=tmp_path)

    assert "culturectl fetch --local-dir" in str(raised.value)


def test_hub_culture_quizzes_path_cached(model_cache):
    assert hub.hub_culture_quizzes_path() == model_cache / "c_quizzes.pth"


def test_hub_culture_quizzes_path_missing(cache):
    add_to_cache(cache, hub.MODEL_REPO, {"gpt_000.pth": REFERENCE_CHECKPOINT})

    with pytest.raises(CulturectlError) as raised:
        hub.hub_culture_quizzes_path()

    assert "c_quizzes.pth" in str(raised.value)
    assert "culturectl fetch" in str(raised.value)


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def test_cli_fetch_json_offline(tmp_path, model_cache):
    result = runner.invoke(app, ["fetch", "--models", "0-1", "--json"])

    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [record["filename"] for record in records] == ["gpt_000.pth", "gpt_001.pth", "c_quizzes.pth"]
    for record in records:
        path = Path(record["path"])
        assert path.parent == model_cache
        assert record["sha256"] == file_sha256(path)
        assert record["commit"] == COMMIT
    assert records[2]["sha256"] == file_sha256(REFERENCE_QUIZZES)
    manifest = read_manifest(tmp_path / "state" / hub.MANIFEST_NAME)
    assert len(manifest["files"]) == 3
    assert manifest["command"] is not None


def test_cli_fetch_listing(model_cache):
    result = runner.invoke(app, ["fetch", "--models", "0"])

    assert result.exit_code == 0, result.output
    assert f"sha256  {file_sha256(REFERENCE_CHECKPOINT)}" in result.stdout
    assert f"path    {model_cache / 'gpt_000.pth'}" in result.stdout
    assert f"sha256  {file_sha256(REFERENCE_QUIZZES)}" in result.stdout


def test_cli_fetch_local_dir_offline(tmp_path, cache):
    local_dir = tmp_path / "models"
    local_dir.mkdir()
    shutil.copy(REFERENCE_CHECKPOINT, local_dir / "gpt_000.pth")
    shutil.copy(REFERENCE_QUIZZES, local_dir / "c_quizzes.pth")

    result = runner.invoke(app, ["fetch", "--models", "0", "--local-dir", str(local_dir), "--json"])

    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [Path(record["path"]) for record in records] == [local_dir / "gpt_000.pth", local_dir / "c_quizzes.pth"]
    assert (local_dir / hub.MANIFEST_NAME).is_file()


def cache_sae_tokenizer_datasets(cache: Path, tmp_path: Path) -> None:
    """Cache small stand-ins for the SAE, tokenizer and dataset repositories."""
    sae_config = tmp_path / "cfg.json"
    sae_config.write_text('{"d_sae": 16384}')
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text("{}")
    readme = tmp_path / "README.md"
    readme.write_text("# dataset card\n")
    add_to_cache(cache, hub.SAE_REPO, {name: sae_config for name in hub.SAE_FILES})
    add_to_cache(cache, hub.TOKENIZER_REPO, {"tokenizer.json": tokenizer_file, "tokenizer_config.json": tokenizer_file})
    for dataset_repo in hub.DATASET_REPOS:
        add_to_cache(cache, dataset_repo, {"README.md": readme}, repo_type="dataset")


def test_cli_fetch_every_artifact(tmp_path, cache, model_cache):
    cache_sae_tokenizer_datasets(cache, tmp_path)

    result = runner.invoke(app, ["fetch", "--models", "0", "--sae", "--tokenizer", "--datasets", "--json"])

    assert result.exit_code == 0, result.output
    fetched = [(record["repo_id"], record["filename"]) for record in json.loads(result.stdout)]
    assert fetched == [
        (hub.MODEL_REPO, "gpt_000.pth"),
        (hub.MODEL_REPO, "c_quizzes.pth"),
        (hub.SAE_REPO, hub.SAE_FILES[0]),
        (hub.SAE_REPO, hub.SAE_FILES[1]),
        (hub.TOKENIZER_REPO, "tokenizer.json"),
        (hub.TOKENIZER_REPO, "tokenizer_config.json"),
        (hub.DATASET_REPO, "README.md"),
        (hub.PARTITIONED_DATASET_REPO, "README.md"),
    ]
    manifest = read_manifest(tmp_path / "state" / hub.MANIFEST_NAME)
    assert len(manifest["files"]) == len(fetched)


def test_cli_fetch_local_dir_subfolders(tmp_path, cache):
    local_dir = tmp_path / "artifacts"
    sae_folder = local_dir / "culture-sae" / "gpt-0" / "blocks_8_mlp_out"
    sae_folder.mkdir(parents=True)
    (sae_folder / "cfg.json").write_text("{}")
    (sae_folder / "sae_weights.safetensors").write_bytes(b"weights")

    result = runner.invoke(app, ["fetch", "--models", "none", "--sae", "--local-dir", str(local_dir), "--json"])

    assert result.exit_code == 0, result.output
    paths = [Path(record["path"]) for record in json.loads(result.stdout)]
    assert paths == [sae_folder / "cfg.json", sae_folder / "sae_weights.safetensors"]
    assert (local_dir / hub.MANIFEST_NAME).is_file()


def test_cli_fetch_rejects_unpublished_id(model_cache):
    result = runner.invoke(app, ["fetch", "--models", "7"])

    assert isinstance(result.exception, CulturectlError)
    assert "unknown model id 7" in str(result.exception)


def test_cli_fetch_requires_something(model_cache):
    result = runner.invoke(app, ["fetch", "--models", "none"])

    assert result.exit_code == 2


def test_cli_fetch_uncached_file_one_line(tmp_path, model_cache):
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "CULTURECTL_HOME": str(tmp_path / "state"),
    }
    process = subprocess.run(
        [sys.executable, "-m", "culturectl", "fetch", "--models", "0-4"],
        capture_output=True, text=True, timeout=120, env=environment,
    )

    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    error_lines = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "gpt_002.pth" in error_lines[0]
    assert hub.MODEL_REPO in error_lines[0]
    assert "--local-dir" in error_lines[0]
    assert process.stdout == ""
