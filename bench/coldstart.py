#!/usr/bin/env python3
"""Cold start of a server: wall time from process start to the first 200 on a URL.

Usage: coldstart.py URL REPEATS -- COMMAND...   Prints the median in milliseconds (and each run).
Polls every millisecond from this process (no per-poll process spawn, unlike a curl loop).
"""
import statistics
import subprocess
import sys
import time
import urllib.request


def once(url, cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 60:
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return (time.perf_counter() - start) * 1000
            except OSError:
                pass
            if proc.poll() is not None:
                sys.exit(f"server exited with {proc.returncode} before answering")
            time.sleep(0.001)
        sys.exit("no 200 within 60 s")
    finally:
        proc.terminate()
        proc.wait()


def main():
    url, repeats = sys.argv[1], int(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    runs = [once(url, cmd) for _ in range(repeats)]
    print(f"{statistics.median(runs):.1f}", " ".join(f"{r:.1f}" for r in runs))


if __name__ == "__main__":
    main()
