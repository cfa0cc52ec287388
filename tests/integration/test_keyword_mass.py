"""The cold-start aggregates (PKP, KAP, STP, NLP) against hand-computed values, and on the zoo."""
import math

import numpy as np
import pytest

from codeguard import load_model
from codeguard.languages.registry import load_registry
from codeguard.probes.keyword_mass import KeywordMassConfig, run_keyword_mass

REGISTRY = load_registry()


class TableModel:
    """A LanguageModel whose next-token distribution is a table: listed tokens get their probability, every other
    token shares the rest equally. It uses the zoo's real tokenizer, so keyword forms tokenize as in real use."""

    backend = "table"

    def __init__(self, spec, table):
        self._zoo = load_model("zoo:tiny-code")
        self.spec, self.fingerprint, self.table = spec, "sha256:" + spec, table
        self.tokenizer = self._zoo.tokenizer
        self.fast_tokenizer = self._zoo.fast_tokenizer

    def vocabulary(self):
        return self._zoo.vocabulary()

    def special_tokens(self):
        return self._zoo.special_tokens()

    def start_ids(self, start_token=None):
        return [0], "bos:<|endoftext|>"

    def next_token_logprobs(self, contexts):
        size = len(self.vocabulary())
        rows = []
        for context in contexts:
            listed = self.table.get(tuple(context), {})
            rest = (1.0 - sum(listed.values())) / (size - len(listed))
            row = np.full(size, rest)
            for token_id, prob in listed.items():
                row[token_id] = prob
            rows.append(np.log(row))
        return np.array(rows)


def _ids(model, text):
    return model.tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def table_pair():
    probe = TableModel("probe", {})
    d, sp_d = _ids(probe, "def")[0], _ids(probe, " def")[0]
    non, local = _ids(probe, " nonlocal")
    ref = TableModel("ref", {(0,): {d: 0.10, sp_d: 0.20, non: 0.05}, (0, non): {local: 0.5}})
    opt = TableModel("opt", {(0,): {d: 0.05, sp_d: 0.20, non: 0.05}, (0, non): {local: 0.5}})
    return ref, opt


def test_pkp_and_kap_match_a_hand_computed_distribution(table_pair):
    ref, opt = table_pair
    result = run_keyword_mass(ref, opt, KeywordMassConfig(languages=("python",)))
    python = REGISTRY.get("python")
    size = len(ref.vocabulary())
    # every other python keyword form gets the uniform rest, single-token forms only
    rest = (1 - 0.35) / (size - 3)
    forms = {f for w in python.keywords for f in (w, " " + w)}
    single_other = sum(1 for f in forms if len(_ids(ref, f)) == 1 and f not in ("def", " def"))
    multi_other = [f for f in forms if len(_ids(ref, f)) > 1 and f != " nonlocal"]
    # later tokens of those come from contexts the table does not list: uniform over the vocabulary
    chain_other = sum(rest * (1 / size) ** (len(_ids(ref, f)) - 1) for f in multi_other)
    # ' nonlocal' = ' non' (0.05) then 'local' (0.5): chain rule 0.025; the single-token figure counts it as 0
    expected_pkp = 0.10 + 0.20 + 0.05 * 0.5 + single_other * rest + chain_other
    aggregates = result.aggregates["ref"]["languages"]["python"]
    assert aggregates["pkp"] == pytest.approx(expected_pkp, rel=1e-9)
    assert aggregates["pkp_single_token"] == pytest.approx(0.30 + single_other * rest, rel=1e-9)
    assert aggregates["kap"] == pytest.approx(expected_pkp / len(python.keywords), rel=1e-9)
    assert aggregates["top_keywords"][0] == {"keyword": "def", "prob": pytest.approx(0.30)}
    shifted = result.aggregates["opt"]["languages"]["python"]["pkp"]
    assert result.metrics["pkp_rel_shift.python"] == pytest.approx(abs(shifted - expected_pkp) / expected_pkp)
    assert shifted < expected_pkp  # opt moved 0.05 of mass from 'def' to the uniform rest


def test_concentration_counts_keywords_holding_the_mass(table_pair):
    ref, _ = table_pair
    result = run_keyword_mass(ref, ref, KeywordMassConfig(languages=("python",)))
    concentration = result.aggregates["ref"]["languages"]["python"]["concentration"]
    assert 1 <= concentration["80"] <= concentration["90"] <= concentration["95"] <= len(REGISTRY.get("python").keywords)
    assert all(v == 0.0 for v in result.metrics.values())  # a model against itself shifts nothing


def test_control_words_that_are_keywords_are_excluded_and_reported(table_pair):
    ref, _ = table_pair
    result = run_keyword_mass(ref, ref, KeywordMassConfig(languages=("python",)))
    assert {"in", "is", "for", "if"} <= set(result.control_words_excluded)
    assert "the" not in result.control_words_excluded
    assert 0 < result.aggregates["ref"]["overall"]["nlp"] < 1


@pytest.mark.slow
def test_zoo_aggregates_cover_every_language():
    ref = load_model("zoo:tiny-code")
    result = run_keyword_mass(ref, load_model("zoo:tiny-code@onnx-int8"))
    assert set(result.aggregates["ref"]["languages"]) == set(REGISTRY.ids)
    overall = result.aggregates["ref"]["overall"]
    assert 0 < overall["pkp"] < 1 and 0 < overall["stp"] < 1 and math.isfinite(overall["nlp"])
    assert overall["pkp_single_token"] <= overall["pkp"]
    for key in ("pkp_rel_shift", "stp_abs_shift", "nlp_abs_shift", "language_mix_js", "pkp_rel_shift.python"):
        assert 0 <= result.metrics[key] < 0.1
    assert result.probe_config()["languages"] == sorted(REGISTRY.ids)
