#!/usr/bin/env python3
"""Executes notebooks in order with nbconvert's ExecutePreprocessor; stops at the first failure.

    execute.py --out DIR [--timeout SECONDS] NOTEBOOK...

Each notebook runs in a fresh kernel (the `rust` kernelspec: evcxr) with its own folder as the
working directory, as in JupyterLab, and the executed copy is written to DIR. When a cell fails
(a compile error, a panic, a failed assert), the copy executed so far is still written, and the
error is printed with the notebook, the cell and the first line of its code. (evcxr reports the
error's text on the output channel only, so it is read from the cell's outputs.)
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor


def failed_cell(nb):
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, cell, output
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        executor = ExecutePreprocessor(
            kernel_name="rust",
            timeout=args.timeout,
            startup_timeout=120,
            record_timing=False,
        )
        print(f"[notebooks] executing {path.name}", flush=True)
        started = time.monotonic()
        try:
            executor.preprocess(nb, {"metadata": {"path": str(path.parent.resolve())}})
        except CellExecutionError as e:
            nbformat.write(nb, args.out / path.name)
            found = failed_cell(nb)
            if found:
                index, cell, output = found
                source = cell.source.strip().splitlines()
                print(
                    f"\n[notebooks] FAILED: {path}, cell {index} (`{source[0] if source else ''}`):\n"
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n"
                    f"(the partly executed copy is {args.out / path.name})",
                    file=sys.stderr,
                )
            else:
                print(f"\n[notebooks] FAILED: {path}:\n{e}", file=sys.stderr)
            return 1
        nbformat.write(nb, args.out / path.name)
        print(f"[notebooks] {path.name} done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
