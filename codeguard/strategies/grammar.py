"""Small complete programs built from grammar pieces, rendered per language from one language-neutral tree.

A program is a few imports and functions whose bodies hold declarations, returns, calls, comments, `if`/`while`/
`for` blocks (nested up to `MAX_DEPTH`: deep indentation) and expressions over identifiers, integer and string
literals and operators. Every strategy lists its simplest alternative first and draws lists that may be empty,
so hypothesis shrinks towards one empty function: short, readable programs.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

from hypothesis import strategies as st

MAX_DEPTH = 4
CONSTRUCTS = ("declaration", "return", "call", "comment", "string", "if", "while", "for", "import", "nesting")

# Plain names first: hypothesis shrinks `sampled_from` towards the first element.
NAMES = ("x", "y", "n", "i", "count", "total", "value", "items", "result", "index", "buffer_size", "left",
         "right", "node", "key", "offset", "limit", "acc", "tmp", "data")
FUNCTION_NAMES = ("f", "compute", "update", "parse_line", "check", "run", "merge", "visit")
STRING_ALPHABET = string.ascii_letters + string.digits + " _-.,:;!?/()[]{}=+*#@%&<>"
COMMENT_ALPHABET = string.ascii_letters + string.digits + " _-.,:;!?()"
# Names that are types, literals or builtins somewhere in the grammars below, not registry keywords.
NOT_IDENTIFIERS = frozenset({"int", "char", "void", "true", "false", "null", "nil", "None", "True", "False", "self",
                             "this", "main", "string", "String", "i64", "usize", "number", "print", "printf",
                             "len", "range", "fmt", "std", "auto", "signed", "unsigned", "long", "short", "float",
                             "double", "bool", "byte", "rune", "static", "var", "let", "const", "mut", "pub"})


# --- the language-neutral tree -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Name:
    """An identifier."""
    name: str


@dataclass(frozen=True)
class Int:
    """An integer literal."""
    value: int


@dataclass(frozen=True)
class Str:
    """A string literal."""
    text: str


@dataclass(frozen=True)
class Bin:
    """A binary operation `left op right`."""
    op: str           # "+", "-", "*", "<", ">", "==", "!=", "<=", "and", "or"
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    """A call of a named function with arguments."""
    args: tuple       # printed with the language's print function


@dataclass(frozen=True)
class Decl:
    """A variable declaration with its initial value."""
    name: str
    value: object


@dataclass(frozen=True)
class Return:
    """A return statement."""
    value: object


@dataclass(frozen=True)
class Comment:
    """A line comment (its text is drawn from a plain alphabet, so every language can hold it)."""
    text: str


@dataclass(frozen=True)
class If:
    """An `if` with a body and an optional `else` body."""
    cond: object
    body: tuple
    orelse: tuple


@dataclass(frozen=True)
class While:
    """A `while` loop."""
    cond: object
    body: tuple


@dataclass(frozen=True)
class For:
    """A counting `for` loop over a range."""
    var: str
    bound: object
    body: tuple


@dataclass(frozen=True)
class Function:
    """A function: name, parameters, body."""
    name: str
    params: tuple
    body: tuple


@dataclass(frozen=True)
class Program:
    """A whole program: imports, then functions; what a renderer turns into one file of code."""
    imports: tuple    # indices into the language's import lines
    header_comment: str | None
    functions: tuple


# --- strategies over the tree ------------------------------------------------------------------------------------

def identifiers(reserved: frozenset[str]) -> st.SearchStrategy[str]:
    """Common names first, then generated snake_case names that are no keyword of the language."""
    generated = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
        lambda s: s not in reserved and s not in NOT_IDENTIFIERS and not s.endswith("_") and "__" not in s)
    return st.one_of(st.sampled_from([n for n in NAMES if n not in reserved]), generated)


def _leaf(names, allowed) -> st.SearchStrategy:
    leaves = [names.map(Name), st.integers(0, 10 ** 6).map(Int)]
    if "string" in allowed:
        leaves.append(st.text(STRING_ALPHABET, max_size=80).map(Str))
    return st.one_of(*leaves)


def expressions(names, allowed) -> st.SearchStrategy:
    """Expressions over identifiers and literals, simplest (a name) first."""
    ops = st.sampled_from(("+", "-", "*", "<", ">", "==", "!=", "<=", "and", "or"))
    return st.recursive(_leaf(names, allowed), lambda inner: st.builds(Bin, ops, inner, inner), max_leaves=4)


def conditions(names, allowed) -> st.SearchStrategy:
    """Comparisons usable as `if`/`while` conditions."""
    compare = st.sampled_from(("<", ">", "==", "!=", "<="))
    return st.builds(Bin, compare, names.map(Name), _leaf(names, allowed))


def statements(names, allowed: frozenset[str], depth: int = 0) -> st.SearchStrategy:
    """One statement of the constructs `allowed`, blocks nested up to MAX_DEPTH."""
    expr = expressions(names, allowed)
    simple = []
    if "declaration" in allowed:
        simple.append(st.builds(Decl, names, expr))
    if "return" in allowed:
        simple.append(st.builds(Return, expr))
    if "call" in allowed:
        simple.append(st.lists(expr, min_size=1, max_size=2).map(lambda a: Call(tuple(a))))
    if "comment" in allowed:
        simple.append(st.text(COMMENT_ALPHABET, max_size=60).map(lambda t: Comment(t.strip())))
    if not simple:
        simple.append(st.builds(Return, expr))
    max_depth = MAX_DEPTH if "nesting" in allowed else 1
    if depth >= max_depth:
        return st.one_of(*simple)
    body = st.deferred(lambda: blocks(names, allowed, depth + 1))
    nested = []
    if "if" in allowed:
        nested.append(st.builds(If, conditions(names, allowed), body, st.one_of(st.just(()), body)))
    if "while" in allowed:
        nested.append(st.builds(While, conditions(names, allowed), body))
    if "for" in allowed:
        nested.append(st.builds(For, names, st.one_of(st.integers(0, 100).map(Int), names.map(Name)), body))
    return st.one_of(*simple, *nested)


class _Named(st.SearchStrategy):
    """Draws from `inner` under a short name: the nested grammar's full repr grows exponentially with depth, and
    hypothesis computes reprs when it reports."""

    def __init__(self, inner: st.SearchStrategy, name: str):
        super().__init__()
        self.inner, self.name = inner, name

    def do_draw(self, data):
        return data.draw(self.inner)

    def __repr__(self) -> str:
        return self.name


def blocks(names, allowed, depth: int = 0) -> st.SearchStrategy[tuple]:
    """A (possibly empty) sequence of statements: a body."""
    inner = st.lists(statements(names, allowed, depth), max_size=4 if depth == 0 else 3).map(tuple)
    return _Named(inner, f"blocks(depth={depth})")


def program_trees(reserved: frozenset[str], allowed: frozenset[str], n_imports: int) -> st.SearchStrategy[Program]:
    names = identifiers(reserved)
    function = st.builds(Function, st.sampled_from(FUNCTION_NAMES), st.lists(names, max_size=3, unique=True).map(tuple),
                         blocks(names, allowed))
    imports = (st.lists(st.integers(0, n_imports - 1), max_size=2, unique=True).map(tuple)
               if "import" in allowed else st.just(()))
    header = st.none() | st.text(COMMENT_ALPHABET, min_size=1, max_size=60).map(str.strip) \
        if "comment" in allowed else st.none()
    return st.builds(Program, imports, header, st.lists(function, min_size=1, max_size=2).map(tuple))


# --- rendering -------------------------------------------------------------------------------------------------

class Renderer:
    """C-family rendering; languages override the pieces that differ."""

    indent = "    "
    comment = "//"
    and_or = {"and": "&&", "or": "||"}
    imports: tuple[str, ...] = ()

    def expr(self, e, top: bool = True) -> str:
        if isinstance(e, Name):
            return e.name
        if isinstance(e, Int):
            return str(e.value)
        if isinstance(e, Str):
            return '"' + e.text + '"'
        if isinstance(e, Bin):
            op = self.and_or.get(e.op, e.op)
            # Nested operations are parenthesised: no precedence surprises, no chained comparisons (Rust).
            text = f"{self.expr(e.left, False)} {op} {self.expr(e.right, False)}"
            return text if top else f"({text})"
        raise AssertionError(e)

    def line(self, depth: int, text: str) -> str:
        return self.indent * depth + text

    def stmt(self, s, depth: int) -> list[str]:
        if isinstance(s, Decl):
            return [self.line(depth, self.decl(s))]
        if isinstance(s, Return):
            return [self.line(depth, self.ret(s))]
        if isinstance(s, Call):
            return [self.line(depth, self.call(s))]
        if isinstance(s, Comment):
            return [self.line(depth, f"{self.comment} {s.text}".rstrip())]
        if isinstance(s, If):
            lines = [self.line(depth, self.if_head(s.cond))] + self.block(s.body, depth + 1)
            if s.orelse:
                lines += [self.line(depth, self.else_head())] + self.block(s.orelse, depth + 1)
            return lines + self.close(depth)
        if isinstance(s, While):
            return [self.line(depth, self.while_head(s.cond))] + self.block(s.body, depth + 1) + self.close(depth)
        if isinstance(s, For):
            return [self.line(depth, self.for_head(s))] + self.block(s.body, depth + 1) + self.close(depth)
        raise AssertionError(s)

    def block(self, body, depth: int) -> list[str]:
        return [line for s in body for line in self.stmt(s, depth)]

    def close(self, depth: int) -> list[str]:
        return [self.line(depth, "}")]

    def decl(self, s: Decl) -> str:
        return f"{self.type_of(s.value)} {s.name} = {self.expr(s.value)};"

    def type_of(self, e) -> str:
        return "int"

    def ret(self, s: Return) -> str:
        return f"return {self.expr(s.value)};"

    def call(self, s: Call) -> str:
        return f"{self.print_fn}({', '.join(self.expr(a) for a in s.args)});"

    print_fn = "print"

    def if_head(self, cond) -> str:
        return f"if ({self.expr(cond)}) {{"

    def else_head(self) -> str:
        return "} else {"

    def while_head(self, cond) -> str:
        return f"while ({self.expr(cond)}) {{"

    def for_head(self, s: For) -> str:
        return f"for (int {s.var} = 0; {s.var} < {self.expr(s.bound)}; {s.var}++) {{"

    def function(self, fn: Function, depth: int) -> list[str]:
        return [self.line(depth, self.signature(fn) + " {")] + self.block(fn.body, depth + 1) + self.close(depth)

    def signature(self, fn: Function) -> str:
        return f"int {fn.name}({', '.join('int ' + p for p in fn.params)})"

    def program(self, p: Program) -> str:
        lines = [f"{self.comment} {p.header_comment}"] if p.header_comment else []
        lines += [self.imports[i] for i in p.imports]
        lines += self.preamble()
        for fn in p.functions:
            if lines:
                lines.append("")
            lines += self.function(fn, self.function_depth)
        lines += self.postamble()
        return "\n".join(lines) + "\n"

    function_depth = 0

    def preamble(self) -> list[str]:
        return []

    def postamble(self) -> list[str]:
        return []


class Python(Renderer):
    """Python: indentation blocks, `def`, `import`."""
    comment = "#"
    and_or = {}
    imports = ("import os", "import sys", "from collections import deque", "import json")

    def close(self, depth):
        return []

    def block(self, body, depth):
        lines = super().block(body, depth)
        # A block of comments only is no block to Python
        return lines if any(not isinstance(s, Comment) for s in body) else lines + [self.line(depth, "pass")]

    def decl(self, s):
        return f"{s.name} = {self.expr(s.value)}"

    def ret(self, s):
        return f"return {self.expr(s.value)}"

    def call(self, s):
        return f"print({', '.join(self.expr(a) for a in s.args)})"

    def if_head(self, cond):
        return f"if {self.expr(cond)}:"

    def stmt(self, s, depth):
        if isinstance(s, If) and s.orelse:
            return ([self.line(depth, self.if_head(s.cond))] + self.block(s.body, depth + 1)
                    + [self.line(depth, "else:")] + self.block(s.orelse, depth + 1))
        return super().stmt(s, depth)

    def while_head(self, cond):
        return f"while {self.expr(cond)}:"

    def for_head(self, s):
        return f"for {s.var} in range({self.expr(s.bound)}):"

    def function(self, fn, depth):
        return [self.line(depth, f"def {fn.name}({', '.join(fn.params)}):")] + self.block(fn.body, depth + 1)


class JavaScript(Renderer):
    """JavaScript: `require`/ES imports, `function`, `let`, `console.log`."""
    indent = "  "
    imports = ('const fs = require("fs");', 'import path from "path";', 'const util = require("util");')

    def decl(self, s):
        return f"let {s.name} = {self.expr(s.value)};"

    print_fn = "console.log"

    def for_head(self, s):
        return f"for (let {s.var} = 0; {s.var} < {self.expr(s.bound)}; {s.var}++) {{"

    def signature(self, fn):
        return f"function {fn.name}({', '.join(fn.params)})"


class TypeScript(JavaScript):
    """TypeScript: JavaScript with type annotations on parameters and declarations."""
    imports = ('import * as fs from "fs";', 'import { join } from "path";')

    def decl(self, s):
        kind = "string" if isinstance(s.value, Str) else "number"
        return f"let {s.name}: {kind} = {self.expr(s.value)};"

    def signature(self, fn):
        return f"function {fn.name}({', '.join(p + ': number' for p in fn.params)}): number"


class Java(Renderer):
    """Java: imports, one `class Main` of `static int` methods, typed declarations, `System.out.println`."""
    imports = ("import java.util.List;", "import java.util.ArrayList;", "import java.io.IOException;")
    print_fn = "System.out.println"
    function_depth = 1

    def type_of(self, e):
        return "String" if isinstance(e, Str) else "int"

    def call(self, s):
        # println takes one argument: several are joined with +
        return f"System.out.println({' + '.join(self.expr(a, False) for a in s.args)});"

    def signature(self, fn):
        return f"static int {fn.name}({', '.join('int ' + p for p in fn.params)})"

    def program(self, p):
        lines = [f"// {p.header_comment}"] if p.header_comment else []
        lines += [self.imports[i] for i in p.imports]
        if lines:
            lines.append("")
        lines.append("class Main {")
        for k, fn in enumerate(p.functions):
            if k:
                lines.append("")
            lines += self.function(fn, 1)
        return "\n".join(lines + ["}"]) + "\n"


class C(Renderer):
    """C: `#include`s, `int` functions, typed declarations, `printf` output."""
    imports = ("#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>")
    print_fn = "printf"

    def type_of(self, e):
        return "const char *" if isinstance(e, Str) else "int"

    def decl(self, s):
        kind = self.type_of(s.value)
        return f"{kind}{'' if kind.endswith('*') else ' '}{s.name} = {self.expr(s.value)};"

    def for_head(self, s):
        return f"for (int {s.var} = 0; {s.var} < {self.expr(s.bound)}; {s.var}++) {{"


class Cpp(C):
    """C++: C with `<iostream>`/`<vector>` includes, `std::string` declarations and `std::cout` output."""
    imports = ("#include <iostream>", "#include <vector>", "#include <string>")

    def type_of(self, e):
        return "std::string" if isinstance(e, Str) else "int"

    def call(self, s):
        return "std::cout << " + " << ".join(self.expr(a, False) for a in s.args) + " << std::endl;"


class Go(Renderer):
    """Go: `package main`, imports, `func` with typed parameters, `:=` declarations, `fmt.Println`."""
    indent = "\t"
    imports = ('import "fmt"', 'import "strings"', 'import "os"')
    print_fn = "fmt.Println"

    def decl(self, s):
        return f"{s.name} := {self.expr(s.value)}"

    def ret(self, s):
        return f"return {self.expr(s.value)}"

    def call(self, s):
        return f"fmt.Println({', '.join(self.expr(a) for a in s.args)})"

    def if_head(self, cond):
        return f"if {self.expr(cond)} {{"

    def while_head(self, cond):
        return f"for {self.expr(cond)} {{"

    def for_head(self, s):
        return f"for {s.var} := 0; {s.var} < {self.expr(s.bound)}; {s.var}++ {{"

    def signature(self, fn):
        return f"func {fn.name}({', '.join(p + ' int' for p in fn.params)}) int"

    def program(self, p):
        lines = [f"// {p.header_comment}"] if p.header_comment else []
        lines += ["package main", ""]
        lines += [self.imports[i] for i in p.imports]
        for fn in p.functions:
            if lines[-1] != "":
                lines.append("")
            lines += self.function(fn, 0)
        return "\n".join(lines) + "\n"


class Rust(Renderer):
    """Rust: `use std::...`, `fn` with `i64` parameters, `let` declarations, ranges in `for`."""
    imports = ("use std::io;", "use std::collections::HashMap;", "use std::fmt;")

    def decl(self, s):
        return f"let {s.name} = {self.expr(s.value)};"

    def call(self, s):
        return 'println!("' + " ".join("{}" for _ in s.args) + '", ' + ", ".join(self.expr(a) for a in s.args) + ");"

    def if_head(self, cond):
        return f"if {self.expr(cond)} {{"

    def while_head(self, cond):
        return f"while {self.expr(cond)} {{"

    def for_head(self, s):
        return f"for {s.var} in 0..{self.expr(s.bound, False)} {{"

    def signature(self, fn):
        return f"fn {fn.name}({', '.join(p + ': i64' for p in fn.params)}) -> i64"


RENDERERS: dict[str, Renderer] = {"python": Python(), "javascript": JavaScript(), "typescript": TypeScript(),
                                  "java": Java(), "c": C(), "cpp": Cpp(), "go": Go(), "rust": Rust()}
