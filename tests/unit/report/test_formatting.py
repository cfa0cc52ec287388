"""Report wording a reader relies on: how far past a limit, which corpus files were skipped, worst-case top tokens."""
from codeguard.report.formatting import excess_text, skipped_files_text, worst_case_top_tokens


def test_a_failing_check_never_reads_zero_percent_of_the_limit():
    check = {"obtained": 0.0100001, "limit": 0.01, "direction": "lower_is_better"}
    assert excess_text(check) == "+1e-07 (0.001% of the limit)"
    assert excess_text({**check, "obtained": 1.0}) == "+0.99 (100x the limit)"


def test_skipped_corpus_files_are_listed_by_reason():
    assert skipped_files_text({"unknown_language": [], "undecodable": [], "empty": []}) is None
    text = skipped_files_text({"unknown_language": ["a.xyz"], "undecodable": ["b.c"], "empty": ["c.py"]})
    assert text == "3 corpus file(s) skipped: unknown language: a.xyz; not UTF-8: b.c; empty: c.py"


def test_worst_case_top_tokens_pair_both_models_rank_by_rank():
    header, rows = worst_case_top_tokens({"ref_top": [{"token": "def", "prob": 0.5}, {"token": "\n", "prob": 0.2}],
                                          "opt_top": [{"token": "class", "prob": 0.4}]})
    assert header == ["rank", "ref token", "ref p", "opt token", "opt p"]
    assert rows == [["1", "'def'", "0.5", "'class'", "0.4"], ["2", "'\\n'", "0.2", "-", "-"]]
