"""The study report: `study.json` (schema below), `study.md` and a self-contained `study.html`, from the document
alone (no model is loaded here: `codeguard/study.py` measures, `study_view.py` picks the rows both renderings show,
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
"""
from __future__ import annotations

import json
from pathlib import Path

from codeguard.errors import ReportError
from codeguard.report.results import check_envelope
from codeguard.report.study_view import (LANGUAGE_VIEWS, UNITS, aggregates_table, context_line, headline,
                                         not_applicable_notes, pass_at_k_table, per_language, short_label,
                                         study_columns, study_table, timings_table, tokenizer_tables)

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
    from codeguard.report.results import dumps, write_text_atomically
    validate_study(data, "study")
    folder = Path(folder)
    outputs = ((JSON_FILE, dumps), (MARKDOWN_FILE, render_study_markdown), (HTML_FILE, render_study_html))
    for name, render in outputs:
        write_text_atomically(folder / name, render(data))
    return [folder / name for name, _ in outputs]


def render_study_markdown(data: dict) -> str:
    from codeguard.report.markdown import cell, table
    lines = [f"## codeguard study: {headline(data)}", "", context_line(data), "", "### Variants × metrics", ""]
    header, rows = study_table(data)
    lines += table(header, rows)
    lines += [f"- **{cell(h)}**: {cell(what)}" for _, h, what in study_columns(data)]
    lines += [""] + [f"- n/a: {cell(note)}" for note in not_applicable_notes(data)] + [""]
    lines += ["### Keyword mass at cold start (each model from its own start context)", ""]
    lines += table(*aggregates_table(data))
    for _, title, value_of, _, what in LANGUAGE_VIEWS:
        languages, labels, matrix = per_language(data, value_of)
        if languages:
            lines += [f"### {title}", "", f"{what}; `@x` stands for `{data['reference']['spec']}@x`.", ""]
            lines += table(["language", *labels], [[lang, *[matrix[j][i] for j in range(len(labels))]]
                                                    for i, lang in enumerate(languages)])
    header, rows = pass_at_k_table(data)
    if rows:
        lines += ["### pass@k", ""] + table(header, rows)
    lines += ["### Tokenizers", ""]
    for caption, header, rows in tokenizer_tables(data):
        lines += [f"{cell(caption)}:", ""] + table(header, rows)
    lines += ["### Timings", ""] + table(*timings_table(data))
    return "\n".join(lines).rstrip() + "\n"


def render_study_html(data: dict) -> str:
    from codeguard.report import study_plots
    from codeguard.report.html import plot, table, template_environment
    header, rows = study_table(data)
    labels = [short_label(e["spec"], data["reference"]["spec"]) for e in data["variants"]]
    panels = [(title, [v["summary"].get(key) for v in data["variants"]]) for key, title in (
        ("cold_kl_ref_opt", "cold-start KL(ref‖variant), nats"), ("corpus_kld_mean", "corpus KLD mean, nats"),
        ("keyword_mean_abs_dlogp", "keyword |Δ log p| in code, nats"), ("pkp_rel_shift", "PKP relative shift"),
        ("language_mix_js", "language-mix JS, bits"), ("corpus_kld_p99", "corpus KLD p99, nats"))]
    sections = [{"id": "overview", "title": "Divergence from the reference", "lines": [], "tables": [],
                 "plots": [plot(study_plots.variant_metrics, labels, panels,
                                caption="each variant against the reference (log scale; n/a: not comparable)")]}]
    for anchor, title, value_of, diverging, what in LANGUAGE_VIEWS:
        languages, var_labels, matrix = per_language(data, value_of)
        if not languages:
            continue
        sections.append({"id": anchor, "title": title, "lines": [], "plots": [plot(
            study_plots.language_heatmap, languages, var_labels, matrix, UNITS[anchor], diverging, caption=what)],
            "tables": [table(["language", *var_labels], [[lang, *[matrix[j][i] for j in range(len(var_labels))]]
                                                         for i, lang in enumerate(languages)])]})
    agg_header, agg_rows = aggregates_table(data)
    sections.append({"id": "aggregates", "title": "Keyword mass at cold start", "plots": [],
                     "lines": ["Each model from its own start context; chain-rule probability of every keyword "
                               "spelling as the first text."], "tables": [table(agg_header, agg_rows)]})
    pass_header, pass_rows = pass_at_k_table(data)
    if pass_rows:
        sections.append({"id": "pass-at-k", "title": "pass@k", "lines": [], "plots": [],
                         "tables": [table(pass_header, pass_rows)]})
    sections.append({"id": "tokenizers", "title": "Tokenizers", "lines": [], "plots": [],
                     "tables": [table(h, r, caption) for caption, h, r in tokenizer_tables(data)]})
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
    return template_environment().get_template("study.html.j2").render(
        title=f"codeguard study — {headline(data)}", headline=headline(data), context=context_line(data),
        table=table(header, rows, failing=[False] * len(rows)),
        legend=[(h, what) for _, h, what in study_columns(data)], notes=not_applicable_notes(data),
        sections=sections, timings=table(*timings_table(data), caption="wall time per step"),
        details=table(["", ""], details, caption="run"),
        versions=table(["package", "version"], [[k, v or "-"] for k, v in data["versions"].items()],
                       caption="versions"),
        codeguard_version=data["codeguard_version"])
