"""Tokenizers built from real GGUF vocabularies must tokenize exactly as llama.cpp does.

The 19 vocab-only GGUF files and llama.cpp's own test vectors come from the llama-cpp-python sdist on PyPI, fetched
once per session by `codeguard.tokenization.vocabs` (this needs network access to PyPI, which CI has).
"""
from __future__ import annotations

import pytest
from gguf import GGUFReader, GGUFWriter

from codeguard.errors import TokenizerError
from codeguard.tokenization import vocabs
from codeguard.tokenization.gguf import read_gguf_metadata, tokenizer_from_gguf

# What llama-cpp-python 0.3.36 ships: 15 vocabularies with .inp/.out vectors, 4 without.
WITH_VECTORS = ["bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4", "gpt-2", "llama-bpe",
                "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"]
WITHOUT_VECTORS = ["aquila", "baichuan", "gpt-neox"]
REFUSED = {"nomic-bert-moe": "'t5'"}  # llama.cpp's UGM tokenizer, and no vectors to check a port against


@pytest.fixture(scope="module")
def vocab_files():
    """Fetches the vocabularies on first use; a failed download fails these tests, it does not skip them."""
    return vocabs.vocab_files()


@pytest.fixture(scope="module")
def load(vocab_files):
    """Each vocabulary's tokenizer, built once for the whole module."""
    built = {}

    def build_once(name):
        if name not in built:
            built[name] = tokenizer_from_gguf(vocab_files[name])
        return built[name]
    return build_once


def test_the_sdist_ships_the_vocabularies_these_tests_expect(vocab_files):
    assert sorted(vocab_files) == sorted(WITH_VECTORS + WITHOUT_VECTORS + list(REFUSED))
    assert sorted(name for name in vocab_files if vocabs.test_vectors(name)) == WITH_VECTORS


@pytest.mark.parametrize("name", WITH_VECTORS)
def test_every_test_vector_encodes_to_llama_cpps_ids(load, name):
    tokenizer, vectors = load(name), vocabs.test_vectors(name)
    wrong = [(text, expected, tokenizer.encode(text)) for text, expected in vectors if tokenizer.encode(text) != expected]
    report = "\n".join(f"  {text[:60]!r}\n    llama.cpp {expected[:20]}\n    ours      {got[:20]}"
                       for text, expected, got in wrong[:5])
    assert not wrong, f"{name}: {len(vectors) - len(wrong)}/{len(vectors)} test strings matched\n{report}"


@pytest.mark.parametrize("name", [name for name in WITH_VECTORS if name != "bert-bge"])  # BERT lowercases
def test_decoding_gives_the_text_back(load, name):
    tokenizer = load(name)
    texts = [text for text, _ in vocabs.test_vectors(name)]
    assert [tokenizer.decode(tokenizer.encode(text)) for text in texts] == texts


@pytest.mark.parametrize("name", WITHOUT_VECTORS)
def test_vocabularies_without_vectors_load_and_round_trip(load, name):
    tokenizer = load(name)
    text = "def main():\n    return 42  # ok"
    assert tokenizer.decode(tokenizer.encode(text)) == text


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_vocabulary_names_the_file_its_model_and_the_supported_models(vocab_files, name):
    with pytest.raises(TokenizerError) as error:
        tokenizer_from_gguf(vocab_files[name])
    message = str(error.value)
    assert str(vocab_files[name]) in message and REFUSED[name] in message
    assert "supported models: bert, gemma4, gpt2, llama" in message


def test_an_unknown_pre_tokenizer_is_refused_with_the_supported_ones(tmp_path):
    path = tmp_path / "tekken.gguf"
    writer = GGUFWriter(str(path), arch="llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("tekken")
    writer.add_token_list(["a", "b", "ab"])
    writer.add_token_merges(["a b"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    with pytest.raises(TokenizerError, match="pre-tokenizer 'tekken'") as error:
        tokenizer_from_gguf(path)
    assert str(path) in str(error.value)
    assert "supported pre-tokenizers: command-r, deepseek-coder, deepseek-llm, default, falcon" in str(error.value)


def test_a_truncated_gguf_file_is_reported_by_name(vocab_files, tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(vocab_files["gpt-2"].read_bytes()[:100_000])
    for read in (read_gguf_metadata, tokenizer_from_gguf):
        with pytest.raises(TokenizerError, match="truncated") as error:
            read(path)
        assert str(path) in str(error.value)


@pytest.mark.parametrize("content, why", [(b"def f():\n    return 1\n" * 4, "not a GGUF file"),
                                          (b"GGUF", "not a GGUF file"),
                                          (None, "cannot read GGUF file")])
def test_a_file_that_is_not_gguf_is_reported_by_name(tmp_path, content, why):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TokenizerError, match=why) as error:
        tokenizer_from_gguf(path)
    assert str(path) in str(error.value)


def test_the_metadata_reader_agrees_with_the_gguf_package(vocab_files):
    ours = read_gguf_metadata(vocab_files["bert-bge"])
    theirs = {key: field.contents() for key, field in GGUFReader(vocab_files["bert-bge"]).fields.items()
              if not key.startswith("GGUF.")}
    assert ours == theirs


def test_in_gpt2s_vocabulary_def_and_space_def_are_single_tokens(load):
    tokenizer = load("gpt-2")
    assert tokenizer.encode("def") == [4299] and tokenizer.encode(" def") == [825]
    assert [tokenizer.tokenizer.id_to_token(i) for i in (4299, 825)] == ["def", "Ġdef"]


def test_special_token_text_is_plain_text_but_user_defined_tokens_are_split_off(load):
    # Expected ids from llama.cpp 0.3.36 (tokenize with add_special=False, parse_special=False).
    assert load("starcoder").encode("<|endoftext|>") == [65, 129, 15546, 31124, 28339]
    assert load("deepseek-coder").encode("x ö y") == [87, 207, 32011, 320]  # "ö" is a user-defined token
    assert load("deepseek-coder").decode([87, 207, 32011, 320]) == "x ö y"
    assert load("mpt").encode("a    b") == [66, 50274, 67]  # so is a run of spaces


def test_what_llama_cpp_reads_next_to_the_vocabulary(load):
    spm, bpe = load("llama-spm"), load("llama-bpe")
    assert (spm.model, spm.pre, spm.add_bos, spm.special_tokens) == ("llama", "default", True,
                                                                     {"bos": 1, "eos": 2, "unk": 0})
    assert (bpe.model, bpe.pre, bpe.add_bos, bpe.special_tokens) == ("gpt2", "llama-bpe", True,
                                                                     {"bos": 128000, "eos": 128001})
    assert load("gpt-2").add_bos is False and load("aquila").pre is None


@pytest.mark.parametrize("name", WITH_VECTORS + WITHOUT_VECTORS)
def test_the_backend_built_without_transformers_is_the_one_its_wrapper_runs(load, vocab_files, name):
    """A GGUF model encodes corpora with `wrapped_backend` (no transformers import at start-up) and everything else
    with the transformers wrapper: both must be one tokenizer, special tokens included."""
    from codeguard.tokenization.loader import transformers_tokenizer, wrapped_backend
    gguf = load(name)
    tokens = [str(t) for t in read_gguf_metadata(vocab_files[name])["tokenizer.ggml.tokens"]]
    backend = wrapped_backend(gguf, tokens)
    wrapper = transformers_tokenizer(gguf, tokens)
    assert backend.to_str() == wrapper.backend_tokenizer.to_str()
    assert transformers_tokenizer(gguf, tokens, backend).backend_tokenizer.to_str() == backend.to_str()
    specials = " ".join(tokens[i] for i in gguf.special_tokens.values())
    text = f"x = 1 {specials} def"
    assert backend.encode(text, add_special_tokens=False).ids == wrapper(text, add_special_tokens=False)["input_ids"]
