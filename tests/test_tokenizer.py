"""The culture tokenizer: saved files, round trips, rejection of unknown symbols, BOS, and
TransformerLens's own tokenization and generation on a converted model."""

from __future__ import annotations

import json

import pytest
import torch
from transformer_lens.utilities.tokenize_utils import get_attention_mask
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from typer.testing import CliRunner

from culturectl.checkpoints import load_checkpoint
from culturectl.cli import app
from culturectl.errors import CulturectlError
from culturectl.hooked import to_hooked
from culturectl.hub import check_repo_id
from culturectl.tokenizer import (
    PAD_TOKEN, SYMBOLS, VOCABULARY, CultureTokenizerFast, attach_tokenizer, build_tokenizer,
    load_tokenizer, push_tokenizer, save_tokenizer, text_to_tokens, tokens_to_text,
)
from vendor_culture.tasks import RELEASED_TASKS
from vendor_culture.tokens import BOS_TOKEN, ROW_LEN, VOCAB_SIZE, quizzes_to_rows
from vendor_culture.world import generate_world_quizzes

LOGITS_ATOL = 1e-4
runner = CliRunner()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer(folder)
    return folder


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def rows() -> torch.Tensor:
    quizzes = generate_world_quizzes(4, RELEASED_TASKS, torch.Generator().manual_seed(3))
    return quizzes_to_rows(quizzes)


@pytest.fixture(scope="module")
def mygpt(data_dir):
    return load_checkpoint(data_dir / "gpt_000.pth").model.eval()


def test_vocabulary_is_published_one():
    assert SYMBOLS == ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "X", "f_X", "Y", "f_Y")
    assert VOCABULARY == {symbol: token for token, symbol in enumerate(SYMBOLS)}


def test_saved_files_load_with_autotokenizer(tokenizer_dir, offline):
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert config["model_max_length"] == ROW_LEN

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.get_vocab() == VOCABULARY
    assert len(tokenizer) == VOCAB_SIZE
    assert tokenizer.model_max_length == ROW_LEN
    assert tokenizer.unk_token is None
    assert tokenizer.bos_token_id == BOS_TOKEN
    assert tokenizer.pad_token_id == PAD_TOKEN != BOS_TOKEN
    assert tokenizer.padding_side == "left"


def test_round_trip_every_symbol(tokenizer_dir, offline):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    for token, symbol in enumerate(SYMBOLS):
        assert tokenizer(symbol)["input_ids"] == [token], symbol
        assert tokenizer.decode([token]) == symbol
        assert tokenizer.decode(tokenizer(symbol)["input_ids"]) == symbol


def test_round_trip_whole_quizzes(tokenizer_dir, rows, offline):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    for row in rows:
        for tokens in (row, row[1:]):  # a dataset row, and the quiz alone
            text = tokens_to_text(tokens)
            encoded = tokenizer(text)["input_ids"]
            assert encoded == tokens.tolist()
            assert tokenizer.decode(encoded) == text
            assert text_to_tokens(text) == tokens.tolist()


def test_batch_encoding_matches_rows(tokenizer_dir, rows, offline):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    texts = [tokens_to_text(row) for row in rows]
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    assert torch.equal(encoded["input_ids"], rows)
    assert bool(encoded["attention_mask"].all())
    assert tokenizer.batch_decode(rows) == texts


UNKNOWN_TEXTS = ["X 0 Q", "10", "0X", "A", "f_A", "[UNK]", "X, 0", "00"]


@pytest.mark.parametrize("text", UNKNOWN_TEXTS)
def test_autotokenizer_rejects_unknown_symbol(tokenizer_dir, offline, text):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    with pytest.raises(Exception, match="Missing \\[UNK\\] token"):
        tokenizer(text)


def test_culture_tokenizer_names_unknown_symbol(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    assert isinstance(tokenizer, CultureTokenizerFast)
    with pytest.raises(ValueError, match=r"unknown symbol 'Q' at word 2 .*valid symbols: 0-9 and a"):
        tokenizer("X 0 Q")
    with pytest.raises(ValueError, match="unknown symbol '10' at word 0"):
        tokenizer(["X 0", "10 1"])
    with pytest.raises(ValueError, match="unknown symbol 'A'"):
        tokenizer(["X", "A"], is_split_into_words=True)
    with pytest.raises(ValueError, match="unknown symbol 'Q' at word 1"):
        text_to_tokens("0 Q")


def test_never_an_id_outside_model_vocabulary(tokenizer_dir, rows, offline):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True, add_bos_token=True)
    assert max(tokenizer.get_vocab().values()) == VOCAB_SIZE - 1
    assert all(token < VOCAB_SIZE for token in tokenizer.added_tokens_decoder)
    ragged = [tokens_to_text(row[: 50 + 60 * number]) for number, row in enumerate(rows)]
    encoded = tokenizer(ragged, padding=True, return_tensors="pt")["input_ids"]
    assert int(encoded.max()) < VOCAB_SIZE
    assert int(encoded.min()) >= 0


def test_tokens_to_text_rejects_out_of_range():
    with pytest.raises(ValueError, match="token 15 at position 1"):
        tokens_to_text([0, 15])
    with pytest.raises(ValueError, match="token -1 at position 0"):
        tokens_to_text([-1])


def test_bos_only_when_asked(tokenizer_dir, offline):
    plain = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    with_bos = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True, add_bos_token=True)
    assert plain("0 X 0")["input_ids"] == [0, 11, 0]
    assert plain("")["input_ids"] == []
    assert with_bos("0 X 0")["input_ids"] == [BOS_TOKEN, 0, 11, 0]
    assert plain("0 X 0", add_special_tokens=True)["input_ids"] == [0, 11, 0]
    assert build_tokenizer(add_bos_token=True)("X")["input_ids"] == [BOS_TOKEN, 11]


def test_decode_keeps_white_cells(tokenizer_dir, offline):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True, add_bos_token=True)
    encoded = tokenizer("0 0 X 0 a 0")["input_ids"]
    assert tokenizer.decode(encoded) == "0 0 0 X 0 a 0"
    assert tokenizer.decode(encoded[1:]) == "0 0 X 0 a 0"


def test_save_into_existing_folder_keeps_other_files(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"model")
    written = save_tokenizer(tmp_path)
    assert sorted(path.name for path in written) == ["tokenizer.json", "tokenizer_config.json"]
    assert (tmp_path / "weights.bin").read_bytes() == b"model"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tokenizer.json", "tokenizer_config.json", "weights.bin"]


def test_load_tokenizer_missing_folder(tmp_path):
    with pytest.raises(CulturectlError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)


# ---------------------------------------------------------------------------
# TransformerLens


@pytest.fixture(scope="module")
def hooked(mygpt, tokenizer_dir):
    model = to_hooked(mygpt)
    model.set_tokenizer(AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True))
    return model


def white_edged_prompt(row: torch.Tensor) -> torch.Tensor:
    """Return the prefix of a dataset row that ends at a white cell of the last grid, at
    least 10 cells before its end so that generation stays within n_ctx. The prefix also
    starts with the white BOS."""
    last_grid = range(ROW_LEN - 100, ROW_LEN - 10)
    end = max(position for position in last_grid if row[position] == 0)
    return row[: end + 1]


def test_to_tokens_gives_row_ids(hooked, rows):
    for row in rows:
        quiz_text = tokens_to_text(row[1:])
        assert torch.equal(hooked.to_tokens(quiz_text)[0], row[1:])
        assert torch.equal(hooked.to_tokens(quiz_text, prepend_bos=True)[0], row)
        assert torch.equal(hooked.to_tokens(tokens_to_text(row), truncate=False)[0], row)
        assert torch.equal(hooked.to_tokens(tokens_to_text(row[:300]))[0], row[:300])


@pytest.mark.xfail(
    strict=True,
    reason="transformer-lens 3.9 truncates to n_ctx tokens before it removes the BOS that the tokenizer added",
)
def test_to_tokens_full_row_text_truncated(hooked, rows):
    assert hooked.to_tokens(tokens_to_text(rows[0])).shape == (1, ROW_LEN)


def test_white_edged_prompt_never_masked(hooked, rows):
    prompt = white_edged_prompt(rows[0])
    assert int(prompt[0]) == 0
    assert int(prompt[-1]) == 0
    text = tokens_to_text(prompt)
    tokens = hooked.to_tokens(text)
    assert torch.equal(tokens[0], prompt)
    for prepend_bos in (False, True):
        mask = get_attention_mask(hooked.tokenizer, tokens, prepend_bos)
        assert bool(mask.all()), f"prepend_bos={prepend_bos} masks {int((mask == 0).sum())} tokens"
    # A prompt of white cells alone, without the BOS.
    whites = hooked.to_tokens("0 0 0 0")
    assert bool(get_attention_mask(hooked.tokenizer, whites, False).all())


def test_string_logits_match_mygpt(hooked, mygpt, rows):
    prompt = white_edged_prompt(rows[1])
    length = prompt.size(0)
    with torch.no_grad():
        logits = hooked(tokens_to_text(prompt))
        # Row position p scores quiz token p, as MyGPT's position p does.
        reference = mygpt(rows[1:2, 1:][:, :length])
    assert logits.shape == (1, length, VOCAB_SIZE)
    assert torch.allclose(logits, reference, atol=LOGITS_ATOL)


def test_generate_matches_mygpt_greedy(hooked, mygpt, rows):
    prompt = white_edged_prompt(rows[2])
    new_tokens = 4
    with torch.no_grad():
        generated = hooked.generate(
            tokens_to_text(prompt), max_new_tokens=new_tokens, do_sample=False, stop_at_eos=False,
            use_past_kv_cache=False, verbose=False, return_type="tokens",
        )
        quiz = prompt[1:].clone()[None]
        for _ in range(new_tokens):
            # MyGPT's last position scores the token after `quiz` once a placeholder is appended.
            logits = mygpt(torch.cat([quiz, torch.zeros(1, 1, dtype=torch.int64)], dim=1))
            quiz = torch.cat([quiz, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generated[0, : prompt.size(0)], prompt)
    assert generated[0, prompt.size(0):].tolist() == quiz[0, prompt.size(0) - 1:].tolist()


@pytest.mark.xfail(
    strict=True,
    reason="transformers 5 makes the BOS 0 and padding a special, and TransformerLens 3.9 decodes "
    "generated text with skip_special_tokens=True; attach_tokenizer avoids this",
)
def test_plain_tokenizer_generate_text_complete(hooked, rows):
    prompt = white_edged_prompt(rows[2])
    text = hooked.generate(
        tokens_to_text(prompt), max_new_tokens=2, do_sample=False, stop_at_eos=False,
        use_past_kv_cache=False, verbose=False,
    )
    assert text.startswith(tokens_to_text(prompt))


@pytest.fixture(scope="module")
def attached(mygpt, tokenizer_dir):
    return attach_tokenizer(to_hooked(mygpt), tokenizer_dir)


def test_attach_tokenizer_to_tokens(attached, rows):
    assert isinstance(attached.tokenizer, CultureTokenizerFast)
    assert torch.equal(attached.to_tokens(tokens_to_text(rows[0]), truncate=False)[0], rows[0])
    assert torch.equal(attached.to_tokens(tokens_to_text(rows[0, 1:]), prepend_bos=True)[0], rows[0])
    assert torch.equal(attached.to_tokens(tokens_to_text(rows[0, 1:]))[0], rows[0, 1:])
    with pytest.raises(ValueError, match="unknown symbol 'Q'"):
        attached.to_tokens("0 X Q")


def test_attach_tokenizer_generate_text(attached, rows):
    prompt = white_edged_prompt(rows[2])
    options = dict(max_new_tokens=3, do_sample=False, stop_at_eos=False, use_past_kv_cache=False, verbose=False)
    with torch.no_grad():
        tokens = attached.generate(tokens_to_text(prompt), return_type="tokens", **options)
        text = attached.generate(tokens_to_text(prompt), **options)
    assert text == tokens_to_text(tokens[0])
    assert text.startswith(tokens_to_text(prompt))


def test_culture_tokenizer_decode_keeps_special_cells(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir, add_bos_token=True)
    encoded = tokenizer("0 X a 0")["input_ids"]
    assert encoded == [0, 0, 11, 10, 0]
    assert tokenizer.decode(encoded, skip_special_tokens=True) == "0 0 X a 0"
    assert tokenizer.convert_ids_to_tokens(encoded, skip_special_tokens=True) == ["0", "0", "X", "a", "0"]


# ---------------------------------------------------------------------------
# Command line and hub


def test_cli_writes_tokenizer(tmp_path, offline):
    out = tmp_path / "tok"
    result = runner.invoke(app, ["tokenizer", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert tokenizer("X f_Y a")["input_ids"] == [11, 14, 10]


def test_cli_rejects_invalid_repo_before_writing(tmp_path):
    out = tmp_path / "tok"
    result = runner.invoke(app, ["tokenizer", "--out", str(out), "--push-to-hub", "not a repo!"])
    assert result.exit_code == 1
    assert isinstance(result.exception, CulturectlError)
    assert "invalid --push-to-hub 'not a repo!'" in str(result.exception)
    assert not out.exists()


def test_check_repo_id_accepts_owner_name():
    check_repo_id("someone/culture-tokenizer")


def test_push_uploads_tokenizer_files(tokenizer_dir, monkeypatch):
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: calls.append(("create", repo_id, kwargs)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kwargs: calls.append(("upload", kwargs)) or "commit-url")
    assert push_tokenizer(tokenizer_dir, "someone/culture-tokenizer") == "commit-url"
    assert calls[0] == ("create", "someone/culture-tokenizer", {"repo_type": "model", "exist_ok": True})
    upload = calls[1][1]
    assert upload["repo_id"] == "someone/culture-tokenizer"
    assert upload["folder_path"] == str(tokenizer_dir)
    assert upload["allow_patterns"] == ["tokenizer.json", "tokenizer_config.json"]


def test_push_failure_is_one_line_error(tokenizer_dir, monkeypatch):
    from huggingface_hub import HfApi

    def refuse(self, repo_id, **kwargs):
        raise OSError("Token is required, log in first")

    monkeypatch.setattr(HfApi, "create_repo", refuse)
    with pytest.raises(CulturectlError, match="push of .* to someone/tok failed .*Token is required.*hf auth login"):
        push_tokenizer(tokenizer_dir, "someone/tok")
