#!/usr/bin/env python3
"""Turn one of nfsentry's markdown pages into a man page, so the two cannot drift.

    mkman.py NAME SECTION SUMMARY INPUT.md OUTPUT

The markdown is the subset the pages use: a "# " title (dropped; NAME comes from the
arguments), "## " and "### "/"#### " headings (.SH / .SS), paragraphs, "- " bullet
lists, fenced code blocks and tables. A table row whose first cell is `code` becomes a
tagged paragraph (.TP) with the code in bold and the other cells after it, labelled by
their column headings; other tables become one indented line per row.
"""
import re
import sys


def esc(text):
    """Roff-escape plain text and turn `code` and **bold** into bold."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # links: their text
    text = text.replace("-", "\\-")
    return text


def line_safe(text):
    """A roff text line must not start with . or '."""
    return "\\&" + text if text[:1] in (".", "'") else text


def cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    # A \| inside a cell is a literal bar.
    parts = re.split(r"(?<!\\)\|", row)
    return [p.strip().replace("\\|", "|") for p in parts]


def convert(name, section, summary, md):
    out = [
        f'.TH {name.upper()} {section} "" "nfsentry" "nfsentry manual"',
        ".SH NAME",
        f"{esc(name)} \\- {esc(summary)}",
        ".SH DESCRIPTION",
    ]
    lines = md.splitlines()
    i = 0
    para = []

    def flush():
        if para:
            out.append(".PP")
            out.append(line_safe(esc(" ".join(para))))
            para.clear()

    while i < len(lines):
        ln = lines[i]
        s = ln.strip()
        if s.startswith("```"):
            flush()
            out += [".PP", ".RS", ".nf"]
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                out.append(line_safe(lines[i].replace("\\", "\\e").replace("-", "\\-")))
                i += 1
            out += [".fi", ".RE"]
        elif s.startswith("# "):
            flush()
        elif s.startswith("## "):
            flush()
            out.append(".SH " + esc(s[3:].upper()))
        elif s.startswith("### ") or s.startswith("#### "):
            flush()
            out.append(".SS " + esc(s.lstrip("#").strip()))
        elif s.startswith("|"):
            flush()
            head = cells(s)
            i += 2  # the header and the --- line
            while i < len(lines) and lines[i].strip().startswith("|"):
                row = cells(lines[i])
                m = re.fullmatch(r"`([^`]+)`", row[0])
                if m:
                    out.append(".TP")
                    out.append(line_safe("\\fB" + esc(m.group(1)) + "\\fR"))
                    rest = [
                        (esc(h) + ": " if k < len(row) - 1 else "") + esc(c)
                        for k, (h, c) in enumerate(zip(head[1:], row[1:]), start=1)
                        if c
                    ]
                    out.append(line_safe("; ".join(rest[:-1]) + (". " if rest[:-1] else "") + (rest[-1] if rest else "")))
                else:
                    out.append(".IP \\(bu 2")
                    out.append(line_safe(" \\(em ".join(esc(c) for c in row if c)))
                i += 1
            continue
        elif s.startswith("- "):
            flush()
            item = [s[2:]]
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                item.append(lines[i].strip())
                i += 1
            out.append(".IP \\(bu 2")
            out.append(line_safe(esc(" ".join(item))))
            continue
        elif not s:
            flush()
        else:
            para.append(s)
        i += 1
    flush()
    return "\n".join(out) + "\n"


def main():
    name, section, summary, src, dst = sys.argv[1:6]
    with open(src, encoding="utf-8") as f:
        md = f.read()
    with open(dst, "w", encoding="utf-8") as f:
        f.write(convert(name, section, summary, md))


if __name__ == "__main__":
    main()
