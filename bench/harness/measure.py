"""Running a workload several times and summarising it.

Every figure is a set of *series* (one per measured variant); each series
holds one sample per repetition.  Variants of one figure are interleaved
round by round (A B C, A B C, ...) so that a burst of load from other work on
the machine hits all of them alike, and results are reported as ratios
between series measured in the same run.
"""
import re
import statistics
import subprocess

from .env import BenchError


class Series:
    def __init__(self, key, label, unit, better, role="subject"):
        self.key, self.label, self.unit = key, label, unit
        self.better = better  # "higher" or "lower"
        self.role = role      # "subject" (dbx_oauth) or "baseline"
        self.samples = []
        self.note = None

    def add(self, value):
        self.samples.append(float(value))

    @property
    def median(self):
        return statistics.median(self.samples) if self.samples else None

    def to_json(self):
        return {"label": self.label, "unit": self.unit, "better": self.better,
                "role": self.role, "samples": self.samples, "median": self.median,
                "min": min(self.samples) if self.samples else None,
                "max": max(self.samples) if self.samples else None, "note": self.note}


def pgbench(env, script_path, seconds=None, transactions=None, clients=1, threads=1,
            connect_each=False, mode="simple", variables=None, timeout=None):
    """Runs pgbench with one custom script; returns a dict of its figures."""
    argv = ["pgbench", "-n", "-f", script_path, "-c", str(clients), "-j", str(threads),
            "-M", mode]
    if seconds is not None:
        argv += ["-T", str(seconds)]
    else:
        argv += ["-t", str(transactions)]
    if connect_each:
        argv.append("-C")
    for k, v in (variables or {}).items():
        argv += ["-D", f"{k}={v}"]
    limit = timeout or ((seconds or 60) * 3 + 60)
    cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=limit)
    out = cp.stdout + cp.stderr
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if cp.returncode != 0 or (failed and int(failed.group(1)) > 0):
        raise BenchError(f"pgbench failed ({cp.returncode}): "
                         + " | ".join(l for l in out.splitlines()
                                      if "error" in l.lower() or "fatal" in l.lower())[:1500])
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    tps = re.search(r"tps = ([\d.]+)", out)
    if not done or not lat:
        raise BenchError(f"cannot parse pgbench output: {out[-800:]}")
    n = int(done.group(1))
    res = {"transactions": n, "latency_ms": float(lat.group(1)),
           "tps": float(tps.group(1)) if tps else None}
    if seconds is not None:
        res["per_second"] = n / float(seconds)
    return res
