"""report.html: one self-contained page (inline CSS and SVG, no network), failures on the first screen.

Sections are plain data (title, lines, plots, tables) built here from a results document; the jinja2 template
only lays them out, so a new probe needs a section builder, not template logic.
"""
from __future__ import annotations

import json
from pathlib import Path

import jinja2
from markupsafe import Markup

from codeguard.report import plots
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

TEMPLATES = Path(__file__).parent / "templates"


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def table(header, rows, caption: str = "", failing: list[bool] | None = None) -> dict:
    return {"header": list(header), "caption": caption,
            "rows": [[v if isinstance(v, str) else fmt(v) for v in row] for row in rows],
            "failing": failing or [False] * len(rows)}


def plot(draw, *args, caption: str) -> dict:
    """An inline SVG, or a visible note when the data cannot be drawn (the rest of the report still renders)."""
    try:
        return {"svg": Markup(draw(*args)), "caption": caption, "error": None}
    except Exception as error:  # a plot is an explanation; failing the report for it would hide the verdicts
        return {"svg": None, "caption": caption, "error": f"{type(error).__name__}: {error}"}


def section(anchor, title, lines=(), plots_=(), tables=(), wall_s=None) -> dict:
    return {"id": anchor, "title": title, "lines": list(lines), "plots": list(plots_), "tables": list(tables),
            "wall_s": wall_s}


def _cold_start(result: dict) -> dict:
    m = result["metrics"]
    lines = [f"From start ids {result['start_ids']} ({result['start_source']}): KL(ref‖opt) {fmt(m.get('kl_ref_opt'))}"
             f" nats, JS {fmt(m.get('js_divergence'))} bits, total variation {fmt(m.get('total_variation'))}, "
             f"top-1 agree {fmt(m.get('top1_agree'))}."]
    tables = [table(["metric", "value"], [[k, v] for k, v in m.items()], "metrics")]
    for side, summary in (result.get("rollouts") or {}).items():
        tables.append(table(["count", "first line"], [[str(r["count"]), repr(r["line"])] for r in summary["first_lines"]],
                            f"{side} rollouts (n={summary['n']}, {summary['distinct_first_tokens']} distinct first "
                            "tokens)"))
    return {"lines": lines, "tables": tables,
            "plots": [plot(plots.top_tokens, result["top_tokens"]["ref"], result["top_tokens"]["opt"],
                           caption="Cold-start top tokens: first-token probability, ref vs opt")]}


def _keyword_mass(result: dict) -> dict:
    ref, opt = result["aggregates"]["ref"], result["aggregates"]["opt"]
    rows = [[lang, r["pkp"], opt["languages"][lang]["pkp"], r["pkp_single_token"], r["kap"],
             opt["languages"][lang]["kap"], result["metrics"].get(f"pkp_rel_shift.{lang}"),
             ", ".join(k["keyword"] for k in r["top_keywords"][:5])] for lang, r in ref["languages"].items()]
    overall = [[name.upper(), ref["overall"][name], opt["overall"][name],
                abs(opt["overall"][name] - ref["overall"][name])] for name in ("pkp", "stp", "nlp")]
    return {"lines": ["PKP: probability mass of a language's keywords as the first token (chain rule over "
                      "multi-token keywords); KAP: PKP per keyword; STP: punctuation/structure; NLP: English "
                      f"control words. Language-mix JS {fmt(result['metrics'].get('language_mix_js'))} bits."],
            "plots": [plot(plots.keyword_mass, result["aggregates"],
                           caption="Per-language keyword mass (PKP/KAP) and overall PKP/STP/NLP, ref vs opt")],
            "tables": [table(["language", "PKP ref", "PKP opt", "PKP ref (single-token)", "KAP ref", "KAP opt",
                              "rel. shift", "top keywords (ref)"], rows, "per language"),
                       table(["aggregate", "ref", "opt", "|shift|"], overall, "overall")]}


def _corpus_kld(result: dict) -> dict:
    m = result["metrics"]
    per_language = m.get("per_language", {})
    quantiles = [["all", *[m[key] for _, _, key in plots.KLD_QUANTILES], m["kld_mean"], m["same_top_p"],
                  fmt(m["ppl_ratio"], 6), str(int(m["positions"]))]]
    quantiles += [[lang, *[s[key] for _, _, key in plots.KLD_QUANTILES], s["kld_mean"], s["same_top_p"],
                   fmt(s["ppl_ratio"], 6), str(int(s["positions"]))] for lang, s in per_language.items()]
    header = ["rows", *[name for name, _, _ in plots.KLD_QUANTILES], "mean", "same top", "PPL ratio", "positions"]
    return {"lines": [f"Teacher-forced over the corpus (ctx {result['config'].get('ctx')}): KLD mean "
                      f"{mean_with_error(result, 'kld_mean', 'kld_stderr')} nats; PPL ref {fmt(m['ppl_ref'])}, opt "
                      f"{fmt(m['ppl_opt'])}.",
                      "Δp of the actual token: " + ", ".join(f"{k} {v:+.3g}" for k, v in result["delta_p"].items()),
                      *filter(None, [skipped_files_text(result.get("skipped_files"))])],
            "plots": [plot(plots.kld_distribution, m, per_language, result.get("uncertainty"),
                           caption="Corpus KLD distribution: quantiles per position, overall and per language")],
            "tables": [table(header, quantiles, "KLD percentiles, overall and per language"),
                       table(["KLD", "where", "language", "context"],
                             [[w["kld"], f"{w['file']}:{w['line']}", w["language"], repr(w["context"])]
                              for w in result["worst"]], "worst positions")]}


def _keyword_shift(result: dict) -> dict:
    o = result["overall"]
    rows = [[lang, str(s["positions"]), s["mean_abs_dlogp"], s["max_abs_dlogp"], s["mean_dlogp"],
             s["top1_lost_share"], ", ".join(f"{m['keyword']} ({fmt(m['mean_abs_dlogp'], 2)}, ×{m['count']})"
                                             for m in s["most_moved"][:5])] for lang, s in result["per_language"].items()]
    return {"lines": [f"{o['positions']} keyword positions in real code: mean |Δlog p| {fmt(o['mean_abs_dlogp'])}, "
                      f"max {fmt(o['max_abs_dlogp'])}; ref's top-1 keyword lost by opt at "
                      f"{fmt(o['top1_lost_share'])} of {o['ref_top1_positions']} positions."],
            "plots": [plot(plots.keyword_shift, result["per_language"],
                           caption="Keyword shift: |Δ log p| per language and the keywords that moved most")],
            "tables": [table(["language", "positions", "mean |Δlog p|", "max", "mean Δlog p", "top-1 lost",
                              "moved most"], rows, "per language")]}


def _pass_at_k(result: dict) -> dict:
    comparisons = result["comparisons"]
    rows = [[f"pass@{k}", c["ref_pass_at_k"], c["opt_pass_at_k"], c["delta"], c["ci_low"], c["ci_high"],
             c["mcnemar_p"]] for k, c in comparisons.items()]
    flips = flipped_problems(result)
    flip_rows = [[f["task_id"], "lost by opt" if f["lost"] else "gained by opt",
                  f"{f['ref_correct']}: " + " ".join(f["ref_verdicts"]), f"{f['opt_correct']}: " + " ".join(f["opt_verdicts"])]
                 for f in flips]
    c = result["config"]
    return {"lines": [f"{len(result['per_problem'])} problems ({c['problems']}), n = {c['n_samples']}, "
                      f"T = {c['temperature']}; sandbox: {result.get('isolation')}.",
                      "Verdicts: " + "; ".join(f"{side} " + ", ".join(f"{v} {n}" for v, n in counts.items())
                                              for side, counts in result["verdict_counts"].items())],
            "plots": [plot(plots.pass_at_k, comparisons, caption="pass@k per k, and Δ pass@k with its confidence "
                                                                 "interval")],
            "tables": [table(["k", "ref", "opt", "Δ", "CI low", "CI high", "McNemar p"], rows, "pass@k"),
                       table(["problem", "flip", "ref: correct, verdicts", "opt: correct, verdicts"], flip_rows,
                             "flipped problems (most samples pass for one model only)",
                             [f["lost"] for f in flips])]}


def _worst_case(result: dict) -> dict:
    """The shrunk counterexample first (what a reader must see), then the worst prefixes per language."""
    lines, m = [], result["metrics"]
    c = result.get("counterexample")
    if c:
        lines.append(f"Counterexample ({c['language']}, {c['n_tokens']} tokens): {result['config']['objective']} "
                     f"{fmt(c['value'])} above the limit {fmt(result.get('limit'))} after the prefix "
                     f"{c['text']!r}" + (" (replayed from the example database)" if result.get("replayed") else ""))
    else:
        lines.append("No prefix beyond the limit was found.")
    lines.append("Search: " + ", ".join(f"{k} {fmt(v)}" for k, v in m.items()))
    rows = [[lang, r["value"], str(r["n_tokens"]), repr(r["text"][-80:])]
            for lang, records in result["worst"].items() for r in records]
    tables = [table(["language", "value", "tokens", "prefix (end)"], rows, "worst prefixes per language")]
    tables += [table(*worst_case_top_tokens(records[0]), f"top-5 next tokens after the worst {lang} prefix")
               for lang, records in result["worst"].items() if records]
    return {"lines": lines, "tables": tables}


PROBE_SECTIONS = {"cold-start": _cold_start, "keyword-mass": _keyword_mass, "corpus-kld": _corpus_kld,
                  "keyword-shift": _keyword_shift, "pass-at-k": _pass_at_k, "worst-case": _worst_case}


def _probe_sections(data: dict) -> list[dict]:
    sections = []
    for index, probe in enumerate(data["probes"]):
        build = PROBE_SECTIONS.get(probe["probe"])
        parts = build(probe["result"]) if build else {
            "tables": [table(["metric", "value"], list(probe["gate_metrics"].items()), "metrics")]}
        sections.append(section(f"probe-{index}", probe["probe"], parts.get("lines", ()), parts.get("plots", ()),
                                parts.get("tables", ()), probe.get("wall_s")))
    return sections


def _tokenizer_sections(data: dict) -> list[dict]:
    sections = []
    for index, a in enumerate(data["tokenizers"]):
        coverage = [[lang, c["bare_single_token_fraction"], c["space_single_token_fraction"],
                     c["newline_single_token_fraction"], c["mean_tokens_per_keyword"],
                     (a.get("fertility") or {}).get(lang, {}).get("tokens_per_line"),
                     ", ".join(token_text(s["keyword"]) for s in c["split_keywords"][:6])]
                    for lang, c in a["coverage"].items()]
        classes = [[name, str(v["count"]), v["fraction"]] for name, v in a["classes"].items()]
        sections.append(section(f"tokenizer-{index}", f"tokenizer {a['spec']}",
                                [f"Vocabulary of {a['vocab_size']} tokens."], (),
                                [table(["language", "single-token bare", "' kw'", "after newline",
                                        "tokens per ' kw'", "tokens per line", "split keywords"], coverage,
                                       "keyword coverage and fertility"),
                                 table(["class", "tokens", "fraction"], classes, "vocabulary classes")]))
    return sections


def _gate_rows(gate: dict) -> dict:
    se = has_stderr(gate)
    return table(["metric", "obtained", *(["± SE"] if se else []), "baseline", "tolerance", "limit",
                  "past the limit by", "verdict"],
                 [[c["metric"], c["obtained"], *([stderr_text(c)] if se else []), c["baseline"], tolerance_text(c),
                   f"{bound(c)} [{c['source']}]", excess_text(c) if not c["passed"] else "", verdict_text(c)]
                  for c in gate["checks"]], failing=[not c["passed"] for c in gate["checks"]])


def render_html(data: dict) -> str:
    """The whole page for a results document (validated by the caller)."""
    failures = failed_checks(data)
    run = data["run"]
    details = [["models", pair_text(data)]]
    for side in ("ref", "opt"):
        info = data["models"].get(side)
        if info:
            details.append([side, f"{info['spec']} [{info['backend']}] {info['fingerprint']}"])
    details += [["run id", run.get("id") or "-"], ["started", run.get("started") or "-"],
                ["finished", run.get("finished") or "-"],
                ["duration", f"{run['duration_s']:.1f} s" if run.get("duration_s") is not None else "-"],
                ["exit status", fmt(run.get("exit_status"))],
                ["git", f"{run['git']['commit']}{' (dirty)' if run['git']['dirty'] else ''}" if run.get("git") else "-"],
                ["invocation", " ".join(run.get("invocation") or []) or "-"]]
    details += [[k, v] for k, v in (run.get("machine") or {}).items()]
    timings = [[p["probe"], f"{p['wall_s']:.2f} s" if p.get("wall_s") is not None else "-"] for p in data["probes"]]
    configs = [[p["probe"], json.dumps(p["result"].get("config"), sort_keys=True)] for p in data["probes"]]
    return template_environment().get_template("report.html.j2").render(
        title=f"codeguard — {pair_text(data)}", headline=headline(data), passed=data["summary"]["passed"],
        gates_run=data["summary"]["gates"], pair=pair_text(data),
        failures=table(["gate", "metric", "obtained", "baseline", "tolerance", "limit", "past the limit by"],
                       [[g["suite"], c["metric"], c["obtained"], c["baseline"], tolerance_text(c), bound(c),
                         excess_text(c)] for g, c in failures], failing=[True] * len(failures)),
        gates=[{"suite": g["suite"], "passed": g["passed"], "ref": g["ref"], "opt": g["opt"],
                "baseline": g.get("baseline_path") or "-", "notes": g.get("notes", []) + [f"warning: {w}" for w in g.get("warnings", [])], "table": _gate_rows(g),
                "probe": f"probe-{g['probe']}" if g.get("probe") is not None else None,
                "failed": sum(not c["passed"] for c in g["checks"])} for g in data["gates"]],
        sections=_probe_sections(data) + _tokenizer_sections(data),
        details=table(["", ""], details), versions=table(["package", "version"],
                                                          [[k, v or "-"] for k, v in data["versions"].items()]),
        timings=table(["probe", "wall time"], timings), configs=table(["probe", "config"], configs),
        written=data["baselines_written"], codeguard_version=data["codeguard_version"])
