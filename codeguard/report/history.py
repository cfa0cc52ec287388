"""The nightly history: every run's metrics and gate outcomes in one SQLite database (stdlib sqlite3).

Schema versions live in `PRAGMA user_version` and are applied in order by `MIGRATIONS`; `PRAGMA application_id`
marks the file as codeguard's, so another program's SQLite database is refused rather than altered. Several
writers at once (parallel CI jobs on a shared disk, two pytest processes) are safe: WAL journal, a busy timeout,
and each run written in one `BEGIN IMMEDIATE` transaction.

Tables (schema 1): `runs` (one row per run, with its whole results.json, zlib-compressed) and `measurements`
(one row per probe metric of a run: model pair, probe, metric, value, and the gate outcome where a gate checked
it). Non-finite values are stored as NULL in `value` and flagged in `non_finite`.
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

from codeguard.errors import ReportError
from codeguard.report.results import dumps, validate_results

APPLICATION_ID = 0x63677264  # "cgrd"
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 60_000

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            run_uuid TEXT NOT NULL UNIQUE,
            started TEXT,
            finished TEXT NOT NULL,
            codeguard_version TEXT NOT NULL,
            git_commit TEXT,
            git_dirty INTEGER,
            host TEXT,
            exit_status INTEGER,
            passed INTEGER NOT NULL,
            results BLOB NOT NULL
        );
        CREATE TABLE measurements (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            pair TEXT NOT NULL,
            ref_spec TEXT NOT NULL,
            opt_spec TEXT NOT NULL,
            opt_fingerprint TEXT,
            probe TEXT NOT NULL,
            metric TEXT NOT NULL,
            value REAL,
            non_finite TEXT,
            suite TEXT,
            gate_baseline REAL,
            gate_limit REAL,
            passed INTEGER
        );
        CREATE INDEX measurements_series ON measurements (pair, probe, metric, run_id);
    """),
]
LATEST = MIGRATIONS[-1][0]


def pair_slug(ref_spec: str, opt_spec: str) -> str:
    """'zoo:tiny-code' and 'zoo:tiny-code@fp16' -> 'zoo-tiny-code__zoo-tiny-code-fp16' (for --pair)."""
    def slug(spec):
        return re.sub(r"[^A-Za-z0-9._-]+", "-", spec).strip("-").lower() or "model"
    return f"{slug(ref_spec)}__{slug(opt_spec)}"


def _check_file(path: Path, must_exist: bool) -> None:
    if not path.exists():
        if must_exist:
            raise ReportError(f"history {path} does not exist; write one with pytest --codeguard-history {path}")
        return
    if path.is_dir():
        raise ReportError(f"history {path} is a folder; --codeguard-history takes a database file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise ReportError(f"cannot read history {path}: {error.strerror or error}") from None
    if header and header != SQLITE_HEADER:
        raise ReportError(f"history {path} is not an SQLite database; point --codeguard-history at a new file or an "
                          "existing codeguard history")


def _retrying(action, path: Path):
    """Runs a schema-level statement, waiting out another writer (journal-mode changes ignore busy_timeout)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return action()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error) or time.monotonic() > deadline:
                raise ReportError(f"history {path}: {error}") from None
            time.sleep(0.05)


@contextmanager
def open_history(path, create: bool = True):
    """A connection to a codeguard history, migrated to the latest schema (created when `create`)."""
    path = Path(path)
    _check_file(path, must_exist=not create)
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as error:
        raise ReportError(f"cannot open history {path}: {error}") from None
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retrying(lambda: connection.execute("PRAGMA journal_mode = WAL").fetchone(), path)
        connection.execute("PRAGMA foreign_keys = ON")
        _migrate(connection, path)
        yield connection
    except sqlite3.DatabaseError as error:
        raise ReportError(f"history {path}: {error}") from None
    finally:
        connection.close()


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if application_id == APPLICATION_ID and version == LATEST:
        return
    _retrying(lambda: connection.execute("BEGIN IMMEDIATE"), path)
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if application_id not in (0, APPLICATION_ID) or (application_id == 0 and tables):
            raise ReportError(f"history {path} is an SQLite database of another schema (application id "
                              f"{application_id:#x}, tables {', '.join(tables) or 'none'}), not a codeguard history; "
                              "use a new file")
        if version > LATEST:
            raise ReportError(f"history {path} has schema version {version}, written by a newer codeguard; this one "
                              f"reads up to version {LATEST}. Upgrade codeguard")
        for target, script in MIGRATIONS:
            if target > version:
                for statement in filter(str.strip, script.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {target}")
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _real(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _measurements(data: dict) -> list[tuple]:
    """One row per probe metric; the gate's outcome joined in where a gate checked that metric."""
    checked = {}
    for gate in data["gates"]:
        if gate.get("probe") is None:
            continue
        for check in gate["checks"]:
            checked[(gate["probe"], check["metric"])] = (gate["suite"], check)
    rows = []
    for index, probe in enumerate(data["probes"]):
        ref, opt = probe["ref"], probe["opt"]
        for metric, value in probe["gate_metrics"].items():
            suite, check = checked.get((index, metric), (None, None))
            rows.append((pair_slug(ref["spec"], opt["spec"]), ref["spec"], opt["spec"], opt.get("fingerprint"),
                         probe["probe"], metric, _real(value),
                         None if _real(value) is not None or value is None else str(value), suite,
                         _real(check["baseline"]) if check else None, _real(check["limit"]) if check else None,
                         None if check is None else int(bool(check["passed"]))))
    return rows


def append_run(path, data: dict) -> int:
    """Stores a results document as one run (one transaction); returns its run number in the history."""
    validate_results(data, "results")
    run = data["run"]
    blob = zlib.compress(dumps(data).encode("utf-8"), 6)
    with open_history(path) as connection:
        def write():
            connection.execute("BEGIN IMMEDIATE")
            try:
                cursor = connection.execute(
                    "INSERT INTO runs (run_uuid, started, finished, codeguard_version, git_commit, git_dirty, host, "
                    "exit_status, passed, results) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run["id"], run.get("started"), run.get("finished") or "", data["codeguard_version"],
                     (run.get("git") or {}).get("commit"), int(bool((run.get("git") or {}).get("dirty"))),
                     (run.get("machine") or {}).get("host"), run.get("exit_status"), int(data["summary"]["passed"]),
                     blob))
                run_id = cursor.lastrowid
                connection.executemany(
                    "INSERT INTO measurements (run_id, pair, ref_spec, opt_spec, opt_fingerprint, probe, metric, "
                    "value, non_finite, suite, gate_baseline, gate_limit, passed) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, *row) for row in _measurements(data)])
                connection.execute("COMMIT")
                return run_id
            except sqlite3.IntegrityError:
                connection.execute("ROLLBACK")
                raise ReportError(f"history {path} already holds run {run['id']}; a run is appended once") from None
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return _retrying(write, Path(path))


def read_history(path, pair: str | None = None) -> dict:
    """Every run and, per model pair and metric, its series in run order (the input of the trend reports)."""
    with open_history(path, create=False) as connection:
        runs = [dict(zip(("id", "run_uuid", "started", "finished", "codeguard_version", "git_commit", "git_dirty",
                          "host", "exit_status", "passed"), row))
                for row in connection.execute("SELECT id, run_uuid, started, finished, codeguard_version, git_commit, "
                                              "git_dirty, host, exit_status, passed FROM runs ORDER BY finished, id")]
        query = ("SELECT m.pair, m.ref_spec, m.opt_spec, m.opt_fingerprint, m.probe, m.metric, m.value, "
                 "m.non_finite, m.suite, m.gate_baseline, m.gate_limit, m.passed, r.id, r.finished, r.git_commit "
                 "FROM measurements m JOIN runs r ON r.id = m.run_id")
        rows = connection.execute(query + (" WHERE m.pair = ?" if pair else "") + " ORDER BY r.finished, r.id",
                                  (pair,) if pair else ()).fetchall()
    pairs: dict[str, dict] = {}
    for (slug, ref, opt, fingerprint, probe, metric, value, non_finite, suite, baseline, limit, passed, run_id,
         finished, commit) in rows:
        entry = pairs.setdefault(slug, {"ref": ref, "opt": opt, "metrics": {}})
        entry["metrics"].setdefault(f"{probe}/{metric}", []).append({
            "run": run_id, "finished": finished, "commit": commit, "opt_fingerprint": fingerprint,
            "value": float(non_finite) if non_finite else value, "suite": suite, "baseline": baseline,
            "limit": limit, "passed": None if passed is None else bool(passed)})
    if pair and pair not in pairs:
        raise ReportError(f"history {path} has no runs of model pair {pair!r}; it has "
                          f"{', '.join(known_pairs(path)) or 'none'}")
    return {"runs": runs, "pairs": pairs}


def known_pairs(path) -> list[str]:
    with open_history(path, create=False) as connection:
        return [row[0] for row in connection.execute("SELECT DISTINCT pair FROM measurements ORDER BY pair")]


def load_run_results(path, run_id: int) -> dict:
    """The whole results.json of one stored run (to re-render its report)."""
    with open_history(path, create=False) as connection:
        row = connection.execute("SELECT results FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise ReportError(f"history {path} has no run {run_id}")
    return json.loads(zlib.decompress(row[0]).decode("utf-8"))
