// Identity never leaks across pooled connections, and a connection that
// cannot be reset is destroyed, not reused (see helpers.mjs for the setup).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { withUserIdentity, IdentityError } from '../dist/index.js';
import { cfg, mint, appPool, admin } from './helpers.mjs';

const adminClient = await admin();
after(() => adminClient.end());

async function appBackends() {
  const r = await adminClient.query(
    'SELECT pid FROM pg_stat_activity WHERE usename = $1 AND backend_type = $2 ORDER BY pid',
    [cfg.authenticator.user, 'client backend']);
  return r.rows.map((x) => x.pid);
}

test('1,000 interleaved requests of 200 users on a pool of 10: 0 cross-user rows', async () => {
  const users = cfg.many;
  assert.equal(users.length, 200);
  const tokens = new Map(users.map((u) => [u, mint(u)]));
  const pool = appPool(10);
  const db = withUserIdentity(pool);
  // 1,000 requests: every user 5 times, shuffled; every 40th carries a forged
  // token (25), every 25th of the rest fails after its switch (35: the
  // rollback path).
  const order = [];
  for (let round = 0; round < 5; round++) order.push(...users);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  let maxBackends = 0;
  const watcher = setInterval(async () => { maxBackends = Math.max(maxBackends, (await appBackends()).length); }, 20);
  const results = await Promise.all(order.map(async (user, i) => {
    const token = i % 40 === 39 ? tokens.get(user).slice(0, -6) + 'AAAAAA' : tokens.get(user);
    try {
      return await db.asUser(token).transaction(async (client, ctx) => {
        const r = await client.query('SELECT owner FROM docs');
        await new Promise((resolve) => setImmediate(resolve));   // let other requests interleave
        const again = await client.query('SELECT dbx_oauth.current_identity() AS identity, current_user AS usr');
        if (i % 25 === 24) await client.query('SELECT 1/0');
        return { user, kind: 'ok', ctx: ctx.identity, owners: r.rows.map((x) => x.owner), ...again.rows[0] };
      });
    } catch (e) {
      return { user, kind: e instanceof IdentityError ? `identity-${e.status}` : `error-${e.code}` };
    }
  }));
  clearInterval(watcher);
  await pool.end();

  const ok = results.filter((r) => r.kind === 'ok');
  const crossUserRows = ok.reduce((n, r) => n + r.owners.filter((o) => o !== r.user).length, 0);
  const wrongIdentity = ok.filter((r) => r.identity !== r.user || r.usr !== r.user || r.ctx !== r.user);
  const wrongCount = ok.filter((r) => r.owners.length !== cfg.rowsPerUser);
  const counts = {};
  for (const r of results) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  console.log(`# results ${JSON.stringify(counts)}; at most ${maxBackends} authenticator backends`);
  assert.equal(crossUserRows, 0, 'cross-user rows');
  assert.deepEqual(wrongIdentity, []);
  assert.deepEqual(wrongCount, []);
  assert.equal(counts['identity-401'], 25, 'forged tokens: 401');
  assert.equal(counts['error-22012'], 35, 'failures after the switch pass through unchanged');
  assert.equal(counts.ok, 1000 - 25 - 35);
  assert.ok(maxBackends <= 10, `at most 10 server connections (saw ${maxBackends})`);
});

test('a connection still switched after COMMIT is destroyed, not reused', async () => {
  const pool = appPool(1);
  const db = withUserIdentity(pool);
  const [alice] = cfg.users;
  const token = mint(alice);
  // The callback makes a session-level switch (is_local = false), which COMMIT does not end.
  const pid = await db.asUser(token).transaction(async (client) => {
    await client.query('SELECT dbx_oauth.set_token($1)', [token]);
    return (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  });
  assert.equal(pool.totalCount, 0, 'the client was destroyed');
  // The pool's next connection is a new backend, acting as the authenticator.
  const r = await pool.query('SELECT pg_backend_pid() AS pid, current_user AS usr, dbx_oauth.current_identity() AS identity');
  assert.notEqual(r.rows[0].pid, pid);
  assert.equal(r.rows[0].usr, cfg.authenticator.user);
  assert.equal(r.rows[0].identity, cfg.authenticator.user);
  await pool.end();
  const gone = await adminClient.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]);
  assert.equal(gone.rows[0].n, 0, 'the switched backend is gone');
});

test('a connection whose ROLLBACK fails is destroyed; the pool recovers', async () => {
  const pool = appPool(1);
  pool.on('error', () => {});   // the terminated idle client reports here
  const db = withUserIdentity(pool);
  const [, bob] = cfg.users;
  const e = await db.asUser(mint(bob)).transaction(async (client) => {
    const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await adminClient.query('SELECT pg_terminate_backend($1)', [pid]);
    await client.query('SELECT 1');
  }).then(() => null, (err) => err);
  assert.ok(e, 'the request failed');
  assert.equal(pool.totalCount, 0, 'the broken client was destroyed');
  const r = await db.asUser(mint(bob)).query('SELECT dbx_oauth.current_identity() AS identity');
  assert.equal(r.rows[0].identity, bob, 'the next request works on a fresh connection');
  await pool.end();
});
