#!/usr/bin/env python3
"""Prints which top-level module of src/ imports which, and exits 1 if the imports form a cycle.

A top-level module (src/NAME.rs or src/NAME/) depends on every module its code names through a
`crate::` path, grouped imports (`use crate::{a, b::C}`) included. A name the crate root
re-exports (`crate::Client`, `crate::types`) counts as the module that defines it, as src/lib.rs
says. Comments and test modules (`#[cfg(test)] mod tests`) are left out: a doc link or a test is
not an import. The generated client (`crate::generated`, include!d into src/lib.rs) imports
nothing from the facade.

No crate does this for one crate's modules (cargo-modules draws graphs for a person to read, and
needs a nightly-pinned rust-analyzer); the rule checked is small enough to state here in full.

Usage: python3 scripts/import-cycles.py [SRC_DIR]
"""

import pathlib
import re
import sys

SRC = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
PATH_START = re.compile(r"\bcrate::")


def code_of(text: str) -> str:
    """The text without comments and without its test module."""
    cut = text.find("#[cfg(test)]\nmod tests")
    if cut >= 0:
        text = text[:cut]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def first_segments(text: str, at: int) -> tuple[list[str], int]:
    """The first path segment of each path starting at text[at], which follows a `::`: one
    for a plain path, one per item for a brace group."""
    if text[at] != "{":
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[at:])
        return ([match.group(0)] if match else []), at
    depth, end = 0, at
    for end in range(at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            break
    items, depth, item = [], 0, ""
    for char in text[at + 1 : end]:
        if char == "," and depth == 0:
            items.append(item)
            item = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        item += char
    items.append(item)
    names = [re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", i) for i in items]
    return [n.group(1) for n in names if n and n.group(1) != "self"], end


def crate_paths(code: str) -> set[str]:
    names = set()
    for match in PATH_START.finditer(code):
        found, _ = first_segments(code, match.end())
        names.update(found)
    return names


def root_exports(lib: str) -> dict[str, set[str]]:
    """For each name src/lib.rs re-exports, the modules that define it."""
    exports: dict[str, set[str]] = {}
    code = code_of(lib)
    for match in re.finditer(r"pub use (?:crate::)?([a-z_][a-z0-9_]*)::", code):
        names, _ = first_segments(code, match.end())
        for name in names:
            exports.setdefault(name, set()).add(match.group(1))
    for match in re.finditer(r"pub mod ([a-z_][a-z0-9_]*) \{", code):
        end = code.index("\n}", match.end())
        modules = {
            m.group(1)
            for m in re.finditer(r"crate::([a-z_][a-z0-9_]*)", code[match.end() : end])
        }
        exports.setdefault(match.group(1), set()).update(modules)
    return exports


def module_edges() -> dict[str, set[str]]:
    modules = {
        path.stem
        for path in SRC.iterdir()
        if (path.suffix == ".rs" and path.stem != "lib") or (path / "mod.rs").is_file()
    }
    modules.add("generated")
    exports = root_exports((SRC / "lib.rs").read_text())
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for path in sorted(SRC.rglob("*.rs")):
        top = path.relative_to(SRC).parts[0].removesuffix(".rs")
        if top == "lib":
            continue
        for name in crate_paths(code_of(path.read_text())):
            targets = {name} if name in modules else exports.get(name, set())
            edges[top].update(target for target in targets if target != top)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> list[str] | None:
        state[module] = "open"
        for dependency in sorted(edges.get(module, ())):
            if state.get(dependency) == "open":
                return trail + [module, dependency]
            if dependency not in state:
                cycle = visit(dependency, trail + [module])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state:
            cycle = visit(module, [])
            if cycle:
                return cycle
    return None


def main() -> int:
    edges = module_edges()
    for module in sorted(edges):
        print(f"{module} -> {', '.join(sorted(edges[module])) or '(nothing)'}")
    cycle = find_cycle(edges)
    if cycle:
        print("import cycle: " + " -> ".join(cycle))
        return 1
    print("no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
