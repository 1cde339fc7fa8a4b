#!/usr/bin/env python3
"""Fails when a locked dependency of a published crate needs a newer Rust than the workspace's.

The workspace declares its MSRV (`rust-version` in Cargo.toml). A dependency whose own
`rust-version` is above it would break every user on that toolchain, whatever our code does, so
each crate that the four published crates build (normal and build dependencies, for every target
and feature, as `Cargo.lock` pins them) is checked. Development dependencies are left out: users
never build them. Dependencies that declare no `rust-version` cannot be checked and are listed.
"""

import json
import subprocess
import sys

PUBLISHED = ["statsig-console", "statsig-console-codegen", "statsig-console-mock", "statsig-console-cli"]


def version_key(text):
    """`1.85` and `1.85.0` alike, as (major, minor, patch)."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {package["id"]: package for package in metadata["packages"]}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    workspace_msrv = None
    roots = []
    for package_id in metadata["workspace_members"]:
        package = packages[package_id]
        if package["name"] in PUBLISHED:
            roots.append(package_id)
            workspace_msrv = package.get("rust_version") or workspace_msrv
    if workspace_msrv is None:
        sys.exit("error: the workspace declares no rust-version")
    # Everything the published crates build, following normal and build edges only.
    seen, stack = set(), list(roots)
    while stack:
        package_id = stack.pop()
        if package_id in seen:
            continue
        seen.add(package_id)
        for dep in nodes[package_id]["deps"]:
            if any(kind["kind"] in (None, "build") for kind in dep["dep_kinds"]):
                stack.append(dep["pkg"])
    too_new, undeclared = [], []
    for package_id in sorted(seen, key=lambda pid: packages[pid]["name"]):
        package = packages[package_id]
        declared = package.get("rust_version")
        if declared is None:
            undeclared.append(f"{package['name']} {package['version']}")
        elif version_key(declared) > version_key(workspace_msrv):
            too_new.append(f"{package['name']} {package['version']} needs Rust {declared}")
    print(
        f"MSRV {workspace_msrv}: {len(seen)} crates built by the published crates, "
        f"{len(seen) - len(undeclared)} declare a rust-version"
    )
    if undeclared:
        print(f"declaring none ({len(undeclared)}): " + ", ".join(undeclared))
    if too_new:
        print(f"error: {len(too_new)} locked dependencies need a newer Rust than {workspace_msrv}:", file=sys.stderr)
        for line in too_new:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: no locked dependency needs a newer Rust than {workspace_msrv}")


if __name__ == "__main__":
    main()
