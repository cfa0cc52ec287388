"""HumanEval-style problems: loading them, generating completions, the pass@k estimator, scoring sample files."""
