// AFTER: one pg.Pool for every user.  The pool logs in as the app's service
// principal with its own OAuth token (no password, no extra pg_hba.conf
// line); each request runs as its user through dbx_oauth.set_token, so RLS
// sees the user.  Server connections: at most `max`, whatever the number of
// users.
import express from 'express';
import pg from 'pg';
import { withUserIdentity, identityErrorHandler } from '@dbx-oauth/pg-identity';
import { servicePrincipalId, servicePrincipalToken } from './sp-token.mjs';

const pool = new pg.Pool({
  // host, port, database and sslmode from PGHOST, PGPORT, PGDATABASE, PGSSLMODE
  user: servicePrincipalId,
  password: servicePrincipalToken,   // called for each new connection
  max: 10,
});
const db = withUserIdentity(pool);   // reads x-forwarded-access-token

const app = express();

app.get('/api/docs', async (req, res) => {
  const { rows } = await db.asUser(req).query('SELECT id, body FROM docs ORDER BY id');
  res.json(rows);
});

app.get('/api/me', async (req, res) => {
  const me = await db.asUser(req).transaction(async (client, { identity }) => {
    const { rows } = await client.query('SELECT count(*)::int AS docs FROM docs');
    return { identity, docs: rows[0].docs };
  });
  res.json(me);
});

app.use(identityErrorHandler());     // 401 for a missing or bad token, 403 for permission denied

const server = app.listen(Number(process.env.PORT ?? 8000), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => pool.end()));
