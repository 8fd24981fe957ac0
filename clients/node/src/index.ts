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
 * (one round trip: see begin_as_user.ts) so PostgreSQL validates the user's
 * token, switches to the user's role and identity for that transaction only,
 * and Row-Level Security sees the user.  The token is always a bind
 * parameter, never SQL text.  The transaction ends with COMMIT (or ROLLBACK)
 * and, in the same round trip, a check that the connection is the
 * authenticator again; a connection that cannot be reset is destroyed, never
 * reused.
 *
 * Errors with an HTTP meaning become IdentityError (status 401 or 403).
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';

import { beginAsUser, deferSwitch, type SwitchStatement } from './begin_as_user.js';
import { IdentityError, mapServerError, missingToken } from './errors.js';
import { DEFAULT_TOKEN_HEADER, tokenFromRequest, type RequestLike } from './token.js';

export { IdentityError, type IdentityErrorCode } from './errors.js';
export { DEFAULT_TOKEN_HEADER, tokenFromRequest, type RequestLike, type NodeRequestLike, type FetchRequestLike } from './token.js';

/** The pool the identity layer needs: a pg.Pool, or anything that connects like one. */
export type PoolLike = Pick<Pool, 'connect'>;

export interface IdentityPoolOptions {
  /** Request header holding the user's token (default x-forwarded-access-token). */
  tokenHeader?: string;
  /**
   * Send the switch as a named prepared statement, parsed once per
   * connection (default false).  Only where named statements survive
   * between transactions: a direct connection, PgBouncer in session mode,
   * or PgBouncer 1.21 or later with max_prepared_statements set.  Behind an
   * older PgBouncer in transaction mode a switch would land on a server
   * connection that lacks the statement and fail (it never runs as anyone).
   */
  namedSwitch?: boolean;
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
/* Statement names of the named switch (namedSwitch); the texts never change. */
const SET_TOKEN_NAME = 'dbx_oauth_set_token';
const SET_TOKEN_AS_ROLE_NAME = 'dbx_oauth_set_token_as_role';
/*
 * After COMMIT/ROLLBACK the connection must be the authenticator again with
 * no transaction open.  Sent in one simple-query string after the COMMIT or
 * ROLLBACK (no parameters, so no token can be in it): the SELECT runs after
 * the transaction has ended, and does not run at all when the COMMIT fails.
 */
const CHECK_RESET = 'SELECT current_user = session_user AS clean';

/** Work done as one user: each call is one transaction. */
export class UserScope {
  readonly #pool: PoolLike;
  readonly #switch: SwitchStatement;

  /** @internal use IdentityPool.asUser */
  constructor(pool: PoolLike, token: string, asRole: string | undefined, named: boolean) {
    this.#pool = pool;
    this.#switch = asRole === undefined
      ? { text: SET_TOKEN, values: [token], name: named ? SET_TOKEN_NAME : undefined }
      : { text: SET_TOKEN_AS_ROLE, values: [token, asRole], name: named ? SET_TOKEN_AS_ROLE_NAME : undefined };
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
     * and endAndRelease destroys the client.
     */
    const ignoreError = (): void => undefined;
    client.on('error', ignoreError);
    let value: T;
    try {
      if (fn.length < 2) {
        value = await runDeferred(client, this.#switch, fn);
      } else {
        const identity = await beginAsUser(client, this.#switch);
        value = await fn(client, { identity });
      }
    } catch (e) {
      /* a failed ROLLBACK destroys the client in endAndRelease */
      await endAndRelease(client, 'ROLLBACK', ignoreError);
      throw mapServerError(e);
    }
    const commitError = await endAndRelease(client, 'COMMIT', ignoreError);
    if (commitError !== undefined) throw mapServerError(commitError);
    return value;
  }
}

/**
 * A callback that does not take the context (so does not need the identity
 * before its first query) gets the switch sent with its first query, one
 * round trip fewer (begin_as_user.ts).  The switch's error wins over the
 * callback's: when the token is refused, the first query fails with the
 * same error and nothing ran as anyone.
 */
async function runDeferred<T>(client: PoolClient, sw: SwitchStatement,
  fn: (client: UserClient, context: UserContext) => Promise<T>): Promise<T> {
  const settle = deferSwitch(client, sw);
  const context: UserContext = {
    get identity(): string {
      throw new Error('declare the context parameter of the transaction callback to read the identity');
    },
  };
  let value: T;
  try {
    value = await fn(client, context);
  } catch (e) {
    await settle(false);
    throw e;
  }
  await settle(true);
  return value;
}

/**
 * Ends the transaction with `verb` and hands the client back to the pool
 * only when it is provably the authenticator again; otherwise destroys it
 * (release(err) closes the connection instead of pooling it).  Returns the
 * error of a failed COMMIT (e.g. a deferred constraint), whose client is
 * destroyed too: the reset check did not run after it.
 */
async function endAndRelease(client: PoolClient, verb: 'COMMIT' | 'ROLLBACK', errorListener: () => void): Promise<unknown> {
  let failure: Error | undefined;
  let verbError: unknown;
  try {
    const results = (await client.query(`${verb}; ${CHECK_RESET}`)) as unknown as QueryResult<{ clean: boolean }>[];
    const check = Array.isArray(results) ? results[1] : undefined;
    if (check?.rows[0]?.clean !== true) failure = new Error('connection still acts as another role after its transaction');
  } catch (e) {
    failure = e instanceof Error ? e : new Error(String(e));
    verbError = e;
  }
  client.off('error', errorListener);
  client.release(failure ?? false);
  return verb === 'COMMIT' ? verbError : undefined;
}

/** A pg.Pool whose work runs as end users. */
export class IdentityPool {
  readonly pool: PoolLike;
  readonly tokenHeader: string;
  readonly namedSwitch: boolean;

  constructor(pool: PoolLike, options: IdentityPoolOptions = {}) {
    this.pool = pool;
    this.tokenHeader = (options.tokenHeader ?? DEFAULT_TOKEN_HEADER).toLowerCase();
    this.namedSwitch = options.namedSwitch === true;
  }

  /**
   * The user behind a token, or behind a request's token header.  Throws
   * IdentityError (401, NO_TOKEN) at once when there is none; a bad token
   * fails the first query with IdentityError 401.
   */
  asUser(source: string | RequestLike, options: AsUserOptions = {}): UserScope {
    const token = typeof source === 'string' ? source.trim() : tokenFromRequest(source, this.tokenHeader);
    if (token === undefined || token === '') throw missingToken(this.tokenHeader);
    return new UserScope(this.pool, token, options.asRole, this.namedSwitch);
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
