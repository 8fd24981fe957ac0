// Shared test setup: the cluster, the authenticator's token and a signing key
// come from the TAP test (test/t/034_node_client.pl) through the JSON file
// named by DBX_TEST_CONFIG.  Users' tokens are minted here with the
// cluster's trusted RSA key (a real RS256 signature the server verifies),
// because 200 users' tokens from the mint CLI would take minutes.
import { readFileSync, appendFileSync } from 'node:fs';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';

const configPath = process.env.DBX_TEST_CONFIG;
if (!configPath) throw new Error('DBX_TEST_CONFIG is not set: run these tests through test/t/034_node_client.pl');
export const cfg = JSON.parse(readFileSync(configPath, 'utf8'));

const state = JSON.parse(readFileSync(join(cfg.keysDir, 'state.json'), 'utf8'));
const keyEntry = state.keys.find((k) => k.kid === cfg.kid);
const privateKey = createPrivateKey(readFileSync(join(cfg.keysDir, keyEntry.file)));
const [templateHeader, templatePayload] = cfg.template.split('.').slice(0, 2)
  .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')));

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

/** A token for sub, like the template but with fresh times and jti; recorded for the log check. */
export function mint(sub, { lifetime = 3600, iat } = {}) {
  const now = iat ?? Math.floor(Date.now() / 1000);
  const payload = { ...templatePayload, sub, iat: now, exp: now + lifetime, jti: randomUUID() };
  const data = `${b64(templateHeader)}.${b64(payload)}`;
  const token = `${data}.${sign('sha256', Buffer.from(data), privateKey).toString('base64url')}`;
  if (cfg.mintedLog) appendFileSync(cfg.mintedLog, token + '\n');
  return token;
}

/** The test server's certificate is self-signed for CN=127.0.0.1 without a SAN. */
const ssl = { rejectUnauthorized: false };

/** The app's pool: its service principal logs in with its own token (a password callback). */
export function appPool(max) {
  return new pg.Pool({
    host: cfg.host, port: cfg.port, database: cfg.database, ssl, max,
    user: cfg.authenticator.user,
    password: async () => cfg.authenticator.token,
  });
}

/** A superuser connection over the unix socket, to watch and disturb the app's backends. */
export async function admin() {
  const c = new pg.Client({ host: cfg.socketDir, port: cfg.port, database: cfg.database, user: cfg.superuser });
  await c.connect();
  return c;
}
