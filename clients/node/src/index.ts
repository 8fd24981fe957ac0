/**
 * @dbx-oauth/pg-identity: run node-postgres queries as the Databricks end
 * user on one shared pg.Pool.
 *
 * The pool logs in as the app's own role (the authenticator: the app's
 * service principal with its OAuth token, or a password role).  Every unit
 * of work runs in one transaction that starts with
 *
 *     BEGIN; SELECT dbx_oauth.set_token($1, true)
 *
 * so PostgreSQL validates the user's token, switches to the user's role and
 * identity for that transaction only, and Row-Level Security sees the user.
 * The token is always a bind parameter, never SQL text.  Before a connection
 * goes back to the pool it is checked to be the authenticator again; a
 * connection that cannot be reset is destroyed, never reused.
 *
 * Errors with an HTTP meaning become IdentityError (status 401 or 403).
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';

import { IdentityError, mapServerError, missingToken } from './errors.js';
import { DEFAULT_TOKEN_HEADER, tokenFromRequest, type RequestLike } from './token.js';

export { IdentityError, type IdentityErrorCode } from './errors.js';
export { DEFAULT_TOKEN_HEADER, tokenFromRequest, type RequestLike, type NodeRequestLike, type FetchRequestLike } from './token.js';

/** The pool the identity layer needs: a pg.Pool, or anything that connects like one. */
export type PoolLike = Pick<Pool, 'connect'>;

export interface IdentityPoolOptions {
  /** Request header holding the user's token (default x-forwarded-access-token). */
  tokenHeader?: string;
}

export interface AsUserOptions {
  /** Act as this GROUP role instead of the user's own role (the user must be a member). */
  asRole?: string;
}

/** What a transaction callback learns besides its client. */
export interface UserContext {
  /** The identity set_token switched to (email or application id). */
  identity: string;
}

/** A pool client inside a user's transaction. */
export type UserClient = PoolClient;

const SET_TOKEN = 'SELECT dbx_oauth.set_token($1, true) AS identity';
const SET_TOKEN_AS_ROLE = 'SELECT dbx_oauth.set_token($1, true, $2) AS identity';
/* After COMMIT/ROLLBACK the connection must be the authenticator again with no transaction open. */
const CHECK_RESET = 'SELECT current_user = session_user AS clean';

/** Work done as one user: each call is one transaction. */
export class UserScope {
  readonly #pool: PoolLike;
  readonly #token: string;
  readonly #asRole: string | undefined;

  /** @internal use IdentityPool.asUser */
  constructor(pool: PoolLike, token: string, asRole: string | undefined) {
    this.#pool = pool;
    this.#token = token;
    this.#asRole = asRole;
  }

  /** Runs one statement as the user, in its own transaction. */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    return this.transaction((client) => client.query<R>(text, values));
  }

  /**
   * Runs fn with a client inside one transaction as the user: several
   * queries, an ORM bound to the client (Drizzle, Kysely), all as the user.
   * Commits when fn resolves, rolls back when it throws.  The client must
   * not be used after fn settles.
   */
  async transaction<T>(fn: (client: UserClient, context: UserContext) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    /*
     * A connection that dies between two queries emits 'error' on the
     * client, which would crash the process while no listener is attached
     * (the pool listens only to idle clients).  The next query fails anyway
     * and releaseChecked destroys the client.
     */
    const ignoreError = (): void => undefined;
    client.on('error', ignoreError);
    let result: T;
    try {
      result = await this.#inTransaction(client, fn);
    } catch (e) {
      await releaseChecked(client, ignoreError);
      throw mapServerError(e);
    }
    await releaseChecked(client, ignoreError);
    return result;
  }

  async #inTransaction<T>(client: PoolClient, fn: (client: UserClient, context: UserContext) => Promise<T>): Promise<T> {
    await client.query('BEGIN');
    try {
      const switched = this.#asRole === undefined
        ? await client.query<{ identity: string }>(SET_TOKEN, [this.#token])
        : await client.query<{ identity: string }>(SET_TOKEN_AS_ROLE, [this.#token, this.#asRole]);
      const identity = switched.rows[0]?.identity;
      if (typeof identity !== 'string') throw new Error('dbx_oauth.set_token returned no identity');
      const value = await fn(client, { identity });
      await client.query('COMMIT');
      return value;
    } catch (e) {
      /* a failed ROLLBACK is caught by the check in releaseChecked */
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }
}

/**
 * Hands the client back to the pool only when it is provably the
 * authenticator again; otherwise destroys it (release(err) closes the
 * connection instead of pooling it).
 */
async function releaseChecked(client: PoolClient, errorListener: () => void): Promise<void> {
  let failure: Error | undefined;
  try {
    const r = await client.query<{ clean: boolean }>(CHECK_RESET);
    if (r.rows[0]?.clean !== true) failure = new Error('connection still acts as another role after its transaction');
  } catch (e) {
    failure = e instanceof Error ? e : new Error(String(e));
  }
  client.off('error', errorListener);
  client.release(failure ?? false);
}

/** A pg.Pool whose work runs as end users. */
export class IdentityPool {
  readonly pool: PoolLike;
  readonly tokenHeader: string;

  constructor(pool: PoolLike, options: IdentityPoolOptions = {}) {
    this.pool = pool;
    this.tokenHeader = (options.tokenHeader ?? DEFAULT_TOKEN_HEADER).toLowerCase();
  }

  /**
   * The user behind a token, or behind a request's token header.  Throws
   * IdentityError (401, NO_TOKEN) at once when there is none; a bad token
   * fails the first query with IdentityError 401.
   */
  asUser(source: string | RequestLike, options: AsUserOptions = {}): UserScope {
    const token = typeof source === 'string' ? source.trim() : tokenFromRequest(source, this.tokenHeader);
    if (token === undefined || token === '') throw missingToken(this.tokenHeader);
    return new UserScope(this.pool, token, options.asRole);
  }
}

/** Wraps a pg.Pool (for example the one @databricks/lakebase creates). */
export function withUserIdentity(pool: PoolLike, options?: IdentityPoolOptions): IdentityPool {
  return new IdentityPool(pool, options);
}

/** Minimal Express-style response for identityErrorHandler. */
interface ResponseLike {
  headersSent?: boolean;
  status(code: number): ResponseLike;
  json(body: unknown): unknown;
}

/**
 * Express error middleware: IdentityError → its status with
 * { error, code }; everything else goes to the next handler.
 */
export function identityErrorHandler() {
  return (err: unknown, _req: unknown, res: ResponseLike, next: (err?: unknown) => void): void => {
    if (!(err instanceof IdentityError) || res.headersSent) {
      next(err);
      return;
    }
    res.status(err.status).json({ error: err.message, code: err.code });
  };
}
