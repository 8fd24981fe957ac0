// BEFORE: a pg.Pool per user, as AppKit's asUser(req) makes them: each pool
// logs in as the user with the user's token (up to 3 connections each), so
// server connections grow with the number of active users.
import express from 'express';
import pg from 'pg';

const pools = new Map();   // user -> { pool, token }

function poolFor(req) {
  const user = req.get('x-forwarded-email');
  const token = req.get('x-forwarded-access-token');
  if (!user || !token) {
    const e = new Error('no user token');
    e.status = 401;
    throw e;
  }
  let entry = pools.get(user);
  if (!entry) {
    entry = { token, pool: null };
    // the password callback reads the latest token the user presented
    entry.pool = new pg.Pool({ user, password: async () => entry.token, max: 3 });
    entry.pool.on('error', () => {});
    pools.set(user, entry);
  }
  entry.token = token;
  return entry.pool;
}

const app = express();

app.get('/api/docs', async (req, res) => {
  const { rows } = await poolFor(req).query('SELECT id, body FROM docs ORDER BY id');
  res.json(rows);
});

app.use((err, req, res, next) => {
  // login failures (28P01) surface here; before, they reached the browser as 500s
  res.status(err.status ?? (err.code === '28P01' ? 401 : 500)).json({ error: err.message });
});

const server = app.listen(Number(process.env.PORT ?? 8000), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => Promise.all([...pools.values()].map((e) => e.pool.end()))));
