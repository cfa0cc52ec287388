"""Repository-wide pytest set-up: hypothesis profiles (CI is derandomized so runs are reproducible)."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

pytest_plugins = ["pytester"]

# The shipped code corpus contains test-looking files (test_lru_cache.py) that are data, not our tests.
collect_ignore_glob = ["codeguard/data/corpus/*"]
