#!/usr/bin/env python3
"""Prints "<file>:<key>" for every project translation unit in BUILD/compile_commands.json.

The key is what clang-tidy's verdict on a file depends on: the clang-tidy config and version (GLOBAL), the
compile command (with the checkout's path taken out, so the cache works from any clone), the file, and every
project header it includes, taken from ninja's dependency log (`ninja -t deps`). A translation unit that
ninja has no record of (not built), or whose files changed after ninja recorded its includes (not rebuilt
since), falls back to all project headers, which is correct, only slower.
Usage: tidy_keys.py BUILD GLOBAL_KEY
"""
import hashlib
import json
import os
import subprocess
import sys


def main():
    build, global_key = sys.argv[1], sys.argv[2]
    root = os.getcwd()
    commands = {}  # a file compiled by several targets has several commands: all of them count
    for e in json.load(open(os.path.join(build, "compile_commands.json"))):
        f = os.path.relpath(os.path.join(e["directory"], e["file"]), root)
        if f.split("/")[0] in ("src", "test", "bench"):
            command = e.get("command", " ".join(e.get("arguments", []))).replace(root, "<root>")
            commands.setdefault(f, set()).add(command)

    deps = {}  # translation unit -> project files it reads
    recorded = {}  # translation unit -> when ninja recorded them (ns), the oldest over its objects
    try:
        out = subprocess.run(["ninja", "-C", build, "-t", "deps"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    current = None
    stamp = 0
    for line in out.splitlines():
        if not line.startswith(" "):
            current = None
            if "(VALID)" in line and "deps mtime " in line:
                current = []
                stamp = int(line.split("deps mtime ")[1].split()[0])
            continue
        if current is None:
            continue
        path = os.path.relpath(os.path.normpath(os.path.join(build, line.strip())), root)
        if path.startswith(".."):
            continue  # system header: part of the toolchain, covered by the clang-tidy version
        if not current:
            deps.setdefault(path, set())
            current.append(path)  # the first dependency is the source file
            recorded[path] = min(recorded.get(path, stamp), stamp)
        deps[current[0]].add(path)

    def outdated(files, since):
        # Edited after ninja recorded the includes (the build is not up to date): the set may have changed.
        for p in files:
            try:
                if os.stat(p).st_mtime_ns > since:
                    return True
            except OSError:
                return True
        return False

    all_headers = None
    for f in sorted(commands):
        files = deps.get(f)
        if files is not None and outdated(files, recorded[f]):
            files = None
        if files is None:
            if all_headers is None:
                listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.h"],
                                        capture_output=True, text=True, check=True).stdout.split()
                all_headers = set(listed)
            files = all_headers | {f}
        h = hashlib.sha256()
        h.update(global_key.encode())
        for command in sorted(commands[f]):
            h.update(command.encode() + b"\0")
        for p in sorted(files):
            h.update(p.encode() + b"\0")
            try:
                with open(p, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
            except OSError:
                h.update(b"missing")
        print(f"{f}:{h.hexdigest()[:32]}")


if __name__ == "__main__":
    main()
