// Connection economy: N distinct users, each request three RLS-filtered
// queries, served (a) by per-user pools as AppKit makes them (one pg.Pool
// per user, max 3, each logging in with the user's token) and (b) by one
// shared pool of at most 20 connections through @dbx-oauth/pg-identity,
// logged in as the app's service principal.  Reports per N and mode:
// server connections (peak), backend memory (sum of PSS of the app's
// backends from /proc/<pid>/smaps_rollup, at the peak), requests/s,
// p50/p95 latency, logins/s the server did, cross-user rows, and where (a)
// broke.  Run by bench/connection_economy.pl (TAP cluster) and by
// bench/harness/figure_economy.py (bench/run), which make the cluster.
//
// The sampler (server connections, PSS) runs in a worker thread and sweeps
// PSS rarely, from a sample of the backends: reading /proc/<pid>/smaps_rollup is synchronous and costs the
// kernel a page-table walk per backend (0.3 s for 20 backends, 3.1 s for 154
// on the loaded CI machine), which the first version did in the main thread
// every 100 ms while timing requests.  Per-user pools log users in at about
// 20/s here: one new backend per user, each a TLS handshake and a fresh fork
// (figure 2: one pgbench client does ~32 token logins/s over TLS on this
// VM), with the driver and the already-open backends on the same 2 cores.
// The driver's event-loop delay is reported per run (loop_delay_p99_ms) so
// a driver that is itself the bottleneck shows; bench/run runs it un-niced
// (DBX_BENCH_NICE=0 does it here).
import { readFileSync } from 'node:fs';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

const cfg = isMainThread ? JSON.parse(readFileSync(process.env.DBX_BENCH_CONFIG, 'utf8')) : workerData;
const adminConfig = { host: cfg.socketDir, port: cfg.port, database: cfg.database, user: cfg.superuser };

async function appBackends(admin) {
  const r = await admin.query(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'
    AND pid <> pg_backend_pid() AND usename <> $1`, [cfg.superuser]);
  return r.rows.map((x) => x.pid);
}
function pssKb(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

/*
 * Sampler thread: the app's backends every 100 ms (peak count), and the sum
 * of their PSS at most every 5 s (estimated from a random sample, below)
 * plus once, exactly, when asked at the end of a run while every pool still
 * holds its connections; reports the largest sum seen.
 */
if (!isMainThread) {
  const admin = new pg.Client(adminConfig);
  await admin.connect();
  let sampling = true, peak = 0, peakPss = 0, peakEstimated = false, lastPss = 0, gapMs = 5000;
  let sweeps = 0, sweepMs = 0, final = false;
  parentPort.on('message', (m) => { if (m === 'final') final = true; else sampling = false; });
  /*
   * A periodic sweep reads at most PSS_SAMPLE backends, chosen at random,
   * and scales their sum to all of them: with ~1,000 backends a full sweep
   * took 4-5 s of kernel time, so sweeping everything every 5 s kept one of
   * the 2 cores busy and slowed the logins being measured.  The next sweep
   * waits 5x the last one's duration (at least 5 s).  The final sweep, at
   * the end of the run, reads every backend.
   */
  const PSS_SAMPLE = 64;
  const sweep = (pids, full) => {
    const t = performance.now();
    let read = pids;
    if (!full && pids.length > PSS_SAMPLE) {
      read = pids.slice();
      for (let i = 0; i < PSS_SAMPLE; i++) {
        const j = i + Math.floor(Math.random() * (read.length - i));
        [read[i], read[j]] = [read[j], read[i]];
      }
      read = read.slice(0, PSS_SAMPLE);
    }
    const kb = read.reduce((s, pid) => s + pssKb(pid), 0) * (pids.length / Math.max(1, read.length));
    const took = performance.now() - t;
    sweepMs = Math.max(sweepMs, took);
    gapMs = Math.max(5000, 5 * took);
    sweeps++;
    lastPss = performance.now();
    if (kb > peakPss) { peakPss = kb; peakEstimated = read.length < pids.length; }
  };
  while (sampling) {
    const pids = await appBackends(admin);
    if (pids.length > peak) peak = pids.length;
    if (final || performance.now() - lastPss >= gapMs) sweep(pids, final);
    if (final) { final = false; parentPort.postMessage('swept'); }
    await new Promise((r) => setTimeout(r, 100));
  }
  await admin.end();
  parentPort.postMessage({ peak, peakPss, peakEstimated, sweeps, sweepMs });
  process.exit(0);
}

const { withUserIdentity } = await import('@dbx-oauth/pg-identity');
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
/* Tokens: minted here with the cluster's key (TAP), or handed over in a file (bench/run). */
let mint;
if (cfg.tokensFile) {
  const given = JSON.parse(readFileSync(cfg.tokensFile, 'utf8'));
  mint = (sub) => given[sub];
} else {
  const state = JSON.parse(readFileSync(join(cfg.keysDir, 'state.json'), 'utf8'));
  const key = createPrivateKey(readFileSync(join(cfg.keysDir, state.keys.find((k) => k.kid === cfg.kid).file)));
  const [hdr, body] = cfg.template.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
  mint = (sub) => {
    const now = Math.floor(Date.now() / 1000);
    const data = `${b64(hdr)}.${b64({ ...body, sub, iat: now, exp: now + 3600, jti: randomUUID() })}`;
    return `${data}.${sign('sha256', Buffer.from(data), key).toString('base64url')}`;
  };
}

const ssl = { rejectUnauthorized: false };
/*
 * Pool settings as AppKit makes them (@databricks/appkit 0.38.1 from npm,
 * dist/plugins/lakebase/lakebase.js OBO_POOL_DEFAULTS, merged over
 * @databricks/lakebase 0.6.0 dist/config.js defaults): a per-user (OBO) pool
 * keeps an idle connection 30 s, not pg's default 10 s, so at 1,000 users
 * the server holds a backend for nearly every user who made a request in
 * the last 30 s.  The shared pool keeps lakebase's defaults except `max`.
 */
const LAKEBASE_POOL = { idleTimeoutMillis: 30000, connectionTimeoutMillis: 10000 };
const APPKIT_OBO_POOL = { ...LAKEBASE_POOL, allowExitOnIdle: true };
const base = { host: cfg.host, port: cfg.port, database: cfg.database, ssl };
const admin = new pg.Client(adminConfig);
await admin.connect();

async function sessions() {
  const r = await admin.query('SELECT sessions::bigint AS n FROM pg_stat_database WHERE datname = $1', [cfg.database]);
  return Number(r.rows[0].n);
}

const QUERIES = [
  'SELECT id, owner FROM docs ORDER BY id',
  'SELECT count(*)::int AS n, min(owner) AS owner FROM docs',
  "SELECT owner, body FROM docs WHERE body LIKE 'doc-%' ORDER BY id DESC LIMIT 2",
];
function crossRows(user, results) {
  let n = 0;
  for (const r of results) for (const row of r.rows) if (row.owner != null && row.owner !== user) n++;
  return n;
}

async function run(mode, n) {
  const users = cfg.users.slice(0, n);
  const tokens = new Map(users.map((u) => [u, mint(u)]));
  const total = Math.max(cfg.requests, n * 2);
  const order = Array.from({ length: total }, (_, i) => users[i % n]);
  for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }

  let pools = new Map();
  let shared = null;
  let request;
  if (mode === 'per-user') {
    request = async (user) => {
      let p = pools.get(user);
      if (!p) {
        p = new pg.Pool({ ...base, ...APPKIT_OBO_POOL, user, password: async () => tokens.get(user), max: cfg.perUserMax ?? 3 });
        p.on('error', () => {});
        pools.set(user, p);
      }
      const rs = [];
      for (const q of QUERIES) rs.push(await p.query(q));
      return rs;
    };
  } else {
    const pool = new pg.Pool({ ...base, ...LAKEBASE_POOL, user: cfg.authenticator.user, password: async () => cfg.authenticator.token, max: cfg.sharedMax ?? 20 });
    pool.on('error', () => {});
    shared = pool;
    const db = withUserIdentity(pool);
    request = (user) => db.asUser(tokens.get(user)).transaction(async (c) => {
      const rs = [];
      for (const q of QUERIES) rs.push(await c.query(q));
      return rs;
    });
  }

  let broke = null;
  const sampler = new Worker(new URL(import.meta.url), { workerData: cfg });
  const samplerMessage = () => new Promise((resolve, reject) => {
    sampler.once('message', resolve);
    sampler.once('error', reject);
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  const latencies = [];
  let cross = 0, errors = 0, next = 0;
  const s0 = await sessions();
  const t0 = performance.now();
  const deadline = t0 + cfg.maxSeconds * 1000;
  async function worker() {
    while (next < order.length && performance.now() < deadline) {
      const user = order[next++];
      const t = performance.now();
      try {
        cross += crossRows(user, await request(user));
        latencies.push(performance.now() - t);
      } catch (e) {
        errors++;
        if (!broke) broke = `${e.code ?? ''} ${e.message}`.trim();
      }
    }
  }
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const s1 = await sessions();
  loop.disable();
  /* one last PSS sweep while every pool still holds its connections */
  sampler.postMessage('final');
  await samplerMessage();
  sampler.postMessage('stop');
  const { peak, peakPss, peakEstimated, sweeps, sweepMs } = await samplerMessage();
  await Promise.all([...pools.values()].map((p) => p.end().catch(() => {})));
  if (shared) await shared.end();
  await new Promise((r) => setTimeout(r, 300));

  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null);
  return {
    mode, users: n, requests: latencies.length, errors, broke,
    server_connections: peak, backend_pss_mb: Math.round(peakPss / 102.4) / 10,
    requests_per_s: Math.round(latencies.length / seconds), p50_ms: Math.round(pct(0.5) * 10) / 10,
    p95_ms: Math.round(pct(0.95) * 10) / 10, logins_per_s: Math.round((s1 - s0) / seconds),
    logins: s1 - s0, cross_user_rows: cross, seconds: Math.round(seconds * 10) / 10,
    loop_delay_p99_ms: Math.round(loop.percentile(99) / 1e5) / 10,
    pss_sweeps: sweeps, pss_sweep_max_ms: Math.round(sweepMs), pss_peak_estimated: peakEstimated,
  };
}

const results = [];
for (const n of cfg.userCounts) {
  for (const mode of ['per-user', 'shared']) {
    const r = await run(mode, n);
    results.push(r);
    console.error(`# ${JSON.stringify(r)}`);
  }
}
await admin.end();
console.log(JSON.stringify({ max_connections: cfg.maxConnections, concurrency: cfg.concurrency,
  shared_max: cfg.sharedMax ?? 20, per_user_max: cfg.perUserMax ?? 3, results }));
