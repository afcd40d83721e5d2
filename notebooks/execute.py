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
import queue
import sys
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionComplete
from nbclient.util import ensure_async
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor


class StragglerAwareExecutor(ExecutePreprocessor):
    """An ExecutePreprocessor that waits a moment for a cell's late output.

    evcxr can publish a cell's last stdout line after the cell's `idle` status (evcxr issue
    #353: its iopub thread races the shell reply); nbclient stops reading at `idle`, so the line
    was lost now and then and the rerun check reported a missing line. After `idle`, this keeps
    reading the same cell's messages for `GRACE` seconds.
    """

    GRACE = 0.25

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        deadline = time.monotonic() + self.GRACE
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=left))
            except queue.Empty:
                return
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass


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
        executor = StragglerAwareExecutor(
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
