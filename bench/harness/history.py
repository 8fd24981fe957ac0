"""Earlier runs of the same code, for the report's run-to-run spread.

Each run writes its own results file (bench/results/<date>T<time>.json; smoke
and --only runs under bench/build/).  The report compares a run with every
run in the same directory that measured the same commit with no uncommitted
changes, up to and including itself: per target, the value in each run, the
min and max, and how many runs met it.  A run with uncommitted changes is
compared with nothing (what it measured is not a commit).
"""
import glob
import json
import os
import re


def load(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "meta" not in data or "figures" not in data:
        return None  # another tool's results (e.g. connection-economy-*.json)
    return data


def runs_like(json_path, meta):
    """[(meta, figures JSON)] of the runs of meta's commit, oldest first,
    ending with the run of json_path itself."""
    me = load(json_path)
    if me is None:
        return []
    if meta.get("dirty") or "uncommitted" in str(meta.get("commit", "")):
        return [(me["meta"], me["figures"])]
    runs = []
    for path in glob.glob(os.path.join(os.path.dirname(os.path.abspath(json_path)), "*.json")):
        data = load(path)
        if data is None or os.path.samefile(path, json_path):
            continue
        m = data["meta"]
        if (m.get("commit") == meta.get("commit") and not m.get("dirty")
                and m.get("smoke") == meta.get("smoke") and m.get("date", "") <= meta["date"]):
            runs.append((m, data["figures"]))
    runs.sort(key=lambda r: r[0].get("date", ""))
    return runs + [(me["meta"], me["figures"])]


def number(t):
    """The numeric value of a target (older results only have the text)."""
    if t.get("value") is not None:
        return t["value"]
    m = t.get("measured")
    if isinstance(m, (int, float)):
        return m
    if isinstance(m, str):
        x = re.search(r"[-+]?\d+(\.\d+)?", m)
        if x:
            v = float(x.group(0))
            return v / 100 if m.strip().endswith("%") else v
    return None


def spread(runs):
    """{target text: {"values": [...], "met": k, "runs": n}} over the runs."""
    out = {}
    for _, figs in runs:
        for fig in figs.values():
            for t in fig.get("targets", []):
                e = out.setdefault(t["text"], {"values": [], "met": 0, "runs": 0})
                e["values"].append(number(t))
                e["met"] += bool(t["met"])
                e["runs"] += 1
    return out


def version_spread(runs):
    """{(version, ratio label): [values]} of figure 2's per-version table."""
    out = {}
    for _, figs in runs:
        for row in figs.get("login", {}).get("extra", {}).get("versions", []):
            for label, v in row.get("ratios", {}).items():
                if v is not None:
                    out.setdefault((row["version"], label), []).append(v)
    return out
