#!/usr/bin/env python3
"""Checks executed notebooks against the committed ones (standard library only).

    check_outputs.py --committed-dir notebooks OUT/01_x.ipynb ...   the rerun check (run.sh)
    check_outputs.py --prose-only notebooks/01_x.ipynb ...          cited figures only

The rerun check fails, naming the notebook, the cell and the first differing line, when

* an executed notebook's outputs differ from the committed notebook's outputs once volatile bits
  are normalised (durations, throughput, loopback ports, temporary paths: see VOLATILE);
* a figure the prose cites is not among the notebook's outputs. A figure is cited by writing it
  in backticks in a markdown cell, exactly as a cell prints it: `0.474`, `2,246`, `22.5 %`;
* a notebook shows no table and no chart, or its `:dep` line for the kit differs from the
  others' (they share one compiled kit, polars included, only while those lines are identical; a
  notebook may add small dependencies of its own, as notebook 4 adds an HTTP client).

After an intended change, `bash notebooks/run.sh --update` rewrites the committed outputs and
then runs the figure check, which fails until the prose cites the new figures.
"""

import argparse
import html
import json
import re
import sys
from pathlib import Path

# (pattern, replacement): what may differ between two correct runs.
VOLATILE = [
    # durations: "0.07 s", "12 ms", "1.5 µs", "3.2s"
    (re.compile(r"\d+(?:\.\d+)? ?(?:s|ms|µs|us|ns)\b"), "<duration>"),
    # throughput: "147648 records/s", "35,458 req/s"
    (re.compile(r"\d[\d,]*(?:\.\d+)? ?(?:records|rows|req)/s\b"), "<rate>"),
    # loopback ports chosen at run time
    (re.compile(r"(127\.0\.0\.1|localhost|\[::1\]):\d+"), r"\1:<port>"),
    # temporary files and directories
    (re.compile(r"/tmp/[^\s\"'<>)]*"), "<tmp>"),
    # process ids
    (re.compile(r"\bpid \d+"), "pid <n>"),
]

FIGURE = re.compile(r"^[-+\u2212]?\d[\d,]*(?:\.\d+)?(?: ?%| ?x)?$")
BACKTICKED = re.compile(r"`([^`\n]+)`")
TAG = re.compile(r"<[^>]+>")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def text(value):
    return "".join(value) if isinstance(value, list) else (value or "")


def normalise(s):
    for pattern, replacement in VOLATILE:
        s = pattern.sub(replacement, s)
    return [line.rstrip() for line in s.splitlines()]


def code_cells(nb):
    return [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def cell_outputs(cell):
    """The outputs of a code cell as (label, normalised lines), streams merged per name."""
    streams = {}
    rich = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            streams[o.get("name", "stdout")] = streams.get(o.get("name", "stdout"), "") + text(o.get("text"))
        elif kind in ("execute_result", "display_data"):
            for mime in sorted(o.get("data", {})):
                rich.append((mime, normalise(text(o["data"][mime]))))
        elif kind == "error":
            rich.append(("error", normalise(f"{o.get('ename')}: {o.get('evalue')}")))
    return [(name, normalise(s)) for name, s in sorted(streams.items())] + rich


def output_text(nb):
    """Every output of a notebook as one plain text (HTML tags dropped, entities decoded)."""
    parts = []
    for _, cell in code_cells(nb):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(text(o.get("text")))
            for mime, value in o.get("data", {}).items():
                if mime in ("text/plain", "text/html", "text/markdown"):
                    parts.append(html.unescape(TAG.sub(" ", text(value))))
    return "\n".join(parts)


def first_line(cell):
    src = text(cell.get("source")).strip().splitlines()
    return (src[0][:60] + ("..." if len(src[0]) > 60 else "")) if src else "(empty)"


def compare(committed_path, executed_path, problems):
    committed, executed = load(committed_path), load(executed_path)
    a, b = code_cells(committed), code_cells(executed)
    if [text(c["source"]) for _, c in a] != [text(c["source"]) for _, c in b]:
        problems.append(f"{committed_path}: the executed copy has other code than the committed one")
        return
    for (index, cell), (_, ran) in zip(a, b):
        want, got = cell_outputs(cell), cell_outputs(ran)
        where = f"{committed_path}, cell {index} (`{first_line(cell)}`)"
        labels_want, labels_got = [w[0] for w in want], [g[0] for g in got]
        if labels_want != labels_got:
            problems.append(f"{where}: outputs {labels_got}, committed {labels_want}")
            continue
        for (label, lines_want), (_, lines_got) in zip(want, got):
            if lines_want == lines_got:
                continue
            for n in range(max(len(lines_want), len(lines_got))):
                w = lines_want[n] if n < len(lines_want) else "<no line>"
                g = lines_got[n] if n < len(lines_got) else "<no line>"
                if w != g:
                    # show where the lines part, not only their (possibly long, SVG) beginnings
                    k = next((i for i, (x, y) in enumerate(zip(w, g)) if x != y), min(len(w), len(g)))
                    start = max(0, k - 60)
                    cut = lambda s: ("..." if start else "") + s[start : start + 160]
                    problems.append(
                        f"{where}, {label} line {n + 1}, column {k + 1}:\n    committed: {cut(w)}\n    now:       {cut(g)}"
                    )
                    break


def check_prose(path, problems, name=None):
    """`name` is how problems refer to the notebook (the committed path for an executed copy)."""
    nb = load(path)
    name = name or path
    outputs = output_text(nb)
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for token in BACKTICKED.findall(text(cell["source"])):
            token = token.strip()
            if not FIGURE.match(token):
                continue
            number = re.match(r"^[-+\u2212]?\d[\d,]*(?:\.\d+)?", token).group(0)
            suffix = token[len(number):].strip()
            pattern = r"(?<![\w.])" + re.escape(number) + r"(?![\d])"
            if suffix:
                pattern += r" ?" + re.escape(suffix)
            if not re.search(pattern, outputs):
                problems.append(
                    f"{name}, markdown cell {index}: the prose cites `{token}`, which no output of the notebook shows"
                )


def check_shape(paths, problems):
    first_cells = {}
    for path in paths:
        nb = load(path)
        cells = code_cells(nb)
        if not cells:
            problems.append(f"{path}: no code cells")
            continue
        first = text(cells[0][1]["source"])
        if any(line.strip() and not line.strip().startswith((":", "//")) for line in first.splitlines()):
            problems.append(f"{path}: the first code cell must hold only evcxr commands (lines starting with ':')")
        first_cells[path] = first
        rich = [
            text(o.get("data", {}).get("text/html"))
            for _, c in cells
            for o in c.get("outputs", [])
        ]
        if not any("<table" in h or "<svg" in h or "<img" in h for h in rich):
            problems.append(f"{path}: shows no table and no chart")
    deps = {
        p: [l.strip() for l in s.splitlines() if l.strip().startswith(":dep anomaly-kit")]
        for p, s in first_cells.items()
    }
    if len({tuple(d) for d in deps.values()}) > 1 or any(len(d) != 1 for d in deps.values()):
        listing = "\n".join(f"    {p}: {d}" for p, d in deps.items())
        problems.append(
            f"the notebooks' :dep lines for the kit differ (they must be identical to share one build):\n{listing}"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--committed-dir", type=Path, help="compare with the notebooks of the same name here")
    mode.add_argument("--prose-only", action="store_true", help="only check the figures the prose cites")
    args = ap.parse_args()

    problems = []
    if args.committed_dir:
        for path in args.notebooks:
            compare(args.committed_dir / path.name, path, problems)
    for path in args.notebooks:
        check_prose(path, problems, args.committed_dir / path.name if args.committed_dir else path)
    check_shape(args.notebooks, problems)

    if problems:
        print(f"\n{len(problems)} problem(s) in the notebooks:", file=sys.stderr)
        for p in problems[:40]:
            print(f"  - {p}", file=sys.stderr)
        if len(problems) > 40:
            print(f"  ... and {len(problems) - 40} more", file=sys.stderr)
        print(
            "\nIf the change is intended: `bash notebooks/run.sh --update` rewrites the committed outputs;"
            "\nthen make the prose cite the new figures and commit the notebooks.",
            file=sys.stderr,
        )
        return 1
    print(f"[notebooks] {len(args.notebooks)} notebook(s): outputs and cited figures match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
