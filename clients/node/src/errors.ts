/**
 * Errors the identity layer raises, typed so that an HTTP handler can answer
 * 401 (no usable token: missing, expired, forged, or no role for it) or 403
 * (the user is known but not allowed) instead of a 500 with a stack trace.
 */

/** SQLSTATEs mapped to HTTP statuses. */
const STATUS_BY_SQLSTATE: Readonly<Record<string, 401 | 403>> = {
  '28000': 401, // invalid_authorization_specification: bad token, no role for it
  '42501': 403, // insufficient_privilege: not allowed to switch, or to read
};

export type IdentityErrorCode = 'NO_TOKEN' | '28000' | '42501';

export class IdentityError extends Error {
  /** HTTP status to answer with. */
  readonly status: 401 | 403;
  /** 'NO_TOKEN' when the request carried none, else the server's SQLSTATE. */
  readonly code: IdentityErrorCode;

  constructor(message: string, status: 401 | 403, code: IdentityErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
    this.status = status;
    this.code = code;
  }
}

/** Thrown when the request has no token; the message never contains one. */
export function missingToken(header: string): IdentityError {
  return new IdentityError(`no access token in the "${header}" header`, 401, 'NO_TOKEN');
}

/**
 * The IdentityError for a server error whose SQLSTATE has an HTTP meaning,
 * else the error unchanged.  Server messages never contain the token
 * (dbx_oauth keeps tokens out of messages), so they are kept.
 */
export function mapServerError(e: unknown): unknown {
  if (e instanceof IdentityError || typeof e !== 'object' || e === null) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return e;
  const status = STATUS_BY_SQLSTATE[code];
  if (status === undefined) return e;
  const message = String((e as { message?: unknown }).message ?? 'request refused');
  return new IdentityError(message, status, code as IdentityErrorCode, { cause: e });
}
