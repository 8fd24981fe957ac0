// Drizzle and Kysely inside a user's transaction: the ORM is bound to the
// client that transaction() hands out, so every statement it runs is part of
// the same BEGIN; set_token(...); ...; COMMIT and RLS sees the user.
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, integer, text } from 'drizzle-orm/pg-core';
import { asc } from 'drizzle-orm';
import { Kysely, PostgresDialect } from 'kysely';
import { withUserIdentity } from '@dbx-oauth/pg-identity';
import { servicePrincipalId, servicePrincipalToken } from './sp-token.mjs';

const pool = new pg.Pool({ user: servicePrincipalId, password: servicePrincipalToken, max: 4 });
const db = withUserIdentity(pool);

// Drizzle: drizzle(client) on the transaction's client.
const docs = pgTable('docs', { id: integer('id'), owner: text('owner'), body: text('body') });
export function drizzleAsUser(req, fn) {
  return db.asUser(req).transaction((client) => fn(drizzle(client)));
}

// Kysely: a dialect whose "pool" always hands out the transaction's client
// and whose release does nothing (transaction() releases it).
export function kyselyAsUser(req, fn) {
  return db.asUser(req).transaction((client) => {
    const single = { connect: async () => ({ query: (...a) => client.query(...a), release() {} }), end: async () => {} };
    return fn(new Kysely({ dialect: new PostgresDialect({ pool: single }) }));
  });
}

// Run as a script: both ORMs read the docs of the user whose token is in USER_TOKEN.
if (import.meta.url === `file://${process.argv[1]}`) {
  const req = { headers: { 'x-forwarded-access-token': process.env.USER_TOKEN } };
  const viaDrizzle = await drizzleAsUser(req, (d) => d.select({ body: docs.body }).from(docs).orderBy(asc(docs.id)));
  const viaKysely = await kyselyAsUser(req, (k) => k.selectFrom('docs').select('body').orderBy('id').execute());
  console.log(JSON.stringify({ drizzle: viaDrizzle.map((r) => r.body), kysely: viaKysely.map((r) => r.body) }));
  await pool.end();
}
