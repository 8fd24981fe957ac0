/**
 * Where a request keeps the end user's token.  Databricks Apps (and AppKit)
 * forward it in x-forwarded-access-token; Express, node:http and fetch
 * requests are all understood.
 */

export const DEFAULT_TOKEN_HEADER = 'x-forwarded-access-token';

/** An Express / node:http request, or anything with such headers. */
export interface NodeRequestLike {
  headers: Record<string, string | string[] | undefined>;
}

/** A fetch API Request (Headers with get()). */
export interface FetchRequestLike {
  headers: { get(name: string): string | null };
}

export type RequestLike = NodeRequestLike | FetchRequestLike;

/** The token a request carries in header, or undefined. */
export function tokenFromRequest(req: RequestLike, header: string): string | undefined {
  const headers = req.headers as unknown;
  let value: unknown;
  if (headers !== null && typeof headers === 'object' && typeof (headers as FetchRequestLike['headers']).get === 'function') {
    value = (headers as FetchRequestLike['headers']).get(header);
  } else if (headers !== null && typeof headers === 'object') {
    value = (headers as NodeRequestLike['headers'])[header.toLowerCase()];
  }
  if (Array.isArray(value)) value = value[0];
  if (typeof value !== 'string') return undefined;
  const token = value.trim();
  return token === '' ? undefined : token;
}
