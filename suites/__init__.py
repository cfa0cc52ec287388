"""The ready-made gate suites; installed as `codeguard.suites` (`pytest --pyargs codeguard.suites --model-pair REF,OPT`)."""
