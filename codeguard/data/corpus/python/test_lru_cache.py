"""Unit tests for the LRU cache and the configuration parser."""

import unittest
from unittest import mock

from config_parser import ConfigError, coerce, parse
from lru_cache import LRUCache, memoize


class FakeClock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LRUCacheTest(unittest.TestCase):
    def setUp(self):
        self.clock = FakeClock()
        self.cache = LRUCache(capacity=3, clock=self.clock)

    def test_evicts_least_recently_used(self):
        for i, key in enumerate("abc"):
            self.cache.put(key, i)
        self.cache.get("a")
        self.cache.put("d", 4)
        self.assertNotIn("b", self.cache)
        self.assertEqual(list(self.cache), ["c", "a", "d"])

    def test_ttl_expiry(self):
        self.cache.put("k", "v", ttl=5)
        self.clock.advance(4.9)
        self.assertEqual(self.cache.get("k"), "v")
        self.clock.advance(0.2)
        self.assertIsNone(self.cache.get("k"))
        self.assertEqual(self.cache.stats.expired, 1)

    def test_on_evict_callback_errors_are_swallowed(self):
        callback = mock.Mock(side_effect=RuntimeError("boom"))
        cache = LRUCache(capacity=1, on_evict=callback)
        cache.put(1, "one")
        cache.put(2, "two")
        callback.assert_called_once_with(1, "one")
        self.assertEqual(len(cache), 1)

    def test_pop_missing_raises(self):
        with self.assertRaises(KeyError):
            self.cache.pop("nope")
        self.assertEqual(self.cache.pop("nope", 42), 42)

    def test_invalid_capacity(self):
        for bad in (0, -1):
            with self.subTest(capacity=bad):
                self.assertRaises(ValueError, LRUCache, bad)

    def test_memoize_counts_calls(self):
        calls = []

        @memoize(capacity=8)
        def square(x):
            calls.append(x)
            return x * x

        self.assertEqual([square(n) for n in (2, 3, 2, 2)], [4, 9, 4, 4])
        self.assertEqual(calls, [2, 3])
        self.assertAlmostEqual(square.cache.stats.hit_rate, 0.5)


class ConfigParserTest(unittest.TestCase):
    SAMPLE = """
    # sample
    name = demo
    [server]
    host = localhost
    port = 8080
    ratio = 0.75
    debug = yes
    url = http://${server.host}:${server.port}/
    """

    def test_values_are_coerced(self):
        config = parse(self.SAMPLE)
        server = config["server"]
        self.assertEqual(server["port"], 8080)
        self.assertIs(server["debug"], True)
        self.assertEqual(server["url"], "http://localhost:8080/")

    def test_bad_line_reports_number(self):
        with self.assertRaises(ConfigError) as ctx:
            parse("ok = 1\n???\n")
        self.assertEqual(ctx.exception.line_no, 2)

    def test_coerce_quoted(self):
        self.assertEqual(coerce("'42'"), "42")
        self.assertEqual(coerce("-7"), -7)


if __name__ == "__main__":
    unittest.main(verbosity=2)
