// @dbx-oauth/pg-identity against a real cluster (see helpers.mjs).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { withUserIdentity, IdentityError, identityErrorHandler } from '../dist/index.js';
import { cfg, mint, appPool, admin } from './helpers.mjs';

const [alice, bob] = cfg.users;
const pool = appPool(4);
const db = withUserIdentity(pool);
const adminClient = await admin();
after(async () => { await pool.end(); await adminClient.end(); });

const ownRows = 'SELECT current_user AS usr, dbx_oauth.current_identity() AS identity, array_agg(owner ORDER BY id) AS owners FROM docs';

async function rejection(promise) {
  try { await promise; } catch (e) { return e; }
  assert.fail('expected a rejection');
}

test('asUser(token).query runs as the user and RLS shows only her rows', async () => {
  const r = await db.asUser(mint(alice)).query(ownRows);
  assert.equal(r.rows[0].usr, alice);
  assert.equal(r.rows[0].identity, alice);
  assert.deepEqual(r.rows[0].owners, [alice, alice]);
});

test('asUser(req) reads x-forwarded-access-token from Express/node and fetch requests', async () => {
  const express = { headers: { 'x-forwarded-access-token': mint(bob), host: 'app' } };
  const r1 = await db.asUser(express).query(ownRows);
  assert.equal(r1.rows[0].identity, bob);
  const fetchReq = new Request('http://app/', { headers: { 'X-Forwarded-Access-Token': mint(alice) } });
  const r2 = await db.asUser(fetchReq).query(ownRows);
  assert.equal(r2.rows[0].identity, alice);
});

test('transaction(): several queries in one transaction as the user, with the identity', async () => {
  const out = await db.asUser(mint(alice)).transaction(async (client, ctx) => {
    const a = await client.query('SELECT count(*)::int AS n FROM docs');
    const b = await client.query('SELECT txid_current() AS x');
    const c = await client.query('SELECT txid_current() AS x, dbx_oauth.current_identity() AS identity');
    return { identity: ctx.identity, n: a.rows[0].n, sameTx: b.rows[0].x === c.rows[0].x, inside: c.rows[0].identity };
  });
  assert.deepEqual(out, { identity: alice, n: 2, sameTx: true, inside: alice });
});

test('a group role: asUser(token, { asRole })', async () => {
  const r = await db.asUser(mint(alice), { asRole: cfg.group }).query('SELECT current_user AS usr, dbx_oauth.current_identity() AS identity');
  assert.deepEqual(r.rows[0], { usr: cfg.group, identity: alice });
});

test('no token: IdentityError 401 NO_TOKEN, before any connection is taken', () => {
  for (const req of [{ headers: {} }, { headers: { 'x-forwarded-access-token': '  ' } }, new Request('http://app/')]) {
    assert.throws(() => db.asUser(req), (e) => e instanceof IdentityError && e.status === 401 && e.code === 'NO_TOKEN');
  }
  assert.throws(() => db.asUser(''), (e) => e instanceof IdentityError && e.status === 401);
});

test('forged, expired and foreign tokens: IdentityError 401 (28000); the message holds no token', async () => {
  const good = mint(alice);
  const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const expired = mint(alice, { iat: Math.floor(Date.now() / 1000) - 7200, lifetime: 3600 });
  const stranger = mint('nobody@example.com');   // valid signature, no role
  for (const token of [forged, expired, stranger]) {
    const e = await rejection(db.asUser(token).query('SELECT 1'));
    assert.ok(e instanceof IdentityError, String(e));
    assert.equal(e.status, 401);
    assert.equal(e.code, '28000');
    assert.ok(!e.message.includes(token) && !e.message.includes(token.split('.')[2]), 'no token in the message');
    assert.equal(e.cause.code, '28000');
  }
});

test('permission denied: IdentityError 403 (42501); other errors pass through unchanged', async () => {
  const e = await rejection(db.asUser(mint(alice)).query('SELECT * FROM secrets'));
  assert.ok(e instanceof IdentityError);
  assert.equal(e.status, 403);
  assert.equal(e.code, '42501');
  const z = await rejection(db.asUser(mint(alice)).query('SELECT 1/0'));
  assert.ok(!(z instanceof IdentityError));
  assert.equal(z.code, '22012');
});

test('identityErrorHandler answers IdentityError with its status and passes others on', () => {
  const handler = identityErrorHandler();
  const sent = {};
  const res = { status(s) { sent.status = s; return res; }, json(b) { sent.body = b; return res; } };
  handler(new IdentityError('token expired', 401, '28000'), {}, res, () => assert.fail('next called'));
  assert.deepEqual(sent, { status: 401, body: { error: 'token expired', code: '28000' } });
  let passed;
  handler(new Error('boom'), {}, res, (err) => { passed = err; });
  assert.equal(passed.message, 'boom');
});

test('the token is a bind parameter: the running statement text never contains it', async () => {
  const token = mint(bob);
  const seen = await db.asUser(token).query(`SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()`);
  assert.ok(!seen.rows[0].query.includes(token));
  const texts = [];
  const spy = { connect: async () => { const c = await pool.connect(); const q = c.query.bind(c);
    c.query = (text, values) => { texts.push(typeof text === 'string' ? text : text.text);
      if (typeof text !== 'string' && text.follows) texts.push(text.follows);
      return q(text, values); };
    const release = c.release;
    c.release = (err) => { delete c.query; c.release = release; release(err); };
    return c; } };
  await withUserIdentity(spy).asUser(token).query('SELECT 1');
  assert.ok(texts.length >= 3);
  assert.ok(texts.every((t) => !t.includes(token)), texts.join(' | '));
  assert.ok(texts.includes('SELECT dbx_oauth.set_token($1, true) AS identity'));
});
