"""The culturectl command line: wiring only; each subcommand lives in commands/."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from .commands.convert import convert
from .commands.dataset import dataset
from .commands.eval import eval_command
from .commands.fetch import fetch
from .commands.generate import generate
from .commands.show_quiz import show_quiz
from .commands.tokenizer import tokenizer
from .commands.train import train
from .commands.train_sae import train_sae

app = typer.Typer(
    help="Interpretability toolkit for the culture experiment's MyGPT models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Markdown joins the hard-wrapped lines of docstrings into paragraphs.
    rich_markup_mode="markdown",
)
_state = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    from .console import setup_logging

    _state["debug"] = debug or bool(os.environ.get("CULTURECTL_DEBUG"))
    setup_logging(verbose)


app.command("convert")(convert)
app.command()(dataset)
app.command("eval")(eval_command)
app.command("fetch")(fetch)
app.command()(generate)
app.command()(tokenizer)
app.command()(train)
app.command("show-quiz")(show_quiz)
app.command("train-sae")(train_sae)


def main() -> None:
    """Entry point: run the app and turn a CulturectlError into one line on stderr."""
    from .errors import CulturectlError

    try:
        app()
    except CulturectlError as error:
        if _state["debug"]:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except SystemExit as exit:
        # Typer turns Ctrl-C into a silent exit with status 130, so print the reason.
        if exit.code == 130:
            print("interrupted", file=sys.stderr)
            if _workers_still_running():
                # The command has cleaned up what it wrote. Skip the exit handlers, which
                # would wait for workers that the interrupt left blocked.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(130)
        raise
    except OSError as error:
        # A path the command could not create, read or write.
        if _state["debug"]:
            raise
        where = f": {error.filename}" if error.filename else ""
        print(f"error: {error.strerror or error}{where}; check the path and its permissions", file=sys.stderr)
        sys.exit(1)


def _workers_still_running(grace: float = 10.0) -> bool:
    """Wait up to `grace` seconds for worker threads and processes to end; return whether
    some are still running."""
    import multiprocessing
    import threading
    import time

    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    threads = [thread for thread in threading.enumerate()
               if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()]
    return bool(threads or multiprocessing.active_children())

