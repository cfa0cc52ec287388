"""Tokenizers from anywhere (model specs, HF tokenizer directories, GGUF files built from their metadata)."""
from codeguard.tokenization.loader import CodeTokenizer, load_tokenizer

__all__ = ["CodeTokenizer", "load_tokenizer"]
