// Errors of the OVSDB client. OvsdbError means the server refused something
// (its `code` is the RFC 7047 error string); OvsdbConnectionError and
// OvsdbTimeoutError mean the request may never have been answered.
import { describeOperation, type Operation, type OperationResult } from './ops.js';

/** Error strings of RFC 7047 §3.1 / §4.1.3 / §5.2, and the JSON-RPC-level ones ovsdb-server also sends. */
export const OVSDB_ERROR_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  'referential integrity violation': 'a reference points to a row that does not exist',
  'constraint violation': 'a value violates a schema constraint (type, range, size or unique index)',
  'resources exhausted': 'the server ran out of memory or another resource',
  'I/O error': 'the server could not write the transaction to disk',
  'duplicate uuid-name': 'two inserts in the transaction use the same uuid-name',
  'domain error': 'arithmetic mutation with a division by zero or similar',
  'range error': 'arithmetic mutation result out of range',
  'timed out': 'a "wait" operation was not satisfied in time',
  'not supported': 'the operation is not supported (e.g. a durable commit)',
  aborted: 'the transaction contained an "abort" operation',
  'not owner': 'an "assert" operation names a lock this client does not own',
  'unknown database': 'the server has no such database',
  'unknown table': 'the database schema has no such table',
  'unknown column': 'the table has no such column',
  'syntax error': 'the request is malformed',
  'unknown method': 'the server does not implement this JSON-RPC method',
  'not initialized': 'the Open_vSwitch table has no row (run `ovs-vsctl init`)',
});

export interface OvsdbErrorOptions {
  details?: string;
  opIndex?: number;
  op?: Operation;
  cause?: unknown;
}

/** The database refused a request or a transaction. `opIndex` is unset when the commit itself failed (§4.1.3). */
export class OvsdbError extends Error {
  readonly code: string;
  readonly details: string | undefined;
  readonly opIndex: number | undefined;
  readonly op: Operation | undefined;
  constructor(code: string, message: string, opts: OvsdbErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = opts.details;
    this.opIndex = opts.opIndex;
    this.op = opts.op;
  }
}

/** Not connected, the socket closed while a request was outstanding, or the stream was not valid JSON-RPC. */
export class OvsdbConnectionError extends Error {
  readonly code = 'OVSDB_ERR_CONNECTION';
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
  }
}

/** No answer in time. For a transaction this does not say whether it committed. */
export class OvsdbTimeoutError extends Error {
  readonly code = 'OVSDB_ERR_TIMEOUT';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

interface ErrorObject {
  error: string;
  details?: unknown;
  syntax?: unknown;
}

function isErrorObject(v: unknown): v is ErrorObject {
  return typeof v === 'object' && v !== null && typeof (v as { error?: unknown }).error === 'string';
}

function detailsOf(e: ErrorObject): string | undefined {
  const parts = [e.details, e.syntax === undefined ? undefined : `syntax: ${JSON.stringify(e.syntax)}`];
  const s = parts.filter((p) => p !== undefined && p !== '').map(String).join('; ');
  return s === '' ? undefined : s;
}

/** Builds an OvsdbError from an RFC 7047 <error> object (or a bare string as some servers send). */
export function errorFromObject(e: unknown, context: string, opts: OvsdbErrorOptions = {}): OvsdbError {
  const obj: ErrorObject = isErrorObject(e) ? e
    : { error: typeof e === 'string' ? e : 'syntax error', details: JSON.stringify(e) };
  const details = opts.details ?? detailsOf(obj);
  const what = OVSDB_ERROR_DESCRIPTIONS[obj.error];
  const message = `${context}: ${obj.error}${details ? `: ${details}` : what ? ` (${what})` : ''}`;
  return new OvsdbError(obj.error, message, { ...opts, details });
}

/**
 * Checks a `transact` reply (RFC 7047 §4.1.3): result[i] answers ops[i]; the first failed operation
 * has an <error> and every later one is null. If every operation succeeded but the commit failed,
 * the result has one more element than there were operations, and that element is the <error>
 * (referential integrity and unique-index violations are found there). Returns the results on success.
 */
export function checkTransactResult(ops: readonly Operation[], result: unknown): OperationResult[] {
  if (!Array.isArray(result)) {
    throw new OvsdbError('syntax error', `transact: expected an array of results, got ${JSON.stringify(result)}`);
  }
  for (let i = 0; i < ops.length; i++) {
    const r: unknown = result[i];
    if (isErrorObject(r)) {
      const op = ops[i];
      const where = op ? `operation ${i} (${describeOperation(op)})` : `operation ${i}`;
      throw errorFromObject(r, `transaction failed at ${where}`, { opIndex: i, op });
    }
  }
  if (result.length > ops.length) {
    throw errorFromObject(result[ops.length], 'transaction commit failed');
  }
  if (result.length < ops.length) {
    throw new OvsdbError('syntax error', `transact: ${ops.length} operations but ${result.length} results`);
  }
  return result as OperationResult[];
}
