/**
 * BEGIN and set_token (and the callback's first query) in one round trip.
 *
 * node-postgres sends one statement and waits for its ReadyForQuery before
 * the next, so `BEGIN`, `SELECT dbx_oauth.set_token($1, true)` and the
 * first query of the unit of work would cost three round trips.  This query
 * object (a pg "submittable", the interface pg-cursor uses) writes them as
 * one extended-protocol batch ending in a single Sync: Parse/Bind/Execute
 * `BEGIN`, Parse/Bind/Describe/Execute the set_token call with the token as
 * its bind parameter (the token never appears in SQL text), then, when
 * given, the first query (pg's own Query object writes it and the Sync).
 *
 * The server runs them in order and stops at the first error: if set_token
 * fails, the first query is skipped (never run as anyone), the transaction
 * block is left open and failed, and the caller's ROLLBACK ends it.  The
 * first query's results reach its caller only once set_token has returned
 * an identity.
 *
 * A named switch (IdentityPoolOptions.namedSwitch) is parsed once per
 * connection and then only bound and executed: no Parse, parse analysis or
 * planning per transaction, which is what the switch costs behind PgBouncer
 * 1.21+ with max_prepared_statements (docs/pooling.md).
 */
import type { PoolClient, QueryResult } from 'pg';

/** The switch: a set_token call, its parameters, and its statement name when named. */
export interface SwitchStatement {
  text: string;
  values: unknown[];
  /** Protocol-level statement name; undefined sends an unnamed statement every time. */
  name?: string;
}

/* The slice of pg's Connection this object writes to (pg 8's protocol writer). */
interface ConnectionLike {
  stream: { cork?: () => void; uncork?: () => void };
  parse(config: { text: string; name?: string }): void;
  bind(config: { statement?: string; values?: unknown[]; binary?: boolean }): void;
  close(config: { type: 'S' | 'P'; name?: string }): void;
  describe(config: { type: 'P' | 'S'; name?: string }): void;
  execute(config: { portal?: string; rows?: number }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/* pg's Query, as this object drives it for the first query. */
interface InnerQuery {
  text: string;
  callback?: (err: Error | null, result?: unknown) => void;
  _result?: { _types?: unknown };
  prepare(connection: ConnectionLike): void;
  handleRowDescription(msg: unknown): void;
  handleDataRow(msg: unknown): void;
  handleCommandComplete(msg: unknown, connection: ConnectionLike): void;
  handleEmptyQuery(connection: ConnectionLike): void;
  handleError(err: Error, connection: ConnectionLike): void;
  handleReadyForQuery(connection: ConnectionLike): void;
}

type Callback = (err: Error | null, identity?: string) => void;

function noIdentity(): Error {
  return new Error('dbx_oauth.set_token returned no identity');
}

/*
 * The named switch statements each connection is known to hold.  A name is
 * recorded once a switch through it has completed, and dropped when a
 * switch fails before completing: its Parse may or may not have happened
 * (a refused token fails after it, a deallocated statement before it), so
 * the next switch sends Close first (not an error for a statement that does
 * not exist) and parses again.  Keyed by pg's Connection object, so a new
 * connection starts empty.
 */
const preparedSwitches = new WeakMap<object, Set<string>>();

function isPrepared(connection: object, name: string): boolean {
  return preparedSwitches.get(connection)?.has(name) === true;
}

function setPrepared(connection: object, name: string, prepared: boolean): void {
  let names = preparedSwitches.get(connection);
  if (names === undefined) {
    if (!prepared) return;
    names = new Set();
    preparedSwitches.set(connection, names);
  }
  if (prepared) names.add(name);
  else names.delete(name);
}

class BeginAsUser {
  readonly text: string;
  readonly values: unknown[];
  /** The first query's text, when one rides in the same batch (for logs and spies). */
  readonly follows: string | undefined;
  callback: Callback | undefined;
  #identity: unknown = undefined;
  #completed = 0;   /* CommandCompletes seen: BEGIN, set_token, then the first query's */
  readonly #inner: InnerQuery | undefined;
  /* Not a public `name`: pg's client would then record every ParseComplete of the batch under it. */
  readonly #name: string | undefined;

  constructor(sw: SwitchStatement, callback: Callback, inner?: InnerQuery) {
    this.text = sw.text;
    this.values = sw.values;
    this.#name = sw.name;
    this.callback = callback;
    this.#inner = inner;
    this.follows = inner?.text;
  }

  submit(connection: ConnectionLike): null {
    connection.stream.cork?.();
    try {
      connection.parse({ text: 'BEGIN' });
      connection.bind({ values: [] });
      connection.execute({});
      if (this.#name === undefined) {
        connection.parse({ text: this.text });
      } else if (!isPrepared(connection, this.#name)) {
        connection.close({ type: 'S', name: this.#name });
        connection.parse({ text: this.text, name: this.#name });
      }
      connection.bind({ statement: this.#name, values: this.values, binary: false });
      connection.describe({ type: 'P' });
      connection.execute({});
      if (this.#inner) this.#inner.prepare(connection);   /* its Parse ... Execute, Sync */
      else connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: unknown): void {
    if (this.#completed >= 2) this.#inner?.handleRowDescription(msg);
  }
  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.#completed >= 2) this.#inner?.handleDataRow(msg);
    else if (this.#completed === 1) this.#identity = msg.fields[0];
  }
  handleCommandComplete(msg: unknown, connection: ConnectionLike): void {
    if (this.#completed >= 2) this.#inner?.handleCommandComplete(msg, connection);
    else if (++this.#completed === 2 && this.#name !== undefined) setPrepared(connection, this.#name, true);
  }
  handleEmptyQuery(connection: ConnectionLike): void {
    if (this.#completed >= 2) this.#inner?.handleEmptyQuery(connection);
  }
  handlePortalSuspended(): void {}
  handleCopyInResponse(connection: ConnectionLike): void {
    connection.sendCopyFail('COPY cannot be the first query of a pipelined switch');
  }
  handleCopyData(): void {}

  handleError(err: Error, connection: ConnectionLike): void {
    if (this.#completed < 2 && this.#name !== undefined) setPrepared(connection, this.#name, false);
    if (this.#completed < 2) this.#finish(err);
    else this.#finish(typeof this.#identity === 'string' ? null : noIdentity());
    this.#inner?.handleError(err, connection);
  }

  handleReadyForQuery(connection: ConnectionLike): void {
    const switched = this.#completed >= 2 && typeof this.#identity === 'string';
    this.#finish(switched ? null : noIdentity());
    if (!this.#inner) return;
    if (switched) this.#inner.handleReadyForQuery(connection);
    else this.#inner.handleError(noIdentity(), connection);
  }

  #finish(err: Error | null): void {
    const cb = this.callback;
    this.callback = undefined;
    if (err) cb?.(err);
    else cb?.(null, this.#identity as string);
  }
}

/**
 * Opens a transaction on client and switches it to the token's user with
 * `sw` (a set_token call); resolves to the identity set_token returned.  A
 * client in pg's pipeline mode refuses custom query objects, and pipelines
 * the two statements by itself (and keeps a named one parsed itself).
 */
export async function beginAsUser(client: PoolClient, sw: SwitchStatement): Promise<string> {
  if ((client as { pipeline?: unknown }).pipeline === true) {
    const [, switched] = await Promise.all([
      client.query('BEGIN'),
      client.query<{ identity: unknown }>({ name: sw.name, text: sw.text, values: sw.values }),
    ]);
    const identity = switched.rows[0]?.identity;
    if (typeof identity !== 'string') throw noIdentity();
    return identity;
  }
  return new Promise<string>((resolve, reject) => {
    const query = new BeginAsUser(sw, (err, identity) => (err ? reject(err) : resolve(identity as string)));
    (client as unknown as { query(q: BeginAsUser): unknown }).query(query);
  });
}

/* A first query that can ride in the batch: plain text (one statement, no
 * COPY), optional parameter array, promise style. */
function pipelineable(config: unknown, values: unknown, callback: unknown): config is string {
  if (typeof config !== 'string' || callback !== undefined) return false;
  if (values !== undefined && !Array.isArray(values)) return false;
  const body = config.trim().replace(/;+$/, '');
  return !body.includes(';') && !/^copy\b/i.test(body);
}

/**
 * Defers the switch to the callback's first query: the first call of
 * client.query sends BEGIN, set_token and that query in one batch (see
 * above) when it is a plain one, else queues the switch in front of it.
 * Returns `settle(start)`, which restores client.query and resolves once
 * the switch has happened (doing it now, when `start`, if the callback never
 * queried) or rejects with the switch's error; it resolves to undefined when
 * no switch was made.
 */
export function deferSwitch(client: PoolClient, sw: SwitchStatement): (start: boolean) => Promise<string | undefined> {
  const target = client as unknown as { query?: (...a: unknown[]) => unknown; pipeline?: unknown };
  const hadOwn = Object.prototype.hasOwnProperty.call(target, 'query');
  const original = target.query as (...a: unknown[]) => unknown;
  let switched: Promise<string> | undefined;
  const restore = (): void => {
    if (hadOwn) target.query = original;
    else delete target.query;
  };
  const Query = (client.constructor as unknown as { Query?: new (text: string, values?: unknown[]) => InnerQuery }).Query;
  target.query = (config: unknown, vals?: unknown, cb?: unknown): unknown => {
    restore();
    if (Query && target.pipeline !== true && pipelineable(config, vals, cb)) {
      const inner = new Query(config, vals as unknown[] | undefined);
      const types = (client as unknown as { _types?: unknown })._types;
      if (inner._result && !inner._result._types && types) inner._result._types = types;
      const result = new Promise<QueryResult>((resolve, reject) => {
        inner.callback = (err, res) => (err ? reject(err) : resolve(res as QueryResult));
      });
      switched = new Promise<string>((resolve, reject) => {
        original.call(client, new BeginAsUser(sw, (err, identity) => (err ? reject(err) : resolve(identity as string)), inner));
      });
      switched.catch(() => undefined);   /* awaited by settle() */
      return result;
    }
    switched = beginAsUser(client, sw);
    switched.catch(() => undefined);
    return original.call(client, config, vals, cb);
  };
  return async (start: boolean) => {
    if (switched === undefined) {
      restore();
      if (!start) return undefined;
      switched = beginAsUser(client, sw);
    }
    return switched;
  };
}
