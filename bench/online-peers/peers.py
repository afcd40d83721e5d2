#!/usr/bin/env python3
"""The Python peers of bench/online.sh: River's HalfSpaceTrees and rrcf, run on a stream.

    python peers.py --input FILE [--lib river|rrcf|all] [--records N] [--seed S]

Reads a CSV with a header. Columns named `timestamp`, or whose first value is not a number, are
skipped (NAB's `timestamp,value`); every other column is a feature. The rows are loaded first;
the timer covers only the streaming loop. Prints one JSON line per library:
{"library", "records", "seconds", "records_per_s", "checksum", "first_record_seconds"}: seconds
cover the whole loop from a fresh model (River builds its trees in the first learn_one, so
first_record_seconds is reported apart); checksum = the sum of the scores.

* river: `compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(...))`, as
  River's HalfSpaceTrees docs advise when the feature ranges are not known in advance (the
  scaler keeps a running min/max); n_trees=25, height=15, window_size=250 (the paper's
  settings; River's own defaults are 10 trees of height 8). Per record: score_one, then
  learn_one. Features are the raw columns (no shingle).
* rrcf: the streaming usage of rrcf's README: 50 `RCTree`s, tree size 256; per record each tree
  forgets its oldest point once it holds more than 256, inserts the new one, and the score is
  the mean collusive displacement (codisp) of that point over the trees (insert, then score).
  Univariate input is shingled with `rrcf.shingle(values, 8)` (the first 7 records only fill
  the shingle); multivariate rows are points as they are (shingle 1).
"""
import argparse
import csv
import json
import time
from importlib.metadata import version


def load(path, limit):
    """Returns (feature names, rows as lists of floats), at most `limit` rows."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        keep, rows = None, []
        for cells in reader:
            if limit is not None and len(rows) >= limit:
                break
            if not cells:
                continue
            if keep is None:
                keep = [i for i, c in enumerate(cells) if header[i].lower() != "timestamp" and _is_number(c)]
                if not keep:
                    raise SystemExit(f"{path}: no numeric column")
            rows.append([float(cells[i]) for i in keep])
    if not rows:
        raise SystemExit(f"{path}: no data rows")
    return [header[i] for i in keep], rows


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def run_river(names, rows, seed):
    from river import anomaly, compose, preprocessing

    model = compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=25, height=15, window_size=250, seed=seed),
    )
    stream = [dict(zip(names, row)) for row in rows]
    checksum, first = 0.0, None
    t0 = time.perf_counter()
    for x in stream:
        checksum += model.score_one(x)
        model.learn_one(x)  # the first call builds the trees
        if first is None:
            first = time.perf_counter() - t0
    return f"river {version('river')} HalfSpaceTrees", time.perf_counter() - t0, first, checksum


def run_rrcf(names, rows, seed):
    import numpy as np
    import rrcf

    num_trees, tree_size, shingle_size = 50, 256, (8 if len(names) == 1 else 1)
    forest = [rrcf.RCTree(random_state=seed + i) for i in range(num_trees)]
    if shingle_size > 1:
        points = [np.asarray(p) for p in rrcf.shingle([r[0] for r in rows], size=shingle_size)]
    else:
        points = [np.asarray(r) for r in rows]
    checksum, first = 0.0, None
    t0 = time.perf_counter()
    for index, point in enumerate(points):
        codisp = 0.0
        for tree in forest:
            if len(tree.leaves) > tree_size:
                tree.forget_point(index - tree_size)
            tree.insert_point(point, index=index)
            codisp += tree.codisp(index)
        checksum += codisp / num_trees
        if first is None:
            first = time.perf_counter() - t0
    return f"rrcf {version('rrcf')}", time.perf_counter() - t0, first, checksum


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--lib", choices=("river", "rrcf", "all"), default="all")
    ap.add_argument("--records", type=int, default=None, help="use at most the first N records")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    names, rows = load(args.input, args.records)
    for lib in ("river", "rrcf") if args.lib == "all" else (args.lib,):
        label, seconds, first, checksum = (run_river if lib == "river" else run_rrcf)(names, rows, args.seed)
        print(json.dumps({
            "library": label,
            "records": len(rows),
            "seconds": round(seconds, 6),
            "records_per_s": round(len(rows) / seconds, 1),
            "checksum": round(checksum, 6),
            "first_record_seconds": round(first, 6),
        }), flush=True)


if __name__ == "__main__":
    main()
