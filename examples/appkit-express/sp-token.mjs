// The app's own OAuth token: client credentials (machine-to-machine) at the
// workspace's token endpoint, as the Databricks SDK and @databricks/lakebase
// do for a Databricks App (DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET
// are the app's service principal, injected by the platform).  Cached until
// five minutes before it expires.
const host = process.env.DATABRICKS_HOST.replace(/\/+$/, '');
const clientId = process.env.DATABRICKS_CLIENT_ID;
const clientSecret = process.env.DATABRICKS_CLIENT_SECRET;

let cached = { token: '', refreshAt: 0 };

export async function servicePrincipalToken() {
  if (Date.now() < cached.refreshAt) return cached.token;
  const res = await fetch(`${host}/oidc/v1/token`, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${clientId}:${clientSecret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'all-apis' }),
  });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  const body = await res.json();
  cached = { token: body.access_token, refreshAt: Date.now() + (body.expires_in - 300) * 1000 };
  return cached.token;
}

export const servicePrincipalId = clientId;
