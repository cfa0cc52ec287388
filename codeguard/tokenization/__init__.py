"""Tokenizers as analyses need them: CodeTokenizer over HF tokenizers and GGUF vocabularies (built from metadata)."""
from codeguard.tokenization.loader import CodeTokenizer, load_tokenizer_file, model_tokenizer

__all__ = ["CodeTokenizer", "load_tokenizer_file", "model_tokenizer"]
