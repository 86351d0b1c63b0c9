"""A Hugging Face tokenizer for culture quizzes that standard tools load without culturectl.

The text form of a quiz is its tokens as space-separated symbols: colours 0..10 as the
lower-case hexadecimal digits `0`..`9`, `a`, and the markers A, f_A, B, f_B (ids 11..14) as
`X`, `f_X`, `Y`, `f_Y`. This is the vocabulary of the published tokenizer
(tommyp111/culture-tokenizer). The tokenizer is a `tokenizers` WordLevel model on
whitespace-split words, wrapped in `transformers.PreTrainedTokenizerFast`.

Differences from the published tokenizer:
- The vocabulary has exactly the 15 model ids and no `[UNK]` entry, so no input gives an
  id of 15 or more. An unknown symbol raises an error instead of becoming an id that the
  model's 15-way embedding cannot look up.
- The start token (BOS) is `0`, the white colour, as in the dataset rows. The tokenizer
  adds it only when loaded or set with `add_bos_token=True`.
- The padding token is `a` (gray, id 10), not `0`, and padding is on the left. Quizzes all
  have the same length, so padding is never needed, but TransformerLens 3.9 builds
  attention masks from the padding token: with left padding it masks the leading run of
  padding ids, and with right padding the trailing run. Every culture row starts with the
  BOS `0` and every quiz with a marker, so their leading run is empty and no content is
  masked, including white cells at either end. A prompt that starts at a gray cell and has
  no BOS is the exception.
- Encoding never drops a white cell: TransformerLens removes only a BOS that the
  tokenizer added. CultureTokenizerFast also keeps every cell when decoding.

NOTE: transformers 5 makes the BOS and padding tokens special, so a plain tokenizer's
`decode(..., skip_special_tokens=True)` drops every `0` (white) and `a` (gray) cell.
TransformerLens's `generate(..., return_type="str")` decodes that way. Use
`attach_tokenizer`, which sets a CultureTokenizerFast, or decode with the default
`skip_special_tokens=False`.

NOTE: TransformerLens 3.9's `to_tokens` truncates to n_ctx (405) tokens before it removes
the BOS that the tokenizer added. So the text of a whole 405-token row loses its last token
unless `to_tokens(..., truncate=False)` is used, and `model(text)` cannot pass that flag.
Give a 404-token quiz with `prepend_bos=True`, or token ids, instead.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from vendor_culture.tokens import BOS_TOKEN, NB_COLORS, ROW_LEN, VOCAB_SIZE

from .errors import CulturectlError

# Symbol of each token id: colours 0..10 as hexadecimal digits, then the markers.
COLOR_SYMBOLS = tuple(format(colour, "x") for colour in range(NB_COLORS))
MARKER_SYMBOLS = ("X", "f_X", "Y", "f_Y")
SYMBOLS = COLOR_SYMBOLS + MARKER_SYMBOLS
VOCABULARY = {symbol: token for token, symbol in enumerate(SYMBOLS)}
assert len(SYMBOLS) == VOCAB_SIZE

BOS_SYMBOL = SYMBOLS[BOS_TOKEN]
PAD_SYMBOL = "a"
PAD_TOKEN = VOCABULARY[PAD_SYMBOL]
MODEL_MAX_LENGTH = ROW_LEN
PADDING_SIDE = "left"

# The class name written to tokenizer_config.json. transformers 5 would save its own name,
# "TokenizersBackend", which transformers 4 lacks. transformers 5 loads this name as an
# alias of TokenizersBackend. NOTE: loading with transformers 4 is untested.
SAVED_TOKENIZER_CLASS = "PreTrainedTokenizerFast"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")

_VOCABULARY_HELP = "valid symbols: 0-9 and a (colours 0-10), X, f_X, Y, f_Y (markers A, f_A, B, f_B)"


def check_symbols(text: str) -> list[str]:
    """Return the whitespace-separated symbols of `text`, raising ValueError on the first
    one outside the vocabulary, with its position."""
    symbols = text.split()
    for position, symbol in enumerate(symbols):
        if symbol not in VOCABULARY:
            raise ValueError(f"unknown symbol {symbol!r} at word {position} of the text; {_VOCABULARY_HELP}")
    return symbols


def text_to_tokens(text: str) -> list[int]:
    """Parse space-separated symbols into token ids, without transformers."""
    return [VOCABULARY[symbol] for symbol in check_symbols(text)]


def tokens_to_text(tokens: Sequence[int]) -> str:
    """Write token ids (a list, or a 1-D tensor or array) as space-separated symbols."""
    words = []
    for position, token in enumerate(tokens):
        token = int(token)
        if not 0 <= token < VOCAB_SIZE:
            raise ValueError(f"token {token} at position {position} is outside the vocabulary 0..{VOCAB_SIZE - 1}")
        words.append(SYMBOLS[token])
    return " ".join(words)


class CultureTokenizerFast(PreTrainedTokenizerFast):
    """PreTrainedTokenizerFast with two changes for culture quizzes.

    Encoding names an unknown symbol and its position. A tokenizer loaded with plain
    AutoTokenizer rejects the same inputs, but with the `tokenizers` message "Missing [UNK]
    token from the vocabulary".

    Decoding keeps every token even with `skip_special_tokens=True`, because the BOS and
    padding tokens are also the white and gray colours. TransformerLens's `generate` decodes
    with skip_special_tokens=True, so with a plain tokenizer its text output loses those cells.
    """

    def _encode_plus(self, text, text_pair=None, **kwargs):
        # transformers 5 calls this for __call__, encode and text_target, with keyword arguments.
        for part in (text, text_pair):
            if part is not None:
                _check_input(part, kwargs.get("is_split_into_words", False))
        return super()._encode_plus(text, text_pair=text_pair, **kwargs)

    def _decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        return super()._decode(token_ids, skip_special_tokens=False, **kwargs)

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        return super().convert_ids_to_tokens(ids, skip_special_tokens=False)


def _check_input(value, is_split_into_words: bool) -> None:
    """Check a str, a list of words, or a batch of either."""
    if isinstance(value, str):
        if is_split_into_words:
            # One pre-split word; it must be a single symbol.
            if value not in VOCABULARY:
                raise ValueError(f"unknown symbol {value!r}; {_VOCABULARY_HELP}")
        else:
            check_symbols(value)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_input(item, is_split_into_words)


def _special_token(symbol: str) -> AddedToken:
    # single_word keeps "10" or "a0" from being read as two tokens around an added token,
    # so such words are rejected like any other unknown symbol.
    return AddedToken(symbol, single_word=True, normalized=False, special=True)


def build_tokenizer(add_bos_token: bool = False) -> CultureTokenizerFast:
    """Build the culture tokenizer in memory. With `add_bos_token`, encoding puts the BOS
    `0` before the text."""
    backend = Tokenizer(models.WordLevel(vocab=dict(VOCABULARY), unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = CultureTokenizerFast(
        tokenizer_object=backend,
        bos_token=_special_token(BOS_SYMBOL),
        pad_token=_special_token(PAD_SYMBOL),
        padding_side=PADDING_SIDE,
        model_max_length=MODEL_MAX_LENGTH,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.add_bos_token = add_bos_token
    return tokenizer


def save_tokenizer(out: Path) -> list[Path]:
    """Save the tokenizer to the folder `out` with `save_pretrained`, then return the
    written files. Each file is written beside `out` first and moved into place, so a
    failed save leaves the previous files."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CulturectlError(f"--out {out} is a file; give a folder for the tokenizer files")
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        build_tokenizer().save_pretrained(staging)
        config_path = staging / "tokenizer_config.json"
        config = json.loads(config_path.read_text())
        config["tokenizer_class"] = SAVED_TOKENIZER_CLASS
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        written = []
        for path in sorted(staging.iterdir()):
            os.replace(path, out / path.name)
            written.append(out / path.name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_tokenizer(path: Path, add_bos_token: bool = False) -> CultureTokenizerFast:
    """Load a saved culture tokenizer as a CultureTokenizerFast."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise CulturectlError(f"no tokenizer.json in {path}; write one with `culturectl tokenizer --out {path}`")
    return CultureTokenizerFast.from_pretrained(str(path), add_bos_token=add_bos_token, local_files_only=True)


def attach_tokenizer(model, path: Path | None = None):
    """Set the culture tokenizer (from `path`, or built in memory) on a converted
    HookedTransformer and return the model.

    TransformerLens's `set_tokenizer` reloads a tokenizer that does not add BOS from its
    folder with `add_bos_token=True`, as a plain tokenizer without CultureTokenizerFast's
    messages and decoding. So the tokenizer is made with BOS on. `to_tokens` then removes
    the BOS unless `prepend_bos=True`, as the converted model's `default_prepend_bos` is False.
    """
    tokenizer = build_tokenizer(add_bos_token=True) if path is None else load_tokenizer(path, add_bos_token=True)
    model.set_tokenizer(tokenizer)
    return model


def push_tokenizer(folder: Path, repo_id: str) -> str:
    """Upload the tokenizer files of `folder` to the model repository `repo_id` on the
    Hugging Face hub, creating the repository if needed. Returns the commit URL."""
    from .hub import check_repo_id, push_folder

    check_repo_id(repo_id)
    return push_folder(folder, repo_id, "model", list(TOKENIZER_FILES), "Upload the culture tokenizer")
