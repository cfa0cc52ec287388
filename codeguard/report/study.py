"""The study report: `study.json` (schema below), `study.md` and a self-contained `study.html`, from the document
alone (no model is loaded here: `codeguard/study.py` measures, the views below pick the rows both renderings show,
this module lays them out).

Schema "codeguard-study", version 1 (a reader refuses other versions by name):

    schema            "codeguard-study"
    schema_version    1
    codeguard_version the writer's version
    run               started / finished (ISO 8601 UTC), duration_s, invocation (argv), git {commit, dirty} or
                      None, machine {host, platform, machine, python_executable}
    versions          package -> installed version (None when absent)
    config            corpus, ctx, languages (None: all), start_token, pass_at_k (PassAtKConfig fields or None)
    corpus            root, files, languages, characters, unknown_language, undecodable
    reference         a model entry (below), role "reference"
    variants          list of model entries, role "variant", in the order given
    tokenizers        list of TokenizerAnalysis.to_dict() plus "models" (the specs that share that tokenizer)

A model entry: spec, role, fingerprint, backend, parameters (of the source checkpoint; None when unknown),
tokenizer (index into `tokenizers`), start_ids / start_source (its cold-start context), aggregates (its own
keyword-mass aggregates: per-language PKP/KAP, overall PKP/STP/NLP; None when it has no start context),
comparable (one vocabulary and one start context with the reference), not_applicable (probe -> reason),
results (probe -> the probe result's to_dict(): "cold-start", "corpus-kld", "keyword-shift", "pass-at-k" without
its samples, and "keyword-mass" as {"metrics": shifts}), summary (the table's headline numbers, None where a probe
did not run), wall_s (step -> seconds; the two corpus probes share one pass and one time).

What study.md and study.html both show, from a study document: the variants × metrics table, per-language
matrices, the aggregates, tokenizer, pass@k and timing tables (plain rows; each renderer formats them).
"""
from __future__ import annotations

import json
from pathlib import Path

from codeguard.atomic_files import write_text_atomically
from codeguard.errors import ReportError
from codeguard.report import html, markdown, plots
from codeguard.report.results import check_envelope, dumps

SCHEMA = "codeguard-study"
SCHEMA_VERSION = 1
JSON_FILE, MARKDOWN_FILE, HTML_FILE = "study.json", "study.md", "study.html"


def validate_study(data, source: str = "study") -> None:
    """Raises ReportError naming `source` and the offending key when `data` is not a study document v1."""
    fail = check_envelope(data, source, SCHEMA, SCHEMA_VERSION,
                          (("run", dict), ("config", dict), ("corpus", dict), ("reference", dict),
                           ("variants", list), ("tokenizers", list)), "study", reader="this codeguard")
    for where, entry in [("reference", data["reference"])] + [(f"variants[{i}]", v)
                                                              for i, v in enumerate(data["variants"])]:
        for key, kind in (("spec", str), ("summary", dict), ("results", dict), ("not_applicable", dict)):
            if not isinstance(entry, dict) or not isinstance(entry.get(key), kind):
                fail(f"{where} needs {key!r} ({kind.__name__})")


def load_study(path: Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"cannot read study file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ReportError(f"study file {path} is not valid JSON ({error})") from None
    validate_study(data, str(path))
    return data


def check_writable(folder: Path, option: str = "--out") -> None:
    """Fails before a study runs for minutes when the folder for its report cannot be created or written."""
    import tempfile
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{option}: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".codeguard-write-test-"):
            pass
    except OSError as error:
        raise ReportError(f"{option}: cannot write to {folder} ({error.strerror or error}); choose a folder you can "
                          "write to") from None


def write_study_dir(data: dict, folder: Path) -> list[Path]:
    """study.json, study.md and study.html in `folder` (created if missing)."""
    validate_study(data, "study")
    folder = Path(folder)
    outputs = ((JSON_FILE, dumps), (MARKDOWN_FILE, render_study_markdown), (HTML_FILE, render_study_html))
    for name, render in outputs:
        write_text_atomically(folder / name, render(data))
    return [folder / name for name, _ in outputs]


def render_study_markdown(data: dict) -> str:
    lines = [f"## codeguard study: {headline(data)}", "", context_line(data), "", "### Variants × metrics", ""]
    header, rows = study_table(data)
    lines += markdown.table(header, rows)
    lines += [f"- **{markdown.cell(h)}**: {markdown.cell(what)}" for _, h, what in study_columns(data)]
    lines += [""] + [f"- n/a: {markdown.cell(note)}" for note in not_applicable_notes(data)] + [""]
    lines += ["### Keyword mass at cold start (each model from its own start context)", ""]
    lines += markdown.table(*aggregates_table(data))
    for _, title, value_of, _, what in LANGUAGE_VIEWS:
        languages, labels, matrix = per_language(data, value_of)
        if languages:
            lines += [f"### {title}", "", f"{what}; `@x` stands for `{data['reference']['spec']}@x`.", ""]
            lines += markdown.table(["language", *labels], [[lang, *[matrix[j][i] for j in range(len(labels))]]
                                                    for i, lang in enumerate(languages)])
    header, rows = pass_at_k_table(data)
    if rows:
        lines += ["### pass@k", ""] + markdown.table(header, rows)
    lines += ["### Tokenizers", ""]
    for caption, header, rows in tokenizer_tables(data):
        lines += [f"{markdown.cell(caption)}:", ""] + markdown.table(header, rows)
    lines += ["### Timings", ""] + markdown.table(*timings_table(data))
    return "\n".join(lines).rstrip() + "\n"


def render_study_html(data: dict) -> str:
    header, rows = study_table(data)
    labels = [short_label(e["spec"], data["reference"]["spec"]) for e in data["variants"]]
    panels = [(title, [v["summary"].get(key) for v in data["variants"]]) for key, title in (
        ("cold_kl_ref_opt", "cold-start KL(ref‖variant), nats"), ("corpus_kld_mean", "corpus KLD mean, nats"),
        ("keyword_mean_abs_dlogp", "keyword |Δ log p| in code, nats"), ("pkp_rel_shift", "PKP relative shift"),
        ("language_mix_js", "language-mix JS, bits"), ("corpus_kld_p99", "corpus KLD p99, nats"))]
    sections = [{"id": "overview", "title": "Divergence from the reference", "lines": [], "tables": [],
                 "plots": [html.plot(plots.variant_metrics, labels, panels,
                                caption="each variant against the reference (log scale; n/a: not comparable)")]}]
    for anchor, title, value_of, diverging, what in LANGUAGE_VIEWS:
        languages, var_labels, matrix = per_language(data, value_of)
        if not languages:
            continue
        sections.append({"id": anchor, "title": title, "lines": [], "plots": [html.plot(
            plots.language_heatmap, languages, var_labels, matrix, UNITS[anchor], diverging, caption=what)],
            "tables": [html.table(["language", *var_labels], [[lang, *[matrix[j][i] for j in range(len(var_labels))]]
                                                         for i, lang in enumerate(languages)])]})
    agg_header, agg_rows = aggregates_table(data)
    sections.append({"id": "aggregates", "title": "Keyword mass at cold start", "plots": [],
                     "lines": ["Each model from its own start context; chain-rule probability of every keyword "
                               "spelling as the first text."], "tables": [html.table(agg_header, agg_rows)]})
    pass_header, pass_rows = pass_at_k_table(data)
    if pass_rows:
        sections.append({"id": "pass-at-k", "title": "pass@k", "lines": [], "plots": [],
                         "tables": [html.table(pass_header, pass_rows)]})
    sections.append({"id": "tokenizers", "title": "Tokenizers", "lines": [], "plots": [],
                     "tables": [html.table(h, r, caption) for caption, h, r in tokenizer_tables(data)]})
    run = data["run"]
    details = [["reference", f"{data['reference']['spec']} [{data['reference']['backend']}] "
                             f"{data['reference']['fingerprint']}"]]
    details += [[f"variant {i + 1}", f"{v['spec']} [{v['backend']}] {v['fingerprint']}"]
                for i, v in enumerate(data["variants"])]
    details += [["started", run.get("started") or "-"], ["finished", run.get("finished") or "-"],
                ["duration", f"{run['duration_s']:.1f} s" if run.get("duration_s") is not None else "-"],
                ["invocation", " ".join(run.get("invocation") or []) or "-"],
                ["git", f"{run['git']['commit']}{' (dirty)' * run['git']['dirty']}" if run.get("git") else "-"],
                ["config", json.dumps(data["config"], sort_keys=True)]]
    details += [[k, v] for k, v in (run.get("machine") or {}).items()]
    return html.template_environment().get_template("study.html.j2").render(
        title=f"codeguard study — {headline(data)}", headline=headline(data), context=context_line(data),
        table=html.table(header, rows, failing=[False] * len(rows)),
        legend=[(h, what) for _, h, what in study_columns(data)], notes=not_applicable_notes(data),
        sections=sections, timings=html.table(*timings_table(data), caption="wall time per step"),
        details=html.table(["", ""], details, caption="run"),
        versions=html.table(["package", "version"], [[k, v or "-"] for k, v in data["versions"].items()],
                       caption="versions"),
        codeguard_version=data["codeguard_version"])


# The study table: summary key, column header, what it says (a legend line in the reports).
COLUMNS = [
    ("parameters", "params", "parameters of the source checkpoint"),
    ("cold_kl_ref_opt", "cold KL", "KL(ref‖variant) of the first-token distributions at cold start, nats"),
    ("cold_top1_agree", "cold top-1", "1 when both rank the same first token first"),
    ("pkp", "PKP", "keyword probability mass at cold start, all languages (chain rule)"),
    ("pkp_rel_shift", "PKP shift", "|PKP − PKP(ref)| / PKP(ref)"),
    ("language_mix_js", "mix JS", "Jensen-Shannon divergence (bits) of the per-language PKP mixes"),
    ("stp", "STP", "structural-token (punctuation, whitespace) mass at cold start"),
    ("nlp", "NLP", "English control-word mass at cold start"),
    ("corpus_kld_mean", "KLD mean", "mean KL(ref‖variant) per token over the corpus, nats"),
    ("corpus_kld_p99", "KLD p99", "99th percentile of the per-token KLD"),
    ("corpus_same_top_p", "same top", "share of corpus positions where both rank the same token first"),
    ("ppl", "PPL", "corpus perplexity"),
    ("ppl_ratio", "PPL ratio", "PPL(variant) / PPL(ref)"),
    ("keyword_mean_abs_dlogp", "kw Δlog p", "mean absolute Δ log p of keywords where they occur in the corpus"),
    ("keyword_top1_lost_share", "kw top-1 lost", "share of ref's top-1 keyword positions the variant loses"),
]
# Comparative keys: cells of the reference's own row that would compare it with itself.
OWN_KEYS = {"parameters", "pkp", "stp", "nlp", "ppl"}


def short_label(spec: str, ref_spec: str) -> str:
    """'zoo:tiny-code@fp16' -> '@fp16' beside reference 'zoo:tiny-code' (column headers stay narrow)."""
    return spec[len(ref_spec):] if spec.startswith(ref_spec + "@") else spec


def _entries(data: dict) -> list[dict]:
    return [data["reference"], *data["variants"]]


def _parameters(value) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f} M" if value >= 1e5 else str(value)


def pass_keys(data: dict) -> list[str]:
    keys = {k for v in data["variants"] for k in v["summary"] if k.startswith(("pass@", "delta_pass@"))}
    return sorted(keys, key=lambda k: (int(k.split("@")[1]), k.startswith("delta")))


def study_columns(data: dict) -> list[tuple[str, str, str]]:
    extra = [(k, k.replace("delta_", "Δ"), "share of problems solved (Δ: variant − ref, same problems)")
             for k in pass_keys(data)]
    return COLUMNS + extra


def study_table(data: dict) -> tuple[list[str], list[list]]:
    """The variants × metrics table: one row per model, the reference first."""
    columns = study_columns(data)
    rows = []
    for entry in _entries(data):
        is_ref = entry["role"] == "reference"
        row = [f"{entry['spec']} (ref)" if is_ref else entry["spec"], entry.get("backend", "-")]
        for key, _, _ in columns:
            value = entry["summary"].get(key)
            if key == "parameters":
                row.append(_parameters(value))
            elif is_ref and key not in OWN_KEYS and not key.startswith("pass@"):
                row.append("—")
            elif value is None:
                row.append("n/a" if entry.get("not_applicable") else "-")
            else:
                row.append(value)
        rows.append(row)
    return ["model", "backend"] + [header for _, header, _ in columns], rows


def not_applicable_notes(data: dict) -> list[str]:
    notes = []
    for entry in data["variants"]:
        reasons = {}
        for probe, reason in entry.get("not_applicable", {}).items():
            reasons.setdefault(reason, []).append(probe)
        for reason, probes in reasons.items():
            notes.append(f"{entry['spec']}: {', '.join(probes)} not applicable: {reason}")
    return notes


def _variant_labels(data: dict, variants: list[dict]) -> list[str]:
    return [short_label(v["spec"], data["reference"]["spec"]) for v in variants]


def per_language(data: dict, value_of) -> tuple[list[str], list[str], list[list]]:
    """Languages × comparable variants of `value_of(reference, variant, language)` (None where missing); languages
    in registry order, those with no value at all left out."""
    ref = data["reference"]
    variants = [v for v in data["variants"] if v.get("comparable", True)]
    candidates = list((ref.get("aggregates") or {}).get("languages", {}))
    candidates += sorted({lang for v in variants for lang in _measured_languages(v)} - set(candidates))
    languages = [lang for lang in candidates if any(value_of(ref, v, lang) is not None for v in variants)]
    matrix = [[value_of(ref, v, lang) for lang in languages] for v in variants]
    return languages, _variant_labels(data, variants), matrix


def _measured_languages(entry: dict) -> set[str]:
    return set(entry["results"].get("corpus-kld", {}).get("metrics", {}).get("per_language", {})) | \
        set(entry["results"].get("keyword-shift", {}).get("per_language", {}))


def pkp_shift(ref: dict, entry: dict, language: str) -> float | None:
    """Signed relative change of one language's keyword mass, (variant − ref) / ref; None when not compared."""
    if "keyword-mass" not in entry["results"]:
        return None
    mine = (entry.get("aggregates") or {}).get("languages", {}).get(language)
    theirs = (ref.get("aggregates") or {}).get("languages", {}).get(language)
    if not mine or not theirs or theirs["pkp"] <= 0:
        return None
    return (mine["pkp"] - theirs["pkp"]) / theirs["pkp"]


def corpus_kld(ref: dict, entry: dict, language: str) -> float | None:
    stats = entry["results"].get("corpus-kld", {}).get("metrics", {}).get("per_language", {}).get(language)
    return stats["kld_mean"] if stats else None


def keyword_dlogp(ref: dict, entry: dict, language: str) -> float | None:
    stats = entry["results"].get("keyword-shift", {}).get("per_language", {}).get(language)
    return stats["mean_abs_dlogp"] if stats else None


def aggregates_table(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for entry in _entries(data):
        agg = entry.get("aggregates")
        if not agg:
            rows.append([entry["spec"], "-", "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        o = agg["overall"]
        top = sorted(agg["languages"].items(), key=lambda kv: -kv[1]["pkp"])[:3]
        rows.append([entry["spec"], f"{entry['start_ids']} {entry['start_source']}", o["pkp"], o["pkp_single_token"],
                     o["stp"], o["nlp"], ", ".join(f"{lang} {v['pkp']:.3g}" for lang, v in top)])
    return ["model", "start", "PKP", "PKP single-token", "STP", "NLP", "top languages by PKP"], rows


def tokenizer_tables(data: dict) -> list[tuple[str, list[str], list[list]]]:
    tables = []
    for analysis in data["tokenizers"]:
        rows = [[lang, c["bare_single_token_fraction"], c["space_single_token_fraction"],
                 c["newline_single_token_fraction"], c["mean_tokens_per_keyword"],
                 (analysis.get("fertility") or {}).get(lang, {}).get("tokens_per_line")]
                for lang, c in analysis["coverage"].items()]
        caption = (f"tokenizer of {', '.join(analysis['models'])} (vocabulary {analysis['vocab_size']}): keyword "
                   "coverage and fertility")
        tables.append((caption, ["language", "single-token bare", "' kw'", "after newline", "tokens per ' kw'",
                                 "tokens per line"], rows))
    return tables


def pass_at_k_table(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for entry in data["variants"]:
        result = entry["results"].get("pass-at-k")
        if not result:
            continue
        for k, c in result["comparisons"].items():
            rows.append([entry["spec"], f"pass@{k}", c["ref_pass_at_k"], c["opt_pass_at_k"], c["delta"],
                         f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] ({c['confidence']:.0%})", c["mcnemar_p"]])
    return ["variant", "k", "ref", "variant", "Δ", "bootstrap CI", "McNemar p"], rows


STEPS = ("load", "aggregates", "cold-start", "corpus-kld", "pass-at-k")


def timings_table(data: dict) -> tuple[list[str], list[list]]:
    rows = [[e["spec"]] + [f"{e['wall_s'][s]:.1f}" if s in e.get("wall_s", {}) else "-" for s in STEPS]
            for e in _entries(data)]
    return ["model"] + [("corpus probes" if s == "corpus-kld" else s) + " (s)" for s in STEPS], rows


def headline(data: dict) -> str:
    n = len(data["variants"])
    return f"{data['reference']['spec']} and {n} variant{'s' * (n != 1)}"


def context_line(data: dict) -> str:
    run, corpus, config = data["run"], data["corpus"], data["config"]
    where = "the shipped corpus" if config.get("corpus") is None else f"corpus {config['corpus']}"
    ctx = config.get("ctx") or next((v["results"]["corpus-kld"]["config"]["ctx"] for v in data["variants"]
                                     if "corpus-kld" in v["results"]), None)
    parts = [f"codeguard {data['codeguard_version']}", f"finished {run.get('finished') or '-'}"]
    if run.get("duration_s") is not None:
        parts.append(f"{run['duration_s']:.0f} s")
    parts.append(f"{where}: {corpus['files']} files, {len(corpus['languages'])} languages, "
                 f"{corpus['characters']:,} characters" + (f", windows of {ctx} tokens" if ctx else ""))
    if run.get("git"):
        parts.append(f"commit {run['git']['commit'][:12]}{' (dirty)' if run['git']['dirty'] else ''}")
    return " · ".join(parts)


UNITS = {"pkp-shift": "(variant − ref) / ref", "corpus-kld": "nats", "keyword-shift": "nats"}
LANGUAGE_VIEWS = (
    ("pkp-shift", "Keyword mass shift per language (cold start)", pkp_shift, True,
     "signed relative PKP change (variant − ref) / ref"),
    ("corpus-kld", "Corpus KLD per language", corpus_kld, False, "mean KL(ref‖variant) per token, nats"),
    ("keyword-shift", "Keyword shift per language (in code)", keyword_dlogp, False,
     "mean absolute Δ log p of keywords where they occur, nats"),
)
