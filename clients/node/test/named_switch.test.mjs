// namedSwitch: the switch as a named prepared statement, parsed once per
// connection and then only bound (see helpers.mjs for the setup).  Direct
// connections keep named statements, so every case here is a supported one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { withUserIdentity, IdentityError } from '../dist/index.js';
import { cfg, mint, appPool } from './helpers.mjs';

const [alice, bob] = cfg.users;
const pool = appPool(1);   // one connection: every unit of work below shares it
const db = withUserIdentity(pool, { namedSwitch: true });
after(() => pool.end());

/* The session's copy of a named switch: text and how often it was executed. */
const preparedSwitch = (name) => `SELECT statement, generic_plans + custom_plans AS runs
  FROM pg_prepared_statements WHERE name = '${name}'`;
const whoAmI = 'SELECT current_user AS usr, dbx_oauth.current_identity() AS identity';

async function rejection(promise) {
  try { await promise; } catch (e) { return e; }
  assert.fail('expected a rejection');
}

test('named switch: parsed once on the connection, then executed once per unit of work, users alternating', async () => {
  const users = [alice, bob, alice, bob, bob, alice];
  for (const user of users) {
    const r = await db.asUser(mint(user)).query(whoAmI);   // the deferred path: switch rides with the query
    assert.deepEqual(r.rows[0], { usr: user, identity: user });
  }
  const seen = await db.asUser(mint(bob)).transaction(async (client, ctx) => {   // the context path
    const me = await client.query(whoAmI);
    const stmt = await client.query(preparedSwitch('dbx_oauth_set_token'));
    return { ctx: ctx.identity, me: me.rows[0], stmt: stmt.rows };
  });
  assert.equal(seen.ctx, bob);
  assert.deepEqual(seen.me, { usr: bob, identity: bob });
  assert.equal(seen.stmt.length, 1, 'one named switch statement on the connection');
  // the statement text holds $1, never a token
  assert.equal(seen.stmt[0].statement, 'SELECT dbx_oauth.set_token($1, true) AS identity');
  // every switch so far executed this one statement: it was not parsed again
  assert.equal(Number(seen.stmt[0].runs), users.length + 1);
});

test('named switch: a refused token fails closed (401) and the next switch on the connection still works', async () => {
  const good = mint(alice);
  const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  let ran = false;
  const e = await rejection(db.asUser(forged).transaction(async (client) => {
    ran = true;   // the callback runs; its first query must not
    return client.query(whoAmI);
  }));
  assert.ok(e instanceof IdentityError, String(e));
  assert.equal(e.status, 401);
  assert.ok(ran);
  // the failed switch left the statement's state unknown: Close and Parse again, no "already exists"
  for (const user of [bob, alice]) {
    const r = await db.asUser(mint(user)).query(whoAmI);
    assert.deepEqual(r.rows[0], { usr: user, identity: user });
  }
});

test('named switch: a statement the app deallocated is parsed again after one failed unit of work', async () => {
  await db.asUser(mint(alice)).transaction(async (client) => { await client.query('DEALLOCATE ALL'); });
  // the connection's record still says prepared: this switch fails (26000) without running anything as anyone
  const e = await rejection(db.asUser(mint(bob)).query(whoAmI));
  assert.equal(e.code, '26000', String(e));
  const r = await db.asUser(mint(bob)).query(whoAmI);
  assert.deepEqual(r.rows[0], { usr: bob, identity: bob });
});

test('named switch with asRole: its own statement, the group role', async () => {
  for (let i = 0; i < 2; i++) {
    const r = await db.asUser(mint(alice), { asRole: cfg.group }).query(whoAmI);
    assert.deepEqual(r.rows[0], { usr: cfg.group, identity: alice });
  }
  const stmt = await db.asUser(mint(alice)).query(preparedSwitch('dbx_oauth_set_token_as_role'));
  assert.equal(stmt.rows.length, 1);
  assert.equal(stmt.rows[0].statement, 'SELECT dbx_oauth.set_token($1, true, $2) AS identity');
});

test('without namedSwitch the switch stays unnamed: nothing is left prepared on the connection', async () => {
  const plainPool = appPool(1);
  try {
    const plain = withUserIdentity(plainPool);
    await plain.asUser(mint(alice)).query('SELECT 1');
    const r = await plain.asUser(mint(alice)).query('SELECT count(*)::int AS n FROM pg_prepared_statements');
    assert.equal(r.rows[0].n, 0);
  } finally {
    await plainPool.end();
  }
});
