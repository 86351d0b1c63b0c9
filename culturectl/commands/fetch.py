"""`culturectl fetch`: download the published culture models and data from the hub."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import JsonOpt

# huggingface_hub is imported inside the command, so that the other subcommands start
# without loading it.


def fetch(
    repo: Annotated[str, typer.Option("--repo", help="Hub model repository with gpt_NNN.pth and c_quizzes.pth.")] = "tommyp111/culture-gpt",
    revision: Annotated[
        Optional[str],
        typer.Option("--revision", help="Branch, tag or commit of --repo (default: main). The SAE, tokenizer and datasets are fetched at main."),
    ] = None,
    local_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--local-dir",
            help="Put the files in this folder instead of the Hugging Face cache: the models directly, "
            "other repositories in subfolders named after them. Offline, files copied here count as fetched.",
        ),
    ] = None,
    models: Annotated[
        str, typer.Option("--models", "-m", help="Model ids to fetch: '0-4', '0,2,3', 'all' (0-4) or 'none'.")
    ] = "0-4",
    sae: Annotated[bool, typer.Option("--sae", help="Also fetch the SAE on blocks.8.hook_mlp_out of model 0.")] = False,
    tokenizer: Annotated[bool, typer.Option("--tokenizer", help="Also fetch the tokenizer files.")] = False,
    datasets: Annotated[bool, typer.Option("--datasets", help="Also fetch the two 1M-quiz datasets (every file).")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the hub to accept a connection or respond before using cached files.")
    ] = 10.0,
    json_output: JsonOpt = False,
) -> None:
    """Download the published culture models and data from the Hugging Face hub.

    Fetches the models and c_quizzes.pth, and with the flags the SAE, the
    tokenizer and the datasets. Prints each file's local path and SHA-256 on
    stdout and records them in culturectl-fetch.json, in --local-dir or else
    in $CULTURECTL_HOME (default ~/.cache/culturectl). Offline
    (HF_HUB_OFFLINE=1, or no response within --timeout) it lists the cached
    files and fails on the first file that is not cached.
    """
    from ..console import logger, stdout
    from ..hub import MODEL_REPO, PUBLISHED_MODEL_IDS, check_repo_id, fetch_published, manifest_path
    from ..selection import parse_model_ids

    if models.strip() == "none":
        model_ids: list[int] = []
    elif models.strip() == "all":
        model_ids = list(PUBLISHED_MODEL_IDS)
    elif repo == MODEL_REPO:
        model_ids = parse_model_ids(models, list(PUBLISHED_MODEL_IDS))
    else:
        # Another repository may publish more models, so any id up to 999 is accepted and
        # the hub reports the files that do not exist.
        model_ids = parse_model_ids(models, list(range(1000)))
    if not (model_ids or sae or tokenizer or datasets):
        raise typer.BadParameter("nothing to fetch: --models none without --sae, --tokenizer or --datasets")
    check_repo_id(repo, "--repo")

    fetched = fetch_published(
        model_ids=model_ids, sae=sae, tokenizer=tokenizer, datasets=datasets, repo=repo,
        revision=revision, local_dir=local_dir, timeout=timeout, command=["culturectl", *sys.argv[1:]],
    )
    logger.info("recorded %d file(s) in %s", len(fetched), manifest_path(local_dir))

    if json_output:
        stdout.print_json(json.dumps([entry.to_json() for entry in fetched]))
        return
    _print_listing(stdout, fetched)


def _print_listing(console, fetched) -> None:
    """Print one block per file. Hashes and paths are never broken across lines, so
    that they can be copied whole."""
    from rich.text import Text

    for entry in fetched:
        commit = entry.commit[:12] if entry.commit else "unknown"
        console.print(Text.assemble((f"{entry.repo_id}  {entry.filename}", "bold"), f"  (commit {commit})"), soft_wrap=True)
        console.print(Text(f"  sha256  {entry.sha256}"), soft_wrap=True)
        console.print(Text(f"  path    {entry.path}"), soft_wrap=True)
