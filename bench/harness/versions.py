"""Figure 2 (login) on the other tested PostgreSQL versions.

scripts/test tests 17 and 18 in Debian chroots (scripts/pg-chroot, cached
tarballs in /var/cache/dbx_oauth); the login figure runs in the same chroots:
bench/harness/chroot_login copies the tree, builds it in release mode
(objects kept in bench/build/chroot-pgVERSION between runs), installs it
privately (bind-mounted copies of the version's library and share
directories, gone with the chroot's mount namespace, so the shared extracted
root and a concurrent scripts/test are untouched) and runs `bench/run --inner
--only login`, which writes its figure as JSON into a directory bound from
here.  A chroot that is not cached is built first (mmdebstrap, minutes; the
time is reported); a version that cannot run is reported as failed, never
left out.
"""
import json
import os
import signal
import subprocess
import time

from .env import BenchError, log

# labels of figure 2's ratios -> columns of the per-version table
COLUMNS = [("token / trust (unix socket)", "token / trust, unix socket"),
           ("token / trust (TCP+SSL)", "token / trust, TCP+SSL"),
           ("token with 10,000 revocations / without (unix socket)",
            "10,000 revocations / none, unix socket"),
           ("token with 10,000 revocations / without (TCP+SSL)",
            "10,000 revocations / none, TCP+SSL")]
TARGET = 0.9  # the token / trust target of figure 2


def ratios_of(fig_json):
    return {r["label"]: r["value"] for r in fig_json.get("ratios", [])}


def run_group(argv, logfile, timeout):
    """Runs argv in its own process group; on timeout or interruption the
    whole group (the chroot's bench/run and the cluster it started) gets
    SIGTERM, so its own clean-up runs, then SIGKILL."""
    with open(logfile, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except BaseException:
            for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=wait)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
            raise


def login_in_chroot(ctx, version, build_dir):
    """Runs figure 2 in the chroot of `version`; returns (figure JSON, note)."""
    if os.geteuid() != 0:
        raise BenchError("the PostgreSQL chroots need root (scripts/pg-chroot)")
    pgc = os.path.join(ctx.root, "scripts", "pg-chroot")
    t0 = time.time()
    cp = subprocess.run([pgc, "build", version], capture_output=True, text=True, timeout=3600)
    if cp.returncode != 0:
        raise BenchError(f"scripts/pg-chroot build {version} failed: {cp.stderr.strip()[-300:]}")
    built = time.time() - t0
    notes = []
    if built > 10:
        notes.append(f"chroot tarball built by this run in {built / 60:.1f} min")
    out = os.path.join(ctx.work, f"pg{version}")
    os.makedirs(out)
    logfile = os.path.join(build_dir, f"chroot-pg{version}.log")
    objs = os.path.join(build_dir, f"chroot-pg{version}")
    os.makedirs(objs, exist_ok=True)
    argv = [pgc, "run", version, "--bind", f"{ctx.root}:/src:ro", "--bind", f"{objs}:/build",
            "--bind", f"{out}:/out", "--", "/src/bench/harness/chroot_login", version]
    if ctx.p.smoke:
        argv.append("--smoke")
    t0 = time.time()
    rc = run_group(argv, logfile, timeout=2400)
    took = time.time() - t0
    res = os.path.join(out, "results.json")
    if rc != 0 or not os.path.exists(res):
        with open(logfile) as f:
            tail = [l for l in f.read().splitlines() if l.strip()][-3:]
        raise BenchError(f"chroot run failed ({rc}), see {os.path.relpath(logfile, ctx.root)}: "
                         + " | ".join(tail)[:400])
    with open(res) as f:
        data = json.load(f)
    fig = data["figures"].get("login")
    if not fig:
        raise BenchError("the chroot run wrote no login figure")
    notes.append(f"build and measurement in the chroot took {took / 60:.1f} min")
    return data["meta"], fig, "; ".join(notes)


def add_versions(ctx, fig, versions, build_dir):
    """Adds the per-version table to figure 2 (fig.extra['versions'])."""
    rows = [{"version": "15", "where": "host", "status": fig.status,
             "ratios": ratios_of(fig.to_json()), "note": ""}]
    for v in versions:
        if v == "15":
            continue
        log(f"  login on PostgreSQL {v} (chroot)")
        try:
            meta, vfig, note = login_in_chroot(ctx, v, build_dir)
            rows.append({"version": v, "where": "chroot", "status": vfig["status"],
                         "ratios": ratios_of(vfig), "note": note,
                         "postgres": meta.get("postgres", "")})
            log(f"  PostgreSQL {v}: {vfig['status']}; {note}")
        except (BenchError, OSError, subprocess.SubprocessError, ValueError) as e:
            msg = str(e).splitlines()[0][:400] if str(e) else type(e).__name__
            rows.append({"version": v, "where": "chroot", "status": "failed: " + msg,
                         "ratios": {}, "note": ""})
            log(f"  PostgreSQL {v}: failed: {msg}")
    fig.extra["versions"] = rows
    return rows


def table(rows):
    """Markdown rows for the report: one line per version."""
    out = ["| PostgreSQL | " + " | ".join(c for _, c in COLUMNS) + " | token / trust ≥ "
           f"{TARGET}× on both | notes |", "|---|" + "---:|" * len(COLUMNS) + "---|---|"]
    for r in rows:
        if not r["status"].startswith("ok") and not r["ratios"]:
            out.append(f"| {r['version']} ({r['where']}) | " + " | ".join("–" for _ in COLUMNS)
                       + f" | – | {r['status']} |")
            continue
        vals = [r["ratios"].get(k) for k, _ in COLUMNS]
        cells = [f"{v:.2f}×" if v is not None else "–" for v in vals]
        both = [v for v in vals[:2] if v is not None]
        ok = len(both) == 2 and min(both) >= TARGET
        note = "; ".join(x for x in (r.get("postgres", ""), r.get("note", "")) if x)
        out.append(f"| {r['version']} ({r['where']}) | " + " | ".join(cells)
                   + f" | {'✅ yes' if ok else '❌ no'} | {note} |")
    return out
