// Real Node.js clients against dbx_oauth, run by test/t/032_node_clients.pl.
//
// 1. node `pg`: an OAuth user logs in over TCP+SSL with her token as the
//    password; a wrong token is refused.
// 2. The shared-pool pattern: one pg.Pool of the authenticator role for all
//    users; every request runs
//      BEGIN; SELECT dbx_oauth.set_token($1, true); ...; COMMIT
//    with the user's token as a bind parameter.
// 3. @databricks/lakebase: createLakebasePool with a password callback, and
//    (when DBX_WORKSPACE_URL is set) with an endpoint, so the library itself
//    fetches the token from the (fake) workspace's /api/2.0/postgres/credentials.
//
// Configuration comes from the environment (tokens never on the command
// line).  The script prints one JSON object of observations on stdout; the
// TAP test asserts on it.  It exits non-zero only if it could not run.
import pg from 'pg';
import { createLakebasePool } from '@databricks/lakebase';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`missing environment variable ${name}`);
  return v;
};

const host = env('DBX_HOST');
const port = Number(env('DBX_PORT'));
const database = env('DBX_DB');
const userA = env('DBX_USER_A');
const userB = env('DBX_USER_B');
const tokens = { [userA]: env('DBX_TOKEN_A'), [userB]: env('DBX_TOKEN_B') };
// The test server's certificate is self-signed for CN=127.0.0.1 (no IP SAN),
// so it is not verified here; production uses the platform CA.
const ssl = { rejectUnauthorized: false };
const out = {};

async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { code: e.code ?? null, message: String(e.message ?? e) };
  }
}

// --- 1. direct login with a token as the password ----------------------------
{
  const client = new pg.Client({ host, port, database, user: userA, password: tokens[userA], ssl });
  await client.connect();
  const r = await client.query(`
    SELECT current_user AS usr, dbx_oauth.current_identity() AS identity,
           dbx_oauth.current_identity_type() AS type,
           (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl,
           (SELECT count(*)::int FROM docs) AS rows,
           (SELECT bool_and(owner = $1) FROM docs) AS all_mine`, [userA]);
  out.direct = r.rows[0];
  out.direct_set_token = await errorOf(client.query('SELECT dbx_oauth.set_token($1, true)', [tokens[userB]]));
  await client.end();

  const bad = new pg.Client({ host, port, database, user: userA, password: tokens[userB], ssl });
  out.direct_wrong_token = await errorOf(bad.connect());
  await bad.end().catch(() => {});

  const nossl = new pg.Client({ host, port, database, user: userA, password: tokens[userA], ssl: false });
  out.direct_no_ssl = await errorOf(nossl.connect());
  await nossl.end().catch(() => {});
}

// --- 2. one shared pool for all users ----------------------------------------
const pool = new pg.Pool({
  host, port, database, ssl,
  user: env('DBX_AUTH_USER'),
  password: env('DBX_AUTH_PASSWORD'),
  max: 2,
});

// What an application does per request: the user's token travels as a bind
// parameter; the transaction ends the switch.
async function asUser(token, fn) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (token !== null) await client.query('SELECT dbx_oauth.set_token($1, true)', [token]);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

const seen = async (client) => (await client.query(`
  SELECT current_user AS usr, dbx_oauth.current_identity() AS identity,
         count(*)::int AS rows, bool_and(owner = dbx_oauth.current_identity()) AS all_mine,
         pg_backend_pid() AS pid
  FROM docs`)).rows[0];

{
  const requests = [];
  const plan = [];
  const rounds = Number(process.env.DBX_ROUNDS ?? 60);
  for (let i = 0; i < rounds; i++) {
    const who = [userA, userB, null][i % 3];
    plan.push(who ?? '-');
    requests.push(asUser(who === null ? null : tokens[who], seen));
  }
  const results = await Promise.all(requests);
  const summary = {};
  const pids = new Set();
  results.forEach((r, i) => {
    const s = (summary[plan[i]] ??= { n: 0, bad: [] });
    s.n++;
    pids.add(r.pid);
    const expectUser = plan[i] === '-' ? env('DBX_AUTH_USER') : plan[i];
    const expectIdentity = plan[i] === '-' ? null : plan[i];
    if (r.usr !== expectUser || r.identity !== expectIdentity || (plan[i] !== '-' && r.all_mine !== true)) s.bad.push(r);
    (s.rows ??= new Set()).add(r.rows);
  });
  for (const s of Object.values(summary)) s.rows = [...s.rows];
  out.pool = { summary, server_connections: pids.size };

  // A bad token: 28000 for this request, and the pooled connection is clean afterwards.
  out.pool_bad_token = await errorOf(asUser(env('DBX_BAD_TOKEN'), seen));
  out.pool_after_bad = await Promise.all([asUser(null, seen), asUser(null, seen)]);
  // An error after the switch: the rollback leaves no identity behind.
  out.pool_error_after_switch = await errorOf(asUser(tokens[userA], (c) => c.query('SELECT 1/0')));
  out.pool_after_error = await Promise.all([asUser(null, seen), asUser(null, seen)]);
}
await pool.end();

// --- 3. @databricks/lakebase ------------------------------------------------------
{
  let calls = 0;
  const lb = createLakebasePool({
    host, port, database, user: userB, max: 2, sslMode: 'prefer', telemetry: false,
    logger: { error: false },
    password: async () => { calls++; return tokens[userB]; },
  });
  const r = await lb.query('SELECT current_user AS usr, dbx_oauth.current_identity() AS identity, count(*)::int AS rows FROM docs');
  out.lakebase_password = { ...r.rows[0], callback_calls: calls };
  await lb.end();
}

if (process.env.DBX_WORKSPACE_URL) {
  // The library's own OAuth path: WorkspaceClient from the SDK's default auth
  // chain (DATABRICKS_HOST / DATABRICKS_TOKEN), POST /api/2.0/postgres/credentials,
  // token cached and used as the password.
  const lb = createLakebasePool({
    host, port, database, user: env('DBX_WORKSPACE_USER'), max: 2, sslMode: 'prefer',
    endpoint: 'projects/p-test/branches/br-test/endpoints/ep-test',
    logger: { error: false },
  });
  const r1 = await lb.query('SELECT current_user AS usr, dbx_oauth.current_identity() AS identity, dbx_oauth.claim(\'iss\') AS iss');
  // a second connection reuses the cached token
  const [c1, c2] = await Promise.all([lb.connect(), lb.connect()]);
  const r2 = await c2.query('SELECT dbx_oauth.current_identity() AS identity');
  c1.release();
  c2.release();
  out.lakebase_endpoint = { ...r1.rows[0], second_identity: r2.rows[0].identity };
  await lb.end();
}

process.stdout.write(JSON.stringify(out) + '\n');
