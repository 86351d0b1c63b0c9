"""`culturectl tokenizer`: write the culture tokenizer for Hugging Face tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

# transformers and tokenizers are imported inside the command, so that `culturectl --help`
# and the other subcommands start without loading them.


def tokenizer(
    out: Annotated[Path, typer.Option("--out", help="Folder for tokenizer.json and tokenizer_config.json.")],
    push_to_hub: Annotated[
        Optional[str],
        typer.Option("--push-to-hub", help="Also upload the files to this Hugging Face model repository (owner/name)."),
    ] = None,
) -> None:
    """Write the culture tokenizer, loadable with transformers.AutoTokenizer.from_pretrained(OUT).

    Quizzes are text of space-separated symbols: colours 0-9 and a (ids 0-10), markers X,
    f_X, Y, f_Y (ids 11-14). Unknown symbols are rejected and no id above 14 is produced.
    The BOS token 0 is added only with add_bos_token=True. Attach it to a converted model
    with culturectl.tokenizer.attach_tokenizer or HookedTransformer.set_tokenizer.
    """
    from ..console import logger, stdout
    from ..hub import check_repo_id
    from ..tokenizer import push_tokenizer, save_tokenizer

    if push_to_hub is not None:
        check_repo_id(push_to_hub)
    written = save_tokenizer(out)
    for path in written:
        stdout.print(str(path))
    if push_to_hub is not None:
        commit = push_tokenizer(out, push_to_hub)
        logger.info("pushed the tokenizer to %s: %s", push_to_hub, commit)
