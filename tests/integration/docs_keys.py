#!/usr/bin/env python3
"""Every configuration key and environment override is documented, in docs/configuration.md
and in the man pages generated from it, so that neither can drift from the schema.

    docs_keys.py CONFIGKEYS CONFIGURATION_MD NFSENTRY_YAML_5 NFSENTRY_1

CONFIGKEYS is tools/configkeys (the schema's "key PATH" and "env VAR PATH" lines). A key is
documented in the markdown when a table row names it in full (`log.level`) or by its last part
under a heading that names its section (`min_packets` under #### `sites[].thresholds`); list
markers ([]) are ignored. In nfsentry.yaml.5 the same rows are tagged paragraphs in bold, so
the same rule is read from the roff. Every environment variable must be a row of
configuration.md and appear in bold in both man pages.
"""
import re
import subprocess
import sys


def norm(path):
    return path.replace("[]", "")


def md_keys(text):
    keys, section = set(), ""
    for line in text.splitlines():
        m = re.match(r"#{2,4} `([^`]+)`", line)
        if m:
            section = m.group(1)
            continue
        if re.match(r"#{1,4} ", line):
            section = ""
            continue
        m = re.match(r"\| `([^`]+)`", line)
        if m:
            keys.add(norm(m.group(1)))
            if section:
                keys.add(norm(section + "." + m.group(1)))
    return keys


def roff_keys(text):
    keys, section, tag_next = set(), "", False
    for line in text.splitlines():
        m = re.match(r"\.S[SH] \\fB(.+?)\\fR", line)
        if m:
            section = m.group(1).replace("\\-", "-").replace("\\e", "\\")
            continue
        if line.startswith(".S"):
            section = ""
            continue
        if line == ".TP":
            tag_next = True
            continue
        if tag_next:
            tag_next = False
            m = re.match(r"(?:\\&)?\\fB(.+?)\\fR", line)
            if m:
                k = m.group(1).replace("\\-", "-")
                keys.add(norm(k))
                if section:
                    keys.add(norm(section + "." + k))
    return keys


def main():
    configkeys, md_path, man5_path, man1_path = sys.argv[1:5]
    out = subprocess.run([configkeys], check=True, capture_output=True, text=True).stdout
    schema = [l.split()[1] for l in out.splitlines() if l.startswith("key ")]
    env = [l.split()[1] for l in out.splitlines() if l.startswith("env ")]
    md = open(md_path, encoding="utf-8").read()
    man5 = open(man5_path, encoding="utf-8").read()
    man1 = open(man1_path, encoding="utf-8").read()
    in_md, in_man5 = md_keys(md), roff_keys(man5)
    problems = []
    for k in schema:
        if norm(k) not in in_md:
            problems.append(f"{k}: missing from {md_path}")
        if norm(k) not in in_man5:
            problems.append(f"{k}: missing from {man5_path}")
    for v in env:
        if f"| `{v}` |" not in md:
            problems.append(f"{v}: no row in {md_path}")
        for name, page in ((man5_path, man5), (man1_path, man1)):
            if f"\\fB{v}\\fR" not in page:
                problems.append(f"{v}: missing from {name}")
    for p in problems:
        print("docs-keys: " + p)
    if not schema or not env:
        print("docs-keys: configkeys listed nothing")
        return 1
    print(f"docs-keys: {len(schema)} keys and {len(env)} environment variables checked, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
