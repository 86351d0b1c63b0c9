"""Download the published culture artifacts from the Hugging Face hub and find them offline.

Offline is a normal mode here. With `HF_HUB_OFFLINE=1`, or when the hub does not respond
within the connection timeout, every function uses the files already in the local cache
(or in `local_dir`). A file that is neither cached nor downloadable raises one
CulturectlError that names the repository, the file and how to get it.

Files land in the standard Hugging Face cache (`HF_HUB_CACHE`, by default
`~/.cache/huggingface/hub`) unless `local_dir` is given. Each fetch records the repository,
revision, commit, local path and SHA-256 of its files in a JSON manifest
(`culturectl-fetch.json`), see `manifest_path`.

huggingface_hub is imported inside the functions, so importing this module does not load it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from .atomic import atomic_path
from .checkpoints import checkpoint_name, checkpoints_in, file_sha256
from .console import logger
from .errors import CulturectlError

# The repositories published by the fork's author.
MODEL_REPO = "tommyp111/culture-gpt"
SAE_REPO = "tommyp111/culture-sae"
TOKENIZER_REPO = "tommyp111/culture-tokenizer"
DATASET_REPO = "tommyp111/culture-puzzles-1M"
PARTITIONED_DATASET_REPO = "tommyp111/culture-puzzles-1M-partitioned"
DATASET_REPOS = (DATASET_REPO, PARTITIONED_DATASET_REPO)

# NOTE: the fork loads ids 0-3 by default and accepts 0-4. That gpt_004.pth exists in
# MODEL_REPO is inferred from the training run's default of five models, not verified.
PUBLISHED_MODEL_IDS = (0, 1, 2, 3, 4)
CULTURE_QUIZZES_FILE = "c_quizzes.pth"
SAE_FILES = ("gpt-0/blocks_8_mlp_out/cfg.json", "gpt-0/blocks_8_mlp_out/sae_weights.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
# tokenizer.json alone loads with `tokenizers.Tokenizer.from_file`. The other two files
# carry the transformers settings (special tokens, maximum length) and are fetched if present.
OPTIONAL_TOKENIZER_FILES = frozenset({"tokenizer_config.json", "special_tokens_map.json"})

MANIFEST_NAME = "culturectl-fetch.json"
MANIFEST_FORMAT = "culturectl-fetch"
MANIFEST_FORMAT_VERSION = 1

# Seconds to wait for the hub to accept a connection or respond to a metadata request.
# File transfers use huggingface_hub's own read timeout, HF_HUB_DOWNLOAD_TIMEOUT (10 s by
# default in 2.4).
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_REVISION = "main"

_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
_TRUE_VALUES = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class FetchedFile:
    """A file from a hub repository as it lies on the local disk."""

    repo_id: str
    repo_type: str
    revision: str
    commit: str | None
    filename: str
    path: Path
    sha256: str
    size: int

    def to_json(self) -> dict:
        return {
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "revision": self.revision,
            "commit": self.commit,
            "filename": self.filename,
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True)
class _RemoteState:
    """The hub's response for one repository: the commit a revision points to and the
    files in it. `commit` is None when the hub could not be reached or offline mode is on."""

    commit: str | None
    files: frozenset[str] | None
    offline_reason: str | None


# ---------------------------------------------------------------------------
# Environment: cache folder, offline mode, manifest location
# ---------------------------------------------------------------------------


def hub_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the Hugging Face hub cache folder, reading the environment at call time.

    huggingface_hub reads `HF_HUB_CACHE` and `HF_HOME` once, when it is imported, so a
    value set later (by a test or a wrapper script) would be ignored without this.
    The order matches huggingface_hub 2.4: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE,
    HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.path.expandvars(os.environ[variable])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "huggingface" / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def is_offline() -> bool:
    """Return True when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set now or was set
    when huggingface_hub was imported."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in _TRUE_VALUES:
            return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def state_dir() -> Path:
    """Return culturectl's own state folder: `CULTURECTL_HOME`, else
    `$XDG_CACHE_HOME/culturectl`, else `~/.cache/culturectl`."""
    if os.environ.get("CULTURECTL_HOME"):
        return Path(os.environ["CULTURECTL_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "culturectl"
    return Path("~/.cache/culturectl").expanduser()


def manifest_path(local_dir: str | Path | None = None) -> Path:
    """Return where a fetch records its files: `local_dir/culturectl-fetch.json`, or the
    same name in `state_dir()` for files in the hub cache.

    The manifest is kept out of the hub cache because `hf cache scan` reports unknown
    entries there as a corrupted cache.
    """
    folder = Path(local_dir) if local_dir is not None else state_dir()
    return folder / MANIFEST_NAME


def repo_cache_folder(repo_id: str, repo_type: str = "model", cache_dir: str | Path | None = None) -> Path:
    """Return the folder of one repository in the hub cache, such as
    `models--tommyp111--culture-gpt` (it contains refs/, snapshots/ and blobs/)."""
    return hub_cache_dir(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}"


def model_filenames(model_ids: Iterable[int]) -> list[str]:
    """Return the published checkpoint names, such as `gpt_000.pth`, for `model_ids`."""
    return [f"{checkpoint_name(model_id)}.pth" for model_id in model_ids]


def _describe(repo_id: str, repo_type: str, revision: str) -> str:
    kind = "" if repo_type == "model" else f"{repo_type} "
    return f"{kind}{repo_id} (revision {revision})"


# ---------------------------------------------------------------------------
# Errors from huggingface_hub and the network
# ---------------------------------------------------------------------------


def _connection_errors() -> tuple[type[BaseException], ...]:
    """Return the exception classes that mean "the hub could not be reached".

    huggingface_hub 2.x sends requests with httpx2 and older versions with requests.
    Only the HTTP libraries that are already imported count.
    """
    from huggingface_hub.utils import OfflineModeIsEnabled

    errors: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None:
            errors.append(module.TransportError)
    requests = sys.modules.get("requests")
    if requests is not None:
        errors.extend([requests.ConnectionError, requests.Timeout])
    return tuple(errors)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


def _how_to_get(repo_id: str, repo_type: str, revision: str, filename: str | None) -> str:
    kind = "" if repo_type == "model" else f"{repo_type}s/"
    if filename is None:
        return (
            "run `culturectl fetch` with network access, or copy a download of "
            f"https://huggingface.co/{kind}{repo_id} into a folder and pass that folder as --local-dir"
        )
    return (
        f"run `culturectl fetch` with network access, or download "
        f"https://huggingface.co/{kind}{repo_id}/blob/{revision}/{filename} elsewhere, copy it "
        "into a folder and pass that folder as --local-dir"
    )


def _not_available_message(repo_id: str, repo_type: str, revision: str, filename: str | None,
                           location: str, offline_reason: str | None) -> str:
    what = f"{filename} from {_describe(repo_id, repo_type, revision)}" if filename else _describe(repo_id, repo_type, revision)
    why = offline_reason or "the hub is offline"
    return f"{what} is not in {location} and {why}; {_how_to_get(repo_id, repo_type, revision, filename)}"


def _hub_error(error: BaseException, repo_id: str, repo_type: str, revision: str, filename: str | None) -> CulturectlError:
    """Translate an exception from huggingface_hub into a one-line CulturectlError."""
    from huggingface_hub.utils import (
        EntryNotFoundError, GatedRepoError, HfHubHTTPError, HFValidationError,
        RepositoryNotFoundError, RevisionNotFoundError,
    )

    where = _describe(repo_id, repo_type, revision)
    target = f"{filename} from {where}" if filename else where
    if isinstance(error, HFValidationError):
        return CulturectlError(f"invalid repository id {repo_id!r}: {_first_line(error)}; use the form owner/name")
    if isinstance(error, RevisionNotFoundError):
        return CulturectlError(f"revision {revision!r} not found in {repo_id}; check --revision")
    if isinstance(error, GatedRepoError):
        return CulturectlError(f"{repo_id} is gated; accept its terms on huggingface.co and log in with `hf auth login`")
    if isinstance(error, RepositoryNotFoundError):
        return CulturectlError(
            f"{_describe(repo_id, repo_type, revision)} not found on the hub, or it is private; check --repo"
        )
    if isinstance(error, EntryNotFoundError):
        return CulturectlError(f"{filename} not found in {where}")
    if isinstance(error, HfHubHTTPError):
        return CulturectlError(f"download of {target} failed: {_first_line(error)}")
    if isinstance(error, _connection_errors()):
        return CulturectlError(
            f"cannot reach the hub for {target} ({_first_line(error)}); "
            f"{_how_to_get(repo_id, repo_type, revision, filename)}"
        )
    if isinstance(error, ValueError):
        return CulturectlError(f"invalid hub request for {target}: {_first_line(error)}")
    return CulturectlError(f"cannot store {target} on disk: {_first_line(error)}")


# ---------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------


def _query_remote(repo_id: str, repo_type: str, revision: str, timeout: float) -> _RemoteState:
    """Ask the hub which commit `revision` is and which files it has, within `timeout`.

    One request without retries decides whether the hub is reachable. Without it, in
    huggingface_hub 2.4, each uncached file whose first metadata request fails is retried
    up to 5 times with a 60 s timeout per try. When the hub cannot be reached or responds
    with a server error, the returned state has no commit, and the caller falls back to
    cached files.
    """
    if is_offline():
        return _RemoteState(None, None, "offline mode is on (HF_HUB_OFFLINE)")

    from huggingface_hub import HfApi
    from huggingface_hub.utils import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=timeout)
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise _hub_error(error, repo_id, repo_type, revision, None) from None
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status is None or status < 500:
            raise _hub_error(error, repo_id, repo_type, revision, None) from None
        reason = f"the hub responded with a server error ({_first_line(error)})"
        logger.warning("%s for %s; using cached files", reason, repo_id)
        return _RemoteState(None, None, reason)
    except _connection_errors() as error:
        reason = f"the hub could not be reached ({_first_line(error)}, timeout {timeout:g} s)"
        logger.warning("%s for %s; using cached files", reason, repo_id)
        return _RemoteState(None, None, reason)
    except ValueError as error:
        raise _hub_error(error, repo_id, repo_type, revision, None) from None
    files = frozenset(sibling.rfilename for sibling in (info.siblings or []))
    return _RemoteState(info.sha, files, None)


def _commit_of_cached_path(path: Path, repo_folder: Path) -> str | None:
    """Return the commit hash in a snapshot path `<repo>/snapshots/<commit>/<file>`."""
    try:
        relative = path.relative_to(repo_folder / "snapshots")
    except ValueError:
        return None
    return relative.parts[0] if relative.parts else None


def _record(repo_id: str, repo_type: str, revision: str, commit: str | None, filename: str, path: Path) -> FetchedFile:
    path = Path(path)
    return FetchedFile(
        repo_id=repo_id, repo_type=repo_type, revision=revision, commit=commit,
        filename=filename, path=path, sha256=file_sha256(path), size=path.stat().st_size,
    )


def fetch(
    repo_id: str,
    filenames: Sequence[str],
    *,
    optional: Iterable[str] = (),
    revision: str | None = None,
    local_dir: str | Path | None = None,
    repo_type: str = "model",
    cache_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    record: bool = True,
) -> list[FetchedFile]:
    """Download `filenames` from one hub repository, or find them in the cache when
    offline, and return them with their commit and SHA-256.

    Files in `optional` are skipped when the repository or the cache lacks them. Any
    other missing file raises CulturectlError. When the hub responds, that happens before
    anything is downloaded. Offline, it happens at the first missing file.

    With `local_dir`, files go to that folder instead of the hub cache, and files copied
    there by hand count as fetched when offline. With `record`, the files are added to
    the manifest at `manifest_path(local_dir)`.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import LocalEntryNotFoundError

    revision = revision or DEFAULT_REVISION
    optional = frozenset(optional)
    cache = hub_cache_dir(cache_dir)
    # hf_hub_download returns paths under the resolved cache folder.
    repo_folder = repo_cache_folder(repo_id, repo_type, cache.resolve())
    remote = _query_remote(repo_id, repo_type, revision, timeout)
    offline = remote.commit is None

    requested = list(filenames)
    if remote.files is not None:
        missing = [name for name in requested if name not in remote.files and name not in optional]
        if missing:
            available = sorted(remote.files)
            listed = ", ".join(available[:20]) + (f" and {len(available) - 20} more" if len(available) > 20 else "")
            raise CulturectlError(
                f"{', '.join(missing)} not found in {_describe(repo_id, repo_type, revision)}, "
                f"which contains {listed or 'no files'}"
            )
        skipped = [name for name in requested if name not in remote.files]
        for name in skipped:
            logger.info("%s has no optional file %s; skipped", repo_id, name)
        requested = [name for name in requested if name in remote.files]

    fetched: list[FetchedFile] = []
    for filename in requested:
        if offline and local_dir is not None and (Path(local_dir) / filename).is_file():
            # A file copied into local_dir by hand has no huggingface_hub metadata, and
            # hf_hub_download would log a warning for every such file before returning it.
            fetched.append(_record(repo_id, repo_type, revision, None, filename, Path(local_dir) / filename))
            continue
        logger.debug("fetching %s from %s", filename, repo_id)
        try:
            path = Path(hf_hub_download(
                repo_id, filename, repo_type=repo_type, revision=remote.commit or revision,
                cache_dir=cache, local_dir=local_dir, local_files_only=offline, etag_timeout=timeout,
            ))
        except LocalEntryNotFoundError:
            if filename in optional:
                logger.info("optional file %s from %s is not cached; skipped", filename, repo_id)
                continue
            location = f"--local-dir {local_dir}" if local_dir is not None else f"the local cache {cache}"
            message = _not_available_message(repo_id, repo_type, revision, filename, location, remote.offline_reason)
            raise CulturectlError(message) from None
        except (OSError, ValueError, *_connection_errors()) as error:
            raise _hub_error(error, repo_id, repo_type, revision, filename) from None
        commit = remote.commit or _commit_of_cached_path(path, repo_folder)
        fetched.append(_record(repo_id, repo_type, revision, commit, filename, path))

    if record and fetched:
        write_manifest(fetched, manifest_path(local_dir))
    return fetched


def fetch_files(
    repo_id: str,
    filenames: Sequence[str],
    revision: str | None = None,
    local_dir: str | Path | None = None,
    repo_type: str = "model",
    cache_dir: str | Path | None = None,
) -> list[Path]:
    """Download `filenames` from `repo_id` (or find them cached when offline), record
    them in the manifest and return their local paths in the order given.

    Raises CulturectlError, naming the repository and the file, for any file that is
    neither cached nor downloadable.
    """
    fetched = fetch(repo_id, filenames, revision=revision, local_dir=local_dir, repo_type=repo_type, cache_dir=cache_dir)
    return [entry.path for entry in fetched]


def fetch_snapshot(
    repo_id: str,
    *,
    revision: str | None = None,
    local_dir: str | Path | None = None,
    repo_type: str = "dataset",
    cache_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    record: bool = True,
) -> list[FetchedFile]:
    """Download every file of a repository with `snapshot_download` (or find the cached
    snapshot when offline) and return the files with their SHA-256."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import LocalEntryNotFoundError

    revision = revision or DEFAULT_REVISION
    cache = hub_cache_dir(cache_dir)
    remote = _query_remote(repo_id, repo_type, revision, timeout)
    offline = remote.commit is None
    logger.info("fetching all files of %s", _describe(repo_id, repo_type, revision))
    try:
        folder = Path(snapshot_download(
            repo_id, repo_type=repo_type, revision=remote.commit or revision, cache_dir=cache,
            local_dir=local_dir, local_files_only=offline, etag_timeout=timeout,
        ))
    except LocalEntryNotFoundError as error:
        location = f"--local-dir {local_dir}" if local_dir is not None else f"the local cache {cache}"
        # huggingface_hub 2.x raises this subclass when its cached file listing shows
        # that files of the snapshot are missing, for example after an interrupted download.
        if type(error).__name__ == "IncompleteSnapshotError":
            raise CulturectlError(
                f"the copy of {_describe(repo_id, repo_type, revision)} in {location} is incomplete "
                f"({_first_line(error)}); {_how_to_get(repo_id, repo_type, revision, None)}"
            ) from None
        message = _not_available_message(repo_id, repo_type, revision, None, location, remote.offline_reason)
        raise CulturectlError(message) from None
    except (OSError, ValueError, *_connection_errors()) as error:
        raise _hub_error(error, repo_id, repo_type, revision, None) from None

    commit = remote.commit
    if commit is None and local_dir is None:
        commit = folder.name if _COMMIT_HASH.match(folder.name) else None
    fetched = [
        _record(repo_id, repo_type, revision, commit, path.relative_to(folder).as_posix(), path)
        for path in _snapshot_files(folder)
    ]
    if record and fetched:
        write_manifest(fetched, manifest_path(local_dir))
    return fetched


def _snapshot_files(folder: Path) -> list[Path]:
    """List the repository files under `folder`, leaving out huggingface_hub's `.cache`
    metadata and culturectl's manifest."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] == ".cache" or relative.name == MANIFEST_NAME or not path.is_file():
            continue
        files.append(path)
    return files


def write_manifest(files: Sequence[FetchedFile], path: Path, command: Sequence[str] | None = None) -> Path:
    """Add `files` to the JSON manifest at `path`, replacing earlier entries for the same
    local paths, and return `path`.

    The manifest stores the culturectl and huggingface_hub versions and, per file, the
    repository, revision, commit, local path, size, SHA-256 and the time of the fetch.
    An unreadable manifest is replaced, with a warning.
    """
    import huggingface_hub

    from . import __version__

    entries: dict[str, dict] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
            entries = {entry["path"]: entry for entry in previous.get("files", [])}
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            logger.warning("replacing unreadable fetch manifest %s (%s)", path, _first_line(error))
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for entry in files:
        entries[str(entry.path)] = {**entry.to_json(), "fetched_at": fetched_at}
    document = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "culturectl_version": __version__,
        "huggingface_hub_version": huggingface_hub.__version__,
        "command": list(command) if command is not None else None,
        "files": sorted(entries.values(), key=lambda entry: (entry["repo_id"], entry["filename"], entry["path"])),
    }
    try:
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as error:
        raise CulturectlError(f"cannot write the fetch manifest {path}: {_first_line(error)}") from None
    return path


def fetch_published(
    *,
    model_ids: Sequence[int] = PUBLISHED_MODEL_IDS,
    sae: bool = False,
    tokenizer: bool = False,
    datasets: bool = False,
    repo: str = MODEL_REPO,
    revision: str | None = None,
    local_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    command: Sequence[str] | None = None,
) -> list[FetchedFile]:
    """Fetch the published artifacts and record them all in one manifest.

    From `repo` at `revision`: the checkpoints of `model_ids` and c_quizzes.pth (nothing
    when `model_ids` is empty). With the flags, also the SAE, the tokenizer and both
    datasets, each at their `main` revision. With `local_dir`, the model files go
    directly into it, where `hub_model_directory(local_dir=...)` finds them, and every
    other repository goes into a subfolder named after it, such as `culture-sae/`.
    """
    def folder_for(repo_id: str) -> Path | None:
        return None if local_dir is None else Path(local_dir) / repo_id.split("/")[-1]

    fetched: list[FetchedFile] = []
    if model_ids:
        names = model_filenames(model_ids) + [CULTURE_QUIZZES_FILE]
        fetched += fetch(repo, names, revision=revision, local_dir=local_dir, cache_dir=cache_dir,
                         timeout=timeout, record=False)
    if sae:
        fetched += fetch(SAE_REPO, SAE_FILES, local_dir=folder_for(SAE_REPO), cache_dir=cache_dir,
                         timeout=timeout, record=False)
    if tokenizer:
        fetched += fetch(TOKENIZER_REPO, TOKENIZER_FILES, optional=OPTIONAL_TOKENIZER_FILES,
                         local_dir=folder_for(TOKENIZER_REPO), cache_dir=cache_dir, timeout=timeout, record=False)
    if datasets:
        for dataset_repo in DATASET_REPOS:
            fetched += fetch_snapshot(dataset_repo, local_dir=folder_for(dataset_repo), cache_dir=cache_dir,
                                      timeout=timeout, record=False)
    if fetched:
        write_manifest(fetched, manifest_path(local_dir), command=command)
    return fetched


# ---------------------------------------------------------------------------
# Offline resolution of fetched files
# ---------------------------------------------------------------------------


def _cached_snapshot(repo_id: str, revision: str, cache: Path, repo_type: str = "model") -> Path | None:
    """Return the cached snapshot folder that `revision` (a branch, tag or commit hash)
    points to, or None when the cache has no such snapshot. Never uses the network."""
    repo_folder = repo_cache_folder(repo_id, repo_type, cache)
    commit = revision if _COMMIT_HASH.match(revision) else None
    if commit is None:
        ref = repo_folder / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text().strip()
    snapshot = repo_folder / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def hub_model_directory(
    repo: str = MODEL_REPO,
    revision: str | None = None,
    local_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Return a folder of fetched `gpt_NNN.pth` checkpoints without using the network:
    `local_dir` when given, else the cached snapshot of `repo` at `revision` (default main).

    Raises CulturectlError, saying to run `culturectl fetch`, when it contains no checkpoints.
    """
    revision = revision or DEFAULT_REVISION
    if local_dir is not None:
        folder = Path(local_dir)
        if folder.is_dir() and checkpoints_in(folder):
            return folder
        raise CulturectlError(
            f"no gpt_NNN.pth checkpoints in {folder}; run `culturectl fetch --local-dir {folder}` "
            f"with network access, or copy the gpt_NNN.pth files of {repo} into it"
        )
    cache = hub_cache_dir(cache_dir)
    snapshot = _cached_snapshot(repo, revision, cache)
    if snapshot is not None and checkpoints_in(snapshot):
        return snapshot
    raise CulturectlError(
        f"no fetched checkpoints of {_describe(repo, 'model', revision)} in the hub cache {cache}; "
        f"run `culturectl fetch --repo {repo}` with network access first, or copy the "
        "gpt_NNN.pth files into a folder and pass it as --checkpoints"
    )


def hub_culture_quizzes_path(
    repo: str = MODEL_REPO,
    revision: str | None = None,
    local_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Return the fetched `c_quizzes.pth` of `repo` without using the network: from
    `local_dir` when given, else from the hub cache at `revision` (default main).

    Raises CulturectlError, saying to run `culturectl fetch`, when the file is missing.
    """
    from huggingface_hub import try_to_load_from_cache

    revision = revision or DEFAULT_REVISION
    if local_dir is not None:
        path = Path(local_dir) / CULTURE_QUIZZES_FILE
        if path.is_file():
            return path
        raise CulturectlError(
            f"{CULTURE_QUIZZES_FILE} not found in {local_dir}; run `culturectl fetch --local-dir {local_dir}` "
            f"with network access, or copy the {CULTURE_QUIZZES_FILE} of {repo} into it"
        )
    cache = hub_cache_dir(cache_dir)
    cached = try_to_load_from_cache(repo, CULTURE_QUIZZES_FILE, cache_dir=cache, revision=revision)
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    raise CulturectlError(
        f"{CULTURE_QUIZZES_FILE} of {_describe(repo, 'model', revision)} is not in the hub cache {cache}; "
        f"run `culturectl fetch --repo {repo}` with network access first, or copy it into a folder "
        "and pass that folder as --local-dir"
    )


# ---------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------


def check_repo_id(repo_id: str, option: str = "--push-to-hub") -> None:
    """Raise CulturectlError unless `repo_id`, the value of `option`, is a valid hub
    repository id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise CulturectlError(f"invalid {option} {repo_id!r}: {error}; use the form owner/name") from None


def push_folder(folder: Path, repo_id: str, repo_type: str, patterns: list[str], message: str) -> str:
    """Upload the files of `folder` matching `patterns` to the hub repository `repo_id`,
    creating it if needed, and return the commit URL. A failure leaves the local files as
    they are and raises CulturectlError."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id, repo_type=repo_type, folder_path=str(folder),
            allow_patterns=patterns, commit_message=message,
        )
    except (HfHubHTTPError, OSError, ValueError, *_connection_errors()) as error:
        raise CulturectlError(
            f"push of {folder} to {repo_id} failed ({_first_line(error)}); the files stay on disk. "
            "Log in with `hf auth login` and run the command again"
        ) from None
    return str(commit)
