// Turns a raw request body into a typed request, with a clear error when a
// field Docker always sends is missing (a retried call can arrive with an
// empty body: moby pkg/plugins/client.go reuses the consumed request buffer).
import { InvalidRequestError } from '../errors.js';

export type Body = Record<string, unknown>;

export function parseBody(raw: string | undefined): Body {
  if (raw === undefined || raw.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new InvalidRequestError('request body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidRequestError('request body is not a JSON object');
  return v as Body;
}

export function str(body: Body, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw new InvalidRequestError(`request has no ${field}`);
  return v;
}

export function optStr(body: Body, field: string): string | undefined {
  const v = body[field];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function obj(body: Body, field: string): Record<string, unknown> {
  const v = body[field];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function arr(body: Body, field: string): unknown[] {
  const v = body[field];
  return Array.isArray(v) ? v : [];
}
