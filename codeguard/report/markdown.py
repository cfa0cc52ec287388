"""report.md (and the GitHub step summary): failures first, then every gate, then what each probe saw.

Sections come in the order a reader needs them, so a summary cut short at a size limit loses detail, never the
verdicts.
"""
from __future__ import annotations

from codeguard.report.formatting import (
    bound,
    excess_text,
    failed_checks,
    flipped_problems,
    fmt,
    has_stderr,
    headline,
    mean_with_error,
    pair_text,
    skipped_files_text,
    stderr_text,
    token_text,
    tolerance_text,
    verdict_text,
    worst_case_top_tokens,
)


def cell(value) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    text = value if isinstance(value, str) else fmt(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(data: dict) -> str:
    """The whole Markdown report of a results document."""
    lines = [f"## codeguard: {headline(data)}", "",
             f"**{cell(pair_text(data))}** · codeguard {data['codeguard_version']} · {_run_line(data)}", ""]
    lines += _failures(data) + _gates(data) + _probes(data) + _tokenizers(data) + _written(data)
    return "\n".join(lines).rstrip() + "\n"


def _run_line(data: dict) -> str:
    run = data["run"]
    parts = [f"finished {run.get('finished') or '-'}"]
    if run.get("duration_s") is not None:
        parts.append(f"{run['duration_s']:.1f} s")
    if run.get("git"):
        parts.append(f"commit {run['git']['commit'][:12]}{' (dirty)' if run['git']['dirty'] else ''}")
    if run.get("exit_status") is not None:
        parts.append(f"pytest exit status {run['exit_status']}")
    return " · ".join(parts)


def _failures(data: dict) -> list[str]:
    rows = failed_checks(data)
    if not rows:
        return []
    return ["### Failed checks", ""] + table(
        ["gate", "metric", "obtained", "baseline", "tolerance", "limit", "past the limit by"],
        [[g["suite"], c["metric"], c["obtained"], c["baseline"], tolerance_text(c), bound(c), excess_text(c)]
         for g, c in rows])


def _gates(data: dict) -> list[str]:
    if not data["gates"]:
        return []
    lines = ["### Gates", ""]
    lines += table(["gate", "verdict", "checks", "failed", "models", "baseline"],
                   [[g["suite"], "PASSED" if g["passed"] else "**FAILED**", str(len(g["checks"])),
                     str(sum(not c["passed"] for c in g["checks"])), f"{g['opt']} vs {g['ref']}",
                     g.get("baseline_path") or "-"] for g in data["gates"]])
    for gate in data["gates"]:
        lines += [f"<details><summary>{gate['suite']}: {'passed' if gate['passed'] else 'FAILED'}</summary>", ""]
        se = has_stderr(gate)
        lines += table(["metric", "obtained", *(["± SE"] if se else []), "baseline", "tolerance", "limit", "verdict"],
                       [[c["metric"], c["obtained"], *([stderr_text(c)] if se else []), c["baseline"],
                         tolerance_text(c), f"{bound(c)} [{c['source']}]", verdict_text(c, "**FAIL**")]
                        for c in gate["checks"]])
        lines += [f"- {cell(note)}" for note in gate.get("notes", [])]
        lines += [f"- warning: {cell(warning)}" for warning in gate.get("warnings", [])]
        lines += ["", "</details>", ""]
    return lines


def _probes(data: dict) -> list[str]:
    lines = []
    for probe in data["probes"]:
        result = probe["result"]
        took = f" ({probe['wall_s']:.1f} s)" if probe.get("wall_s") is not None else ""
        lines += [f"### {probe['probe']}{took}", ""]
        render = _PROBE_SECTIONS.get(probe["probe"])
        lines += render(result) if render else table(["metric", "value"],
                                                     [[k, v] for k, v in probe["gate_metrics"].items()])
    return lines


def _cold_start(result: dict) -> list[str]:
    m = result["metrics"]
    lines = [f"KL(ref‖opt) {fmt(m.get('kl_ref_opt'))} nats, JS {fmt(m.get('js_divergence'))} bits, "
             f"top-1 agree {fmt(m.get('top1_agree'))}, top-10 overlap {fmt(m.get('topk_overlap_10'))}", ""]
    ref, opt = result["top_tokens"]["ref"][:10], result["top_tokens"]["opt"][:10]
    return lines + table(["rank", "ref token", "p(ref)", "opt token", "p(opt)"],
                         [[str(i + 1), token_text(r["token"]), r["prob"], token_text(o["token"]), o["prob"]]
                          for i, (r, o) in enumerate(zip(ref, opt))])


def _keyword_mass(result: dict) -> list[str]:
    ref, opt = result["aggregates"]["ref"], result["aggregates"]["opt"]
    rows = [[lang, r["pkp"], opt["languages"][lang]["pkp"], r["kap"], opt["languages"][lang]["kap"],
             result["metrics"].get(f"pkp_rel_shift.{lang}")] for lang, r in ref["languages"].items()]
    rows += [[name.upper() + " (all)", ref["overall"][name], opt["overall"][name], None, None, None]
             for name in ("pkp", "stp", "nlp")]
    return table(["language", "PKP ref", "PKP opt", "KAP ref", "KAP opt", "rel. shift"], rows)


def _corpus_kld(result: dict) -> list[str]:
    m = result["metrics"]
    lines = [f"{int(m['positions'])} positions: KLD mean {mean_with_error(result, 'kld_mean', 'kld_stderr')}, median "
             f"{fmt(m['kld_median'])}, p99 {fmt(m['kld_p99'])}, max {fmt(m['kld_max'])}; same top "
             f"{fmt(m['same_top_p'])}; PPL ratio {fmt(m['ppl_ratio'], 6)}", ""]
    lines += table(["language", "positions", "KLD mean", "p99", "max", "same top", "PPL ratio"],
                   [[lang, str(int(s["positions"])), s["kld_mean"], s["kld_p99"], s["kld_max"], s["same_top_p"],
                     fmt(s["ppl_ratio"], 6)] for lang, s in m.get("per_language", {}).items()])
    skipped = skipped_files_text(result.get("skipped_files"))
    lines += [cell(skipped), ""] if skipped else []
    lines += ["Worst positions:", ""]
    lines += table(["KLD", "where", "context"],
                   [[w["kld"], f"{w['file']}:{w['line']}", repr(w["context"])[:100]] for w in result["worst"][:5]])
    return lines


def _keyword_shift(result: dict) -> list[str]:
    o = result["overall"]
    lines = [f"{o['positions']} keyword positions: mean |Δlog p| {fmt(o['mean_abs_dlogp'])}, max "
             f"{fmt(o['max_abs_dlogp'])}, ref's top-1 lost at {fmt(o['top1_lost_share'])} of "
             f"{o['ref_top1_positions']} positions", ""]
    return lines + table(["language", "positions", "mean abs Δlog p", "max", "top-1 lost", "moved most"],
                         [[lang, str(s["positions"]), s["mean_abs_dlogp"], s["max_abs_dlogp"], s["top1_lost_share"],
                           ", ".join(f"{m['keyword']} ({fmt(m['mean_abs_dlogp'], 2)})" for m in s["most_moved"][:4])]
                          for lang, s in result["per_language"].items()])


def _pass_at_k(result: dict) -> list[str]:
    lines = table(["k", "ref", "opt", "delta", "CI", "McNemar p"],
                  [[f"pass@{k}", c["ref_pass_at_k"], c["opt_pass_at_k"], c["delta"],
                    f"[{fmt(c['ci_low'])}, {fmt(c['ci_high'])}] ({c['confidence']:.0%})", c["mcnemar_p"]]
                   for k, c in result["comparisons"].items()])
    flips = flipped_problems(result)
    if flips:
        lines += ["Flipped problems (most samples pass for one model only):", ""]
        lines += table(["problem", "", "ref verdicts", "opt verdicts"],
                       [[f["task_id"], "lost by opt" if f["lost"] else "gained by opt",
                         " ".join(f["ref_verdicts"]) or str(f["ref_correct"]),
                         " ".join(f["opt_verdicts"]) or str(f["opt_correct"])] for f in flips])
    counts = result.get("verdict_counts", {})
    lines += ["Verdicts: " + "; ".join(f"{side} " + ", ".join(f"{v} {n}" for v, n in c.items())
                                       for side, c in counts.items()), "", f"Sandbox: {result.get('isolation')}", ""]
    return lines


def _tokenizers(data: dict) -> list[str]:
    lines = []
    for analysis in data["tokenizers"]:
        lines += [f"### tokenizer {analysis['spec']} (vocabulary {analysis['vocab_size']})", ""]
        lines += table(["language", "single-token bare", "' kw'", "after newline", "tokens per ' kw'",
                        "tokens per line"],
                       [[lang, c["bare_single_token_fraction"], c["space_single_token_fraction"],
                         c["newline_single_token_fraction"], c["mean_tokens_per_keyword"],
                         (analysis.get("fertility") or {}).get(lang, {}).get("tokens_per_line")]
                        for lang, c in analysis["coverage"].items()])
    return lines


def _written(data: dict) -> list[str]:
    if not data["baselines_written"]:
        return []
    return ["### Baselines written", ""] + [f"- `{w['path']}`" for w in data["baselines_written"]] + [""]


def _worst_case(result: dict) -> list[str]:
    c = result.get("counterexample")
    lines = [f"counterexample ({c['language']}, {c['n_tokens']} tokens): {fmt(c['value'])} after "
             f"{cell(repr(c['text']))}" if c else "no prefix beyond the limit found", ""]
    lines += table(["language", "value", "tokens", "prefix (end)"],
                   [[lang, r["value"], str(r["n_tokens"]), repr(r["text"][-60:])]
                    for lang, records in result["worst"].items() for r in records])
    for lang, records in result["worst"].items():
        if records:
            lines += [f"Top-5 next tokens after the worst {lang} prefix:", ""]
            lines += table(*worst_case_top_tokens(records[0]))
    return lines


_PROBE_SECTIONS = {"cold-start": _cold_start, "keyword-mass": _keyword_mass, "corpus-kld": _corpus_kld,
                   "keyword-shift": _keyword_shift, "pass-at-k": _pass_at_k, "worst-case": _worst_case}
