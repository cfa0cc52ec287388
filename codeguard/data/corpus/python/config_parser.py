#!/usr/bin/env python3
"""Parse a tiny INI-like configuration format and expose it on the command line.

Example input::

    # comments start with a hash
    [server]
    host = 127.0.0.1
    port = 8080
    debug = true

    [paths]
    data = ~/data/${server.host}
"""

import argparse
import json
import logging
import os
import re
import sys
from enum import Enum, auto
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

log = logging.getLogger(__name__)

_SECTION_RE = re.compile(r"^\[(?P<name>[A-Za-z0-9_.-]+)\]$")
_ASSIGN_RE = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*)\s*=\s*(?P<value>.*)$")
_REF_RE = re.compile(r"\$\{([^}]+)\}")


class TokenKind(Enum):
    SECTION = auto()
    ASSIGN = auto()
    COMMENT = auto()
    BLANK = auto()


class ConfigError(Exception):
    """Raised when the configuration text is malformed."""

    def __init__(self, message: str, line_no: int) -> None:
        super().__init__(f"line {line_no}: {message}")
        self.line_no = line_no


def tokenize(lines: Iterable[str]) -> Iterable[Tuple[TokenKind, int, Tuple[str, ...]]]:
    """Yield (kind, line number, captured groups) for every line."""
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            yield TokenKind.BLANK, number, ()
        elif line.startswith(("#", ";")):
            yield TokenKind.COMMENT, number, (line[1:].strip(),)
        elif (m := _SECTION_RE.match(line)) is not None:
            yield TokenKind.SECTION, number, (m.group("name"),)
        elif (m := _ASSIGN_RE.match(line)) is not None:
            yield TokenKind.ASSIGN, number, (m.group("key"), m.group("value"))
        else:
            raise ConfigError(f"cannot parse {line!r}", number)


def coerce(value: str) -> Any:
    """Turn a raw string into bool, int, float or leave it as text."""
    lowered = value.lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def parse(text: str) -> Dict[str, Dict[str, Any]]:
    sections: Dict[str, Dict[str, Any]] = {"default": {}}
    current = "default"
    for kind, number, groups in tokenize(text.splitlines()):
        match kind:
            case TokenKind.SECTION:
                current = groups[0]
                if current in sections and current != "default":
                    log.warning("section %s redefined on line %d", current, number)
                sections.setdefault(current, {})
            case TokenKind.ASSIGN:
                key, value = groups
                sections[current][key] = coerce(value)
            case TokenKind.COMMENT | TokenKind.BLANK:
                pass
    return resolve(sections)


def resolve(sections: Dict[str, Dict[str, Any]], max_depth: int = 8) -> Dict[str, Dict[str, Any]]:
    """Expand ${section.key} references, giving up after max_depth rounds."""

    def lookup(ref: str) -> str:
        section, _, key = ref.rpartition(".")
        try:
            return str(sections[section or "default"][key])
        except KeyError:
            return os.environ.get(ref, "")

    for _ in range(max_depth):
        changed = False
        for values in sections.values():
            for key, value in values.items():
                if isinstance(value, str) and "${" in value:
                    values[key] = _REF_RE.sub(lambda m: lookup(m.group(1)), value)
                    changed = True
        if not changed:
            break
    return sections


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cfg", description=__doc__.splitlines()[0])
    p.add_argument("path", type=Path, help="configuration file to read")
    p.add_argument("-g", "--get", metavar="SECTION.KEY", help="print a single value")
    p.add_argument("--json", action="store_true", help="dump everything as JSON")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv: List[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2))
    try:
        config = parse(args.path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"cfg: no such file: {args.path}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"cfg: {args.path}: {exc}", file=sys.stderr)
        return 1

    if args.get:
        section, _, key = args.get.rpartition(".")
        value = config.get(section or "default", {}).get(key)
        if value is None:
            return 1
        print(value)
    elif args.json:
        json.dump(config, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        for name, values in config.items():
            if not values:
                continue
            print(f"[{name}]")
            for key, value in sorted(values.items()):
                print(f"  {key:<16} = {value!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
