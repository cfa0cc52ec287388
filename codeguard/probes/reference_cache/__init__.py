"""The reference scored once: what the distribution probes need from the reference model, stored in a directory, so
that a re-gate loads only the optimized model (`build_reference_cache`, then `load_reference_cache` + `run_cached`)."""
