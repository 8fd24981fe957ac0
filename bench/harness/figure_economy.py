"""Connection economy: per-user pools as AppKit makes them vs one shared pool.

N distinct users (10, 100, 1,000), each request three RLS-filtered queries,
driven by node (bench/connection_economy.mjs) against (a) one pg.Pool per
user (max 3, each logging in with the user's token over TLS) and (b) one
shared pg.Pool of at most 20 connections logged in as the app's service
principal, through @dbx-oauth/pg-identity (clients/node).  The figure runs
on its own cluster: (a) needs up to 3 connections per user, more than the
run's main cluster allows, and the service principal must be the
authenticator (dbx_oauth.authenticator_role), which no other figure wants.

The same driver runs from the TAP harness (bench/connection_economy.pl);
the chart is bench/connection_economy_chart.py's.  Registered in bench/run
under the key "economy".
"""
import json
import os
import shutil
import subprocess
import sys
import time

from .env import BenchError, Cluster, log
from .figure import Figure

KEY = "economy"
NUMBER = 9
TITLE = "Connection economy: per-user pools vs one shared pool"
SVG_NAME = "benchmarks-connection-economy.svg"

SP = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"   # the app's service principal
SHARED_MAX, PER_USER_MAX = 20, 3
LABEL = {"per-user": "(a) per-user pools", "shared": "(b) shared pool"}

HBA = """# connection economy: OAuth roles on trust (the dbx_oauth hook demands a token)
local   all  all                              trust
hostssl all  +dbx_oauth_users 127.0.0.1/32    trust
hostssl all  all              127.0.0.1/32    trust
"""


def _params(ctx):
    if ctx.p.smoke:
        return {"counts": [10], "requests": 200, "rounds": 1, "max_seconds": 10}
    return {"counts": [10, 100, 1000], "requests": 2000, "rounds": 2, "max_seconds": 180}


def _node_app(ctx, work):
    """The driver with pg and the client built from clients/node (its
    node_modules from scripts/build-node), linked, not installed: no registry."""
    src = os.path.join(ctx.root, "clients", "node")
    modules = os.path.join(src, "node_modules")
    if not os.path.isdir(os.path.join(modules, "pg")):
        raise BenchError("clients/node/node_modules is missing: run scripts/build-node")
    pkg, app = os.path.join(work, "pkg"), os.path.join(work, "app")
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns("node_modules", "dist", "*.tgz"))
    os.symlink(modules, os.path.join(pkg, "node_modules"))
    cp = subprocess.run(["node", os.path.join(modules, "typescript", "bin", "tsc"), "-p",
                         "tsconfig.json"], cwd=pkg, capture_output=True, text=True, timeout=300)
    if cp.returncode != 0:
        raise BenchError(f"clients/node does not build: {(cp.stdout + cp.stderr)[-1500:]}")
    os.makedirs(os.path.join(app, "node_modules", "@dbx-oauth"))
    os.symlink(os.path.join(modules, "pg"), os.path.join(app, "node_modules", "pg"))
    os.symlink(pkg, os.path.join(app, "node_modules", "@dbx-oauth", "pg-identity"))
    with open(os.path.join(app, "package.json"), "w") as f:
        f.write('{"name":"connection-economy","private":true,"type":"module"}\n')
    shutil.copy(os.path.join(ctx.root, "bench", "connection_economy.mjs"), app)
    return app


def _cluster(ctx, work, max_connections):
    conf = f"""shared_preload_libraries = 'dbx_oauth'
dbx_oauth.issuers = '{ctx.ws.issuer}'
dbx_oauth.ca_file = '{ctx.ws.ca_file}'
dbx_oauth.authenticator_role = '{SP}'
max_connections = {max_connections}
shared_buffers = 128MB
jit = off
autovacuum = off
fsync = off
synchronous_commit = off
log_statement = none
log_connections = off
log_disconnections = off
log_parameter_max_length = 0
"""
    base = os.path.join(work, "pg")
    ctx.user.make_dir(base)
    c = Cluster(ctx.user, ctx.procs, base, conf, HBA)
    c.psql("CREATE DATABASE bench", db="postgres")
    for _ in range(300):
        try:
            c.psql("CREATE EXTENSION IF NOT EXISTS dbx_oauth")
            if int(c.query("SELECT count(*) FROM dbx_oauth.keys")) > 0:
                return c
        except BenchError:
            pass
        time.sleep(0.1)
    raise BenchError("the economy cluster's worker did not load the workspace's keys in 30 s")


def _setup_sql(c, users):
    c.psql(f"""
SELECT dbx_oauth.create_role('{SP}', 'SERVICE_PRINCIPAL');
SELECT dbx_oauth.create_role(format('u%s@example.com', g), 'USER') FROM generate_series(1, {users}) g;
CREATE TABLE docs (id serial PRIMARY KEY, owner text NOT NULL, body text);
INSERT INTO docs (owner, body) SELECT format('u%s@example.com', g), format('doc-%s-%s', g, k)
FROM generate_series(1, {users}) g, generate_series(1, 3) k;
CREATE INDEX ON docs (owner);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
GRANT SELECT ON docs TO dbx_oauth_users;
ANALYZE docs;
""", timeout=600)


def _tokens(ctx, users, path):
    from dbxfake.keys import KeyStore
    from dbxfake.tokens import mint
    store = KeyStore(ctx.ws.key_dir)
    base = {"iss": ctx.ws.issuer, "aud": ctx.ws.workspace_id}
    tokens = {u: mint(store, dict(base, sub=u)) for u in users}
    sp_token = mint(store, dict(base, sub=SP, scope="all-apis"))
    with open(path, "w") as f:
        json.dump(tokens, f)
    os.chmod(path, 0o600)
    return sp_token


def _drive(ctx, app, config_path, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["DBX_BENCH_CONFIG"] = config_path
    # Not niced: the driver's CPU (a TLS handshake and a startup per login for
    # per-user pools) is part of what each way of pooling costs.
    cp = subprocess.run(["node", "connection_economy.mjs"], cwd=app, env=env,
                        capture_output=True, text=True, timeout=timeout)
    for line in cp.stderr.splitlines():
        if line.startswith("# "):
            log("economy " + line[2:])
    if cp.returncode != 0:
        raise BenchError(f"the economy driver failed ({cp.returncode}): {cp.stderr[-1500:]}")
    return json.loads(cp.stdout)


def _median_run(runs):
    """Per (users, mode): the run with the median requests/s, and the rounds' values."""
    out = {}
    for key in sorted({(r["users"], r["mode"]) for r in runs}):
        rs = sorted((r for r in runs if (r["users"], r["mode"]) == key),
                    key=lambda r: r["requests_per_s"])
        out[key] = (rs[(len(rs) - 1) // 2], rs)
    return out


def _fmt_int(v):
    return f"{v:,.0f}"


def _report_dir(ctx):
    """Where bench/run writes this run's markdown: the chart goes beside it."""
    argv = sys.argv[1:]
    if ctx.p.smoke:
        return os.path.join(ctx.root, "bench", "build", "smoke")
    if any(a == "--only" or a.startswith("--only=") for a in argv):
        return os.path.join(ctx.root, "bench", "build", "partial")
    return os.path.join(ctx.root, "docs")


def figure(ctx):
    p = _params(ctx)
    fig = Figure(KEY, NUMBER, TITLE, (
        f"N distinct users ({', '.join(f'{n:,}' for n in p['counts'])}), "
        f"{p['requests']:,} requests (at least 2 per user) in random user order, 50 in flight, "
        "from one node process (`bench/connection_economy.mjs`, not niced), each request three "
        "RLS-filtered queries on a table of 3 rows per user (policy "
        "`owner = (SELECT dbx_oauth.current_identity())`), capped at "
        f"{p['max_seconds']} s per run. **(a) per-user pools** as AppKit makes them: one "
        f"`pg.Pool` per user, `max: {PER_USER_MAX}`, `idleTimeoutMillis: 30000` (AppKit 0.38's "
        "per-user pool settings), logging in with the user's token over TLS; "
        "the three queries as three `pool.query` calls. **(b) one shared pool** of "
        f"`max: {SHARED_MAX}` logged in as the app's service principal with its token "
        "(`dbx_oauth.authenticator_role`), each request one transaction through "
        "`@dbx-oauth/pg-identity`: `BEGIN` + `set_token($1, true)` in one round trip, the three "
        "queries, `COMMIT` + the reset check in one round trip. Own cluster: PostgreSQL 15, "
        "`max_connections` = 3 × the largest N + 100. Server connections: peak count of the "
        "app's backends (sampled every 100 ms in a separate thread); memory: the largest sum of "
        "`Pss` from `/proc/<pid>/smaps_rollup` over those backends (every 5 s or more estimated "
        "from 64 backends picked at random, so the sweep does not take a core from the logins "
        "it measures, and exactly over all of them at the end of the run, while the pools "
        "still hold their connections); logins/s: the rise of `pg_stat_database.sessions` per second. "
        f"{p['rounds']} round{'s' if p['rounds'] != 1 else ''}; the table shows, per N and pool, the round with the median "
        "requests/s."))
    fig.chart = False
    if shutil.which("node") is None:
        fig.status = "not available: node (>= 20) is not installed"
        return fig
    if not os.path.isdir(os.path.join(ctx.root, "clients", "node", "node_modules", "pg")):
        fig.status = "not available: clients/node has no node_modules (run scripts/build-node)"
        return fig
    work = os.path.join(ctx.work, "economy")
    ctx.user.make_dir(work)
    max_users = max(p["counts"])
    max_connections = PER_USER_MAX * max_users + 100
    log(f"economy: node app, cluster (max_connections = {max_connections}), {max_users:,} roles")
    app = _node_app(ctx, work)
    c = _cluster(ctx, work, max_connections)
    try:
        _setup_sql(c, max_users)
        users = [f"u{i}@example.com" for i in range(1, max_users + 1)]
        tokens_path = os.path.join(work, "tokens.json")
        sp_token = _tokens(ctx, users, tokens_path)
        config = {
            "host": "127.0.0.1", "port": c.port, "database": "bench", "socketDir": c.sockdir,
            "superuser": ctx.user.name, "tokensFile": tokens_path,
            "authenticator": {"user": SP, "token": sp_token}, "users": users,
            "userCounts": p["counts"], "requests": p["requests"], "concurrency": 50,
            "maxSeconds": p["max_seconds"], "maxConnections": max_connections,
            "sharedMax": SHARED_MAX, "perUserMax": PER_USER_MAX,
        }
        config_path = os.path.join(work, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        runs = []
        for r in range(p["rounds"]):
            log(f"economy round {r + 1}/{p['rounds']}")
            out = _drive(ctx, app, config_path, timeout=1800)
            for x in out["results"]:
                x["round"] = r + 1
            runs += out["results"]
    finally:
        c.stop()
    _fill(fig, runs, p, max_connections)
    svg = _chart([m for m, _ in _median_run(runs).values()])
    fig.extra = dict(getattr(fig, "extra", {}), runs=runs, files={SVG_NAME: svg})
    out_dir = _report_dir(ctx)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, SVG_NAME), "w") as f:
        f.write(svg)
    return fig


def _chart(results):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import connection_economy_chart
    return connection_economy_chart.draw(results)


def _fill(fig, runs, p, max_connections):
    med = _median_run(runs)
    for n in p["counts"]:
        for mode in ("per-user", "shared"):
            if (n, mode) not in med:
                continue
            s = fig.add_series(f"rps_{mode}_{n}", f"{LABEL[mode]}, {n:,} users", "requests/s",
                               "higher", "subject" if mode == "shared" else "baseline")
            s.samples = [r["requests_per_s"] for r in med[(n, mode)][1]]
    rows = []
    for (n, mode), (r, _) in sorted(med.items(), key=lambda kv: (kv[0][0], kv[0][1] != "per-user")):
        done = _fmt_int(r["requests"])
        if r["requests"] + r["errors"] < max(p["requests"], 2 * n):
            done += f" of {_fmt_int(max(p['requests'], 2 * n))} ({p['max_seconds']} s cap)"
        if r["errors"]:
            done += f", {_fmt_int(r['errors'])} failed"
        rows.append([f"{n:,}", LABEL[mode], str(r["server_connections"]),
                     f"{r['backend_pss_mb']:,.1f} MB", _fmt_int(r["requests_per_s"]),
                     f"{r['p50_ms']:,.0f} ms", f"{r['p95_ms']:,.0f} ms",
                     _fmt_int(r["logins_per_s"]), done, str(r["cross_user_rows"]),
                     f"{r.get('loop_delay_p99_ms', 0):,.0f} ms"])
    fig.tables.append({"title": "Per number of users (the median round by requests/s)",
                       "header": ["users", "pool", "server connections",
                                  "backend memory (PSS)", "requests/s", "p50", "p95",
                                  "logins/s", "requests done", "cross-user rows",
                                  "driver event-loop delay p99"],
                       "rows": rows})
    cross = sum(r["cross_user_rows"] for r in runs)
    if cross:
        fig.status = f"failed: {cross} cross-user rows"
    fig.notes.append(f"![Server connections and backend memory by number of users]({SVG_NAME})")

    # (a) at the largest N where it completed every request without errors.
    complete = [n for n in p["counts"] if (n, "per-user") in med
                and not med[(n, "per-user")][0]["errors"]
                and med[(n, "per-user")][0]["requests"] >= max(p["requests"], 2 * n)]
    broke = [med[(n, "per-user")][0] for n in p["counts"]
             if (n, "per-user") in med and n not in complete]
    if broke:
        fig.notes.append("**Where (a) did not complete.** " + " ".join(
            f"At {r['users']:,} users: {r['requests']:,} of {max(p['requests'], 2 * r['users']):,} "
            f"requests within the {p['max_seconds']} s cap, {r['errors']:,} failed"
            + (f" (first error: `{r['broke']}`)" if r.get("broke") else "")
            + f"; {r['server_connections']} server connections at the peak "
            f"({max_connections} allowed), {r['logins_per_s']} logins/s." for r in broke))
    n_top = max(p["counts"])
    b_top = med.get((n_top, "shared"), (None,))[0]
    a_top = med.get((n_top, "per-user"), (None,))[0]
    if b_top is not None:
        fig.target(f"(b) at {n_top:,} users: ≤ {SHARED_MAX} server connections",
                   f"{b_top['server_connections']} connections",
                   b_top["server_connections"] <= SHARED_MAX)
    if complete and b_top is not None:
        n_a = max(complete)
        a, b = med[(n_a, "per-user")][0], med[(n_a, "shared")][0]
        ratio = a["backend_pss_mb"] / b["backend_pss_mb"] if b["backend_pss_mb"] else None
        fig.ratios.append({"label": f"backend memory (a) / (b) at {n_a:,} users "
                           f"(the largest N (a) completed)", "value": ratio, "text": None})
        why = None
        if ratio is not None and ratio < 10 and a["server_connections"] and b["server_connections"]:
            per_a = a["backend_pss_mb"] / a["server_connections"]
            per_b = b["backend_pss_mb"] / b["server_connections"]
            why = (f"Idle per-user backends are small: {per_a:.1f} MB PSS each against "
                   f"{per_b:.1f} MB for a busy shared-pool backend, so (a) uses 10× the memory of "
                   f"(b) only once it holds about {10 * b['backend_pss_mb'] / per_a:,.0f} "
                   f"backends; at {n_a:,} users it held {a['server_connections']}."
                   + (" The larger N did not complete within the cap (below): per-user pools "
                      "are bound by how fast the server and the driver can log users in."
                      if n_a < max(p["counts"]) else ""))
        fig.target(f"(b) ≥ 10× less backend memory than (a) at the largest N (a) completes "
                   f"({n_a:,} users)", ratio, ratio is not None and ratio >= 10, explanation=why)
    if a_top is not None and b_top is not None:
        ratio = b_top["requests_per_s"] / a_top["requests_per_s"] if a_top["requests_per_s"] else None
        fig.ratios.append({"label": f"requests/s (b) / (a) at {n_top:,} users", "value": ratio,
                           "text": None})
        fig.target(f"(b) throughput at {n_top:,} users ≥ (a)'s", ratio,
                   ratio is not None and ratio >= 1.0)
    for n in p["counts"]:
        if n == n_top or (n, "per-user") not in med or (n, "shared") not in med:
            continue
        a, b = med[(n, "per-user")][0], med[(n, "shared")][0]
        ratio = b["requests_per_s"] / a["requests_per_s"] if a["requests_per_s"] else None
        fig.ratios.append({"label": f"requests/s (b) / (a) at {n:,} users", "value": ratio,
                           "text": None})
    if runs:
        fig.notes.append("Requests/s of every run, per N and pool, in round order: " + "; ".join(
            f"{n:,} {LABEL[m]}: " + ", ".join(
                _fmt_int(r["requests_per_s"]) for r in sorted(rs, key=lambda r: r["round"]))
            for (n, m), (_, rs) in sorted(med.items())) + ".")
