#!/usr/bin/env python3
"""Runs anomaly-kit, scikit-learn and isotree on the same .npz files and compares their speed.

Each measurement runs in a fresh process so its peak memory (ru_maxrss) is its own. Within a
process, for every library: one untimed warm-up fit+score, then `repeats` fits (seeds
1..repeats for the peers, 0..repeats-1 for ours) on the one loaded array; the median fit time and
the median time to score every row are reported. Ours runs `anomaly-kit benchmark`, once per
scoring layout this CPU can run (`ANOMALY_KIT_LAYOUT`); a layout the CPU lacks is reported as
skipped, with the kit's own reason.

A shared machine's speed drifts over minutes, so the measurements of one data set are taken in
`rounds` rounds, each running every (threads, library) once, and the table reports the median
over rounds: a slow minute then slows every library and thread count alike instead of one.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADBENCH = HERE.parent.parent / "shared" / "datasets" / "adbench"
PEERS = ("sklearn", "isotree")
LAYOUTS = ("portable", "avx2", "avx512")


def worker(lib: str, path: str, threads: int, repeats: int) -> None:
    import numpy as np

    data = np.load(path)
    x = np.ascontiguousarray(data["X"], dtype=np.float64)
    fits, scores = [], []
    for seed in range(repeats + 1):
        if lib == "sklearn":
            from sklearn.ensemble import IsolationForest

            model = IsolationForest(n_estimators=100, max_samples=256, n_jobs=threads, random_state=seed)
            t0 = time.perf_counter()
            model.fit(x)
            t1 = time.perf_counter()
            model.score_samples(x)
            t2 = time.perf_counter()
        else:
            from isotree import IsolationForest

            model = IsolationForest(ndim=1, sample_size=256, ntrees=100, missing_action="fail", nthreads=threads, random_seed=seed)
            t0 = time.perf_counter()
            model.fit(x)
            t1 = time.perf_counter()
            model.predict(x)
            t2 = time.perf_counter()
        if seed > 0:
            fits.append(t1 - t0)
            scores.append(t2 - t1)
    print(json.dumps({"fit_seconds": statistics.median(fits), "score_seconds": statistics.median(scores), "rows": len(x), "features": x.shape[1]}))


def run_measured(cmd, env):
    """Runs cmd, returns (its stdout, its peak RSS in MiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err}")
    return out, usage.ru_maxrss / 1024.0


def cpu_model():
    """The CPU, as far as Linux tells: model name, family/model numbers (a VM may only say
    "AMD EPYC"), and which of the vector extensions our layouts use it has."""
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.machine()
    flags = set(info.get("flags", "").split())
    name = info.get("model name", platform.machine())
    has = lambda *f: "yes" if all(x in flags for x in f) else "no"
    return (
        f"{name}, family {info.get('cpu family', '?')} model {info.get('model', '?')}, {platform.machine()}; "
        f"AVX2+BMI2 {has('avx2', 'bmi2')}, AVX-512 F+BW {has('avx512f', 'avx512bw')}"
    )


def kit_command(kit, path, threads, repeats):
    return [kit, "--threads", str(threads), "benchmark", "--input", str(path), "--seeds", str(repeats), "--trees", "100", "--max-samples", "256", "--json"]


def layouts_here(kit, path):
    """The layouts this CPU runs, and why each other one is skipped (the kit's own words)."""
    runs, skipped = [], {}
    for layout in LAYOUTS:
        proc = subprocess.run(kit_command(kit, path, 1, 1), env={**os.environ, "ANOMALY_KIT_LAYOUT": layout}, capture_output=True, text=True)
        if proc.returncode == 0:
            runs.append(layout)
        elif "cannot be used" in proc.stderr:
            skipped[layout] = proc.stderr.strip().splitlines()[-1].removeprefix("error: ")
        else:
            sys.exit(f"anomaly-kit with ANOMALY_KIT_LAYOUT={layout} failed:\n{proc.stderr}")
    return runs, skipped


def measure(lib, kit, path, threads, repeats):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if lib.startswith("anomaly-kit"):
        env["ANOMALY_KIT_LAYOUT"] = lib.split("/")[1]
        cmd = kit_command(kit, path, threads, repeats)
    else:
        cmd = [sys.executable, __file__, "worker", lib, str(path), str(threads), str(repeats)]
    out, peak_mib = run_measured(cmd, env)
    r = json.loads(out.strip().splitlines()[-1])
    return {
        "library": lib,
        "threads": threads,
        "fit_seconds": r["fit_seconds"],
        "score_seconds": r["score_seconds"],
        "rows_per_second": r["rows"] / r["score_seconds"],
        "peak_rss_mib": peak_mib,
        "rows": r["rows"],
        "features": r["features"],
        **({"scoring_layout": r["scoring_layout"]} if lib.startswith("anomaly-kit") else {}),
    }


def datasets(kit, quick, sizes=None):
    explicit = sizes is not None
    data_dir = HERE / "data"
    sizes = sizes or ((10_000, 100_000) if quick else (10_000, 100_000, 1_000_000))
    out = []
    for n in sizes:
        path = data_dir / f"gen_{n}.npz"
        if not path.exists():
            subprocess.run([kit, "generate", "--rows", str(n), "--anomalies", str(n // 20), "--format", "npz", "--out", str(data_dir), "--name", path.stem], check=True, stdout=subprocess.DEVNULL)
        out.append((path.stem, path))
    if not quick and not explicit:
        for name in ("10_cover", "16_http"):
            path = ADBENCH / f"{name}.npz"
            if path.exists():
                out.append((name, path))
            else:
                print(f"note: {path} not found, skipped", file=sys.stderr)
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kit", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--sizes", help="generated data sets only, these row counts (e.g. 1000000)")
    args = ap.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 3)
    threads = [int(t) for t in args.threads.split(",")]

    from importlib.metadata import version

    versions = ", ".join(f"{p} {version(p)}" for p in ("scikit-learn", "isotree", "numpy")) + f", Python {platform.python_version()}"
    results = []
    sets = datasets(args.kit, args.quick, [int(n) for n in args.sizes.split(",")] if args.sizes else None)
    layouts, skipped = layouts_here(args.kit, sets[0][1])
    ours = [f"anomaly-kit/{layout}" for layout in layouts]
    LIBS = ours + list(PEERS)
    for name, path in sets:
        runs = {}
        for round_ in range(rounds):
            for t in threads:
                for lib in LIBS:
                    r = measure(lib, args.kit, path, t, repeats)
                    runs.setdefault((t, lib), []).append(r)
                    print(f"  {name:<12} {lib:<12} threads {t} round {round_ + 1}/{rounds}: fit {r['fit_seconds'] * 1e3:8.1f} ms, score {r['score_seconds'] * 1e3:9.1f} ms, {r['rows_per_second']:>12,.0f} rows/s, peak {r['peak_rss_mib']:6.1f} MiB", file=sys.stderr)
        for t in threads:
            for lib in LIBS:
                rs = runs[(t, lib)]
                r = dict(rs[0])
                r["fit_seconds"] = statistics.median(q["fit_seconds"] for q in rs)
                r["score_seconds"] = statistics.median(q["score_seconds"] for q in rs)
                r["rows_per_second"] = r["rows"] / r["score_seconds"]
                r["peak_rss_mib"] = max(q["peak_rss_mib"] for q in rs)
                r["rounds"] = len(rs)
                r["data"] = name
                results.append(r)

    def is_ours(r):
        return r["library"].startswith("anomaly-kit")

    # ratios against the better reference, per dataset and thread count
    for r in results:
        if not is_ours(r):
            continue
        refs = [q for q in results if q["data"] == r["data"] and q["threads"] == r["threads"] and not is_ours(q)]
        best_score = max(refs, key=lambda q: q["rows_per_second"])
        best_fit = min(refs, key=lambda q: q["fit_seconds"])
        r["score_ratio_vs_best"] = r["rows_per_second"] / best_score["rows_per_second"]
        r["best_scoring_reference"] = best_score["library"]
        r["fit_ratio_vs_isotree"] = next(q["fit_seconds"] for q in refs if q["library"] == "isotree") / r["fit_seconds"]
        for q in refs:
            r[f"score_ratio_vs_{q['library']}"] = r["rows_per_second"] / q["rows_per_second"]
    for r in results:
        if is_ours(r) and r["threads"] == 2:
            one = next((q for q in results if q["library"] == r["library"] and q["data"] == r["data"] and q["threads"] == 1), None)
            if one:
                r["two_thread_speedup"] = r["rows_per_second"] / one["rows_per_second"]

    partial = args.quick or args.sizes or args.threads != "1,2"
    jsonl = HERE / ("speed-results-quick.jsonl" if partial else "speed-results.jsonl")
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in results))
    lines = [
        "# Isolation Forest speed: anomaly-kit beside scikit-learn and isotree",
        "",
        f"Made by `bash bench/speed.sh{''.join(' ' + a for a in sys.argv[3:])}` on {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores ({cpu_model()}); {versions}.",
        f"Our scoring layouts measured on this CPU: {', '.join(layouts)} (`ANOMALY_KIT_LAYOUT`; every layout gives the same scores, bit for bit)"
        + "".join(f"; {layout} skipped: {why}" for layout, why in skipped.items()) + ".",
        f"100 trees, 256 samples per tree; per process a warm-up fit+score, then the median of {repeats} fits and scorings on the one loaded array; the median over {rounds} interleaved round(s) of every library and thread count; scoring = every row of the data set",
        "(scikit-learn `score_samples`, isotree `predict`, ours `score_samples`). Peak memory is the whole process's.",
        "Ratios, on a peer's row: each of our layouts' scoring rows/s over that peer's; on our rows: isotree's fit time over ours (> 1 = we are faster).",
        "",
        f"| data | rows x features | threads | library | fit ms | score ms | scoring rows/s | peak MiB | ours ({' / '.join(layouts)}): scoring × | fit × isotree |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ours = [q for q in results if is_ours(q) and q["data"] == r["data"] and q["threads"] == r["threads"]]
        ratio = "" if is_ours(r) else " / ".join(f"{q['rows_per_second'] / r['rows_per_second']:.2f}" for q in ours)
        fit_ratio = f"{r['fit_ratio_vs_isotree']:.2f}" if is_ours(r) else ""
        lines.append(
            f"| {r['data']} | {r['rows']:,} x {r['features']} | {r['threads']} | {r['library']} | {r['fit_seconds'] * 1e3:.1f} | {r['score_seconds'] * 1e3:.1f} "
            f"| {r['rows_per_second']:,.0f} | {r['peak_rss_mib']:.0f} | {ratio} | {fit_ratio} |"
        )
    lines += ["", "Summary (ours):", ""]
    for r in results:
        if is_ours(r):
            extra = f", two threads {r['two_thread_speedup']:.2f}x one thread" if "two_thread_speedup" in r else ""
            lines.append(f"- {r['data']}, {r['threads']} thread(s), {r['library'].split('/')[1]}: scoring {r['score_ratio_vs_best']:.2f}x the better reference ({r['best_scoring_reference']}), fit {r['fit_ratio_vs_isotree']:.2f}x isotree's speed{extra}")
    md = HERE / ("speed-quick.md" if partial else "speed.md")
    md.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
