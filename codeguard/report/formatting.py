"""Number and gate-check formatting shared by the terminal summary, Markdown and HTML (one spelling everywhere).

What the Markdown and HTML reports both say first: the headline, the failed checks and the probes by name.
"""
from __future__ import annotations

import math

from codeguard.number_format import fmt


def bound(check: dict) -> str:
    """'<= 0.03' or '>= 0.9' (the side a metric must stay on)."""
    return ("<= " if str(check["direction"]).startswith("lower") else ">= ") + fmt(check["limit"])


def excess(check: dict) -> float | None:
    """How far past its limit a check landed, in the metric's own units (positive: worse than allowed)."""
    obtained, limit = check.get("obtained"), check.get("limit")
    if not isinstance(obtained, (int, float)) or not isinstance(limit, (int, float)):
        return None
    if not math.isfinite(obtained):
        return math.inf
    return obtained - limit if str(check["direction"]).startswith("lower") else limit - obtained


def excess_text(check: dict) -> str:
    """'+0.012 (3.1x the limit)' style: what a release engineer asks first about a failure."""
    over = excess(check)
    if over is None:
        return "-"
    if not math.isfinite(over):
        return f"obtained {fmt(check['obtained'])}"
    limit, relative = check["limit"], ""
    if limit:
        share = abs(over) / abs(limit)
        if share >= 10:
            relative = f" ({abs(check['obtained'] / limit):.3g}x the limit)"
        else:  # significant digits, not whole percent: a failing check never reads "0% of the limit"
            relative = f" ({fmt(100 * share, 2)}% of the limit)"
    return f"{'+' if over >= 0 else '-'}{fmt(abs(over), 3)}{relative}"


def tolerance_text(check: dict) -> str:
    tolerance = check.get("tolerance")
    if tolerance:
        return f"rtol {tolerance['rtol']:g}, atol {tolerance['atol']:g}"
    return "limit" if check.get("source") == "limit" else "?"


def verdict_text(check: dict, fail: str = "FAIL") -> str:
    """'ok', 'FAIL (not a finite number)', 'ok (passes, but within noise of the limit: ...)'."""
    note = check.get("note")
    return ("ok" if check["passed"] else fail) + (f" ({note})" if note else "")


def stderr_text(check: dict) -> str:
    """The check's standard error, '-' when its metric has none."""
    return "-" if check.get("stderr") is None else fmt(check["stderr"])


def has_stderr(gate: dict) -> bool:
    """Some check of the gate carries a standard error (the table gets a '± SE' column)."""
    return any(check.get("stderr") is not None for check in gate["checks"])


def mean_with_error(result: dict, metric: str, naive_key: str) -> str:
    """'0.002063 ± 3.703e-05 (SE over 50 files)' from a corpus result's `uncertainty`; a result without one (older
    results files, a 1-file corpus) falls back to llama.cpp's per-position SE, labelled as such."""
    value = result["metrics"][metric]
    stderr = (result.get("uncertainty") or {}).get(metric)
    if stderr is not None:
        files = (result.get("uncertainty_files") or {}).get(metric)
        return f"{fmt(value)} ± {fmt(stderr)} (SE over {files} files)" if files else f"{fmt(value)} ± {fmt(stderr)}"
    naive = result["metrics"].get(naive_key)
    return fmt(value) if naive is None else f"{fmt(value)} ± {fmt(naive)} (per-position SE)"


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted: byte-level BPE vocabularies spell ' or' as 'Ġor', '\\n' as 'Ċ'."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes)}


_BYTE_LEVEL = _byte_level_decoder()


def token_text(token: str) -> str:
    """The text a vocabulary entry stands for, quoted, so whitespace tokens are visible: 'Ġor' -> \"' or'\"."""
    if token and all(ch in _BYTE_LEVEL for ch in token):
        text = bytes(_BYTE_LEVEL[ch] for ch in token).decode("utf-8", "replace")
    else:
        text = token.replace("▁", " ")  # sentencepiece's space
    return repr(text)


def headline(data: dict) -> str:
    summary = data["summary"]
    if not summary["gates"]:
        return "no gates ran"
    if summary["passed"]:
        return f"all {summary['gates']} gates passed"
    return f"{len(summary['failed_gates'])} of {summary['gates']} gates FAILED: " + ", ".join(summary["failed_gates"])


def failed_checks(data: dict) -> list[tuple[dict, dict]]:
    """(gate, check) of every failing check, the worst overshoot (relative to its limit) first."""
    rows = [(gate, check) for gate in data["gates"] for check in gate["checks"] if not check["passed"]]

    def severity(row):
        over, limit = excess(row[1]), row[1].get("limit") or 0
        if over is None:
            return 0.0
        return over / abs(limit) if limit else over
    return sorted(rows, key=severity, reverse=True)


def pair_text(data: dict) -> str:
    models = data["models"]
    if not models.get("ref"):
        return data["run"].get("model_pair") or "-"
    return f"{models['opt']['spec']} vs {models['ref']['spec']}"


def flipped_problems(result: dict) -> list[dict]:
    """pass@k problems one model solves (most samples pass) and the other does not, with every sample's verdict."""
    first = next(iter(result["comparisons"].values()), {"ref_only": [], "opt_only": []})
    counts = {row["task_id"]: row for row in result["per_problem"]}
    samples = result.get("samples") or {}
    rows = []
    for task, lost in [(t, True) for t in first["ref_only"]] + [(t, False) for t in first["opt_only"]]:
        rows.append({"task_id": task, "lost": lost, "ref_correct": counts.get(task, {}).get("ref_correct"),
                     "opt_correct": counts.get(task, {}).get("opt_correct"),
                     "ref_verdicts": [s["verdict"] for s in samples.get("ref", {}).get(task, [])],
                     "opt_verdicts": [s["verdict"] for s in samples.get("opt", {}).get(task, [])]})
    return rows


def worst_case_top_tokens(record: dict, n: int = 5) -> tuple[list[str], list[list]]:
    """(header, rows) of the two models' top-n next tokens after one worst-case prefix, rank by rank."""
    ref, opt = record.get("ref_top", [])[:n], record.get("opt_top", [])[:n]
    rows = []
    for rank in range(max(len(ref), len(opt))):
        r = ref[rank] if rank < len(ref) else None
        o = opt[rank] if rank < len(opt) else None
        rows.append([str(rank + 1), repr(r["token"]) if r else "-", fmt(r["prob"], 3) if r else "-",
                     repr(o["token"]) if o else "-", fmt(o["prob"], 3) if o else "-"])
    return ["rank", "ref token", "ref p", "opt token", "opt p"], rows


def skipped_files_text(skipped: dict | None, shown: int = 10) -> str | None:
    """'3 corpus file(s) skipped: unknown language: a.xyz; not UTF-8: b.c; empty: c.py', or None when none was."""
    reasons = (("unknown_language", "unknown language"), ("undecodable", "not UTF-8"), ("empty", "empty"))
    parts, total = [], 0
    for key, label in reasons:
        names = list((skipped or {}).get(key) or [])
        total += len(names)
        if names:
            more = f" and {len(names) - shown} more" if len(names) > shown else ""
            parts.append(f"{label}: {', '.join(names[:shown])}{more}")
    return f"{total} corpus file(s) skipped: " + "; ".join(parts) if total else None

