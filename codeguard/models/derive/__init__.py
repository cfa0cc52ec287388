"""Derived models (`@fp16`, `@onnx-int8`, `@int4-rtn`, `@gguf-q4_k_m`, ...): made with the real toolchain, cached
on disk under the source's content fingerprint and the recipe."""
