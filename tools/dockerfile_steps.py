#!/usr/bin/env python3
"""Print the steps of a Dockerfile for tools/check-image, one per line, tab-separated.

    dockerfile_steps.py Dockerfile

Lines (fields separated by one tab; continuation lines are joined first):
    BUILDPKGS  pkg pkg ...          packages the first stage's apt-get install names
    BUILD      command              the first stage's RUN that runs "meson setup"
    BUILDDIR   dir                  the directory that RUN builds into
    then, for the final stage, in file order:
    RUN        command
    COPY       from  src  dst       from is "-" for the build context
    ENV        NAME  value
    USER       name
    WORKDIR    dir
    VOLUME     dir                  one line per directory
    EXPOSE     port/proto           one line per port
    HEALTHCHECK  json-array         the CMD of the health check
    ENTRYPOINT json-array
    CMD        json-array

Anything this does not understand (a shell-form ENTRYPOINT, ADD, ARG, several FROMs
beyond build + final, ...) is an error: the check must replay all of the final stage
or say it cannot.
"""
import json
import re
import shlex
import sys


def logical_lines(text):
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        out.append(" ".join(cur.split()))
        cur = ""
    if cur:
        out.append(" ".join(cur.split()))
    return out


def fail(msg):
    print("dockerfile_steps: " + msg, file=sys.stderr)
    sys.exit(2)


def apt_packages(cmd):
    m = re.search(r"apt-get install ([^&;|]*)", cmd)
    if not m:
        return []
    return [w for w in m.group(1).split() if not w.startswith("-")]


def json_array(arg, what):
    try:
        v = json.loads(arg)
    except ValueError:
        fail(f"{what} must be in exec (JSON array) form: {arg}")
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        fail(f"{what} must be a JSON array of strings: {arg}")
    return json.dumps(v)


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    stages = []
    for line in logical_lines(text):
        word, _, arg = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append([])
            continue
        if not stages:
            fail(f"instruction before FROM: {line}")
        stages[-1].append((word, arg))
    if len(stages) != 2:
        fail(f"expected a build stage and a final stage, found {len(stages)} stages")
    build, final = stages
    out = []
    pkgs = []
    for word, arg in build:
        if word == "RUN":
            pkgs += apt_packages(arg)
            if "meson setup" in arg:
                m = re.search(r"meson setup (\S+)", arg)
                out.append(("BUILD", arg))
                out.append(("BUILDDIR", m.group(1)))
    if not any(s[0] == "BUILD" for s in out):
        fail("the build stage has no RUN with meson setup")
    out.insert(0, ("BUILDPKGS", " ".join(pkgs)))
    for word, arg in final:
        if word == "RUN":
            out.append(("RUN", arg))
        elif word == "COPY":
            parts = arg.split()
            src_from = "-"
            if parts and parts[0].startswith("--from="):
                src_from = parts.pop(0)[len("--from="):]
            if len(parts) != 2 or any(p.startswith("--") for p in parts):
                fail(f"COPY with one source and one destination only: {arg}")
            out.append(("COPY", src_from, parts[0], parts[1]))
        elif word == "ENV":
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)", arg)
            if not m:
                fail(f"ENV NAME=value, one per line: {arg}")
            out.append(("ENV", m.group(1), m.group(2)))
        elif word in ("USER", "WORKDIR"):
            out.append((word, arg))
        elif word == "VOLUME":
            vols = json.loads(arg) if arg.startswith("[") else arg.split()
            for v in vols:
                out.append(("VOLUME", v))
        elif word == "EXPOSE":
            for p in arg.split():
                out.append(("EXPOSE", p if "/" in p else p + "/tcp"))
        elif word == "HEALTHCHECK":
            m = re.search(r"\bCMD (.*)$", arg)
            if not m:
                fail(f"HEALTHCHECK without CMD: {arg}")
            out.append(("HEALTHCHECK", json_array(m.group(1), "HEALTHCHECK CMD")))
        elif word in ("ENTRYPOINT", "CMD"):
            out.append((word, json_array(arg, word)))
        else:
            fail(f"the final stage has an instruction check-image cannot replay: {word}")
    for row in out:
        if any("\t" in f or "\n" in f for f in row):
            fail(f"a tab or newline in {row[0]}")
        print("\t".join(row))


if __name__ == "__main__":
    main()
