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

test('a failed COMMIT rejects with its error and destroys the connection; the pool recovers', async () => {
  const pool = appPool(1);
  const db = withUserIdentity(pool);
  const [alice] = cfg.users;
  // A deferred unique constraint fails at COMMIT, after the callback resolved.
  const e = await db.asUser(mint(alice)).transaction(async (client) => {
    await client.query('CREATE TEMP TABLE deferred_once (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)');
    await client.query('INSERT INTO deferred_once VALUES (1), (1)');
    return 'resolved';
  }).then(() => null, (err) => err);
  assert.ok(e, 'the request failed');
  assert.equal(e.code, '23505', 'the COMMIT error reaches the caller unchanged');
  assert.equal(pool.totalCount, 0, 'the client was destroyed: no reset check ran after the failed COMMIT');
  const r = await db.asUser(mint(alice)).query('SELECT dbx_oauth.current_identity() AS identity');
  assert.equal(r.rows[0].identity, alice, 'the next request works on a fresh connection');
  await pool.end();
});

test('round trips: BEGIN + set_token (+ the first query) in one, COMMIT + the reset check in one', async () => {
  const pool = appPool(1);
  const [, bob] = cfg.users;
  let calls = [];
  const spy = { connect: async () => { const c = await pool.connect(); const q = c.query.bind(c);
    c.query = (text, values) => {
      calls.push(typeof text === 'string' ? text : `[batch] ${text.text}${text.follows ? ` + ${text.follows}` : ''}`);
      return q(text, values); };
    const release = c.release;
    c.release = (err) => { delete c.query; c.release = release; release(err); };
    return c; } };
  const db = withUserIdentity(spy);
  // A callback without the context parameter: its first query rides with the switch.
  const r = await db.asUser(mint(bob)).transaction(async (client) => {
    const first = (await client.query('SELECT dbx_oauth.current_identity() AS identity')).rows[0].identity;
    const second = (await client.query('SELECT current_user AS usr')).rows[0].usr;
    return [first, second];
  });
  assert.deepEqual(r, [bob, bob]);
  assert.deepEqual(calls, [
    '[batch] SELECT dbx_oauth.set_token($1, true) AS identity + SELECT dbx_oauth.current_identity() AS identity',
    'SELECT current_user AS usr',
    'COMMIT; SELECT current_user = session_user AS clean',
  ]);
  // With the context parameter the identity is known before the callback runs.
  calls = [];
  const id = await db.asUser(mint(bob)).transaction(async (client, { identity }) => {
    await client.query('SELECT 1');
    return identity;
  });
  assert.equal(id, bob);
  assert.deepEqual(calls, [
    '[batch] SELECT dbx_oauth.set_token($1, true) AS identity',
    'SELECT 1',
    'COMMIT; SELECT current_user = session_user AS clean',
  ]);
  // A forged token: the error is the switch's (401), not the first query's.
  calls = [];
  const good = mint(bob);
  const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const e = await db.asUser(forged).transaction(async (client) => {
    await client.query('SELECT pg_sleep(0), 1 AS ran');
    return 'ran';
  }).then(() => null, (err) => err);
  assert.ok(e instanceof IdentityError && e.status === 401, `401, got ${e}`);
  // A callback that never queries still has its token checked.
  const e2 = await db.asUser(forged).transaction(async () => 'nothing').then(() => null, (err) => err);
  assert.ok(e2 instanceof IdentityError && e2.status === 401, `401 without a query, got ${e2}`);
  // The connection went back to the pool as the authenticator, outside any transaction.
  const again = await pool.query('SELECT current_user AS usr, now() = statement_timestamp() AS fresh_tx');
  assert.equal(again.rows[0].usr, cfg.authenticator.user);
  assert.equal(again.rows[0].fresh_tx, true, 'no transaction left open');
  await pool.end();
});
