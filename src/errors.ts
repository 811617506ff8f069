// Errors that cross module boundaries. Each has a stable code; the protocol
// layer turns any of them into HTTP 500 {"Err": message} for Docker.

export type ErrorCode =
  | 'OVSVLAN_ERR_INVALID_OPTION'
  | 'OVSVLAN_ERR_INVALID_REQUEST'
  | 'OVSVLAN_ERR_NOT_FOUND'
  | 'OVSVLAN_ERR_CONFLICT'
  | 'OVSVLAN_ERR_LINK'
  | 'OVSVLAN_ERR_STORE'
  | 'OVSVLAN_ERR_CONFIG'
  /** etcd (cluster mode) did not answer: src/cluster/kv.ts ClusterUnreachableError */
  | 'OVSVLAN_ERR_CLUSTER'
  /** a DHCP network's server did not answer, or gave a lease that does not fit: DhcpError */
  | 'OVSVLAN_ERR_DHCP';

export class OvsvlanError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = opts.details;
  }
}

/** A `-o` option (or setting) has a value outside what ovsvlan accepts. The message names the option and the allowed values. */
export class InvalidOptionError extends OvsvlanError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('OVSVLAN_ERR_INVALID_OPTION', message, { details: { option } });
    this.option = option;
  }
}

/**
 * Docker sent a body that is not what the protocol says (empty on a retried
 * call, not JSON, a missing ID, a field of the wrong type or shape). `field`
 * is its path in the body, e.g. `IPv4Data[0].Gateway`.
 */
export class InvalidRequestError extends OvsvlanError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('OVSVLAN_ERR_INVALID_REQUEST', message, { details: field === undefined ? undefined : { field } });
    this.field = field;
  }
}

/** How much of a caller's value an error or a log line repeats. */
export const SHOWN_CHARS = 64;

/**
 * A caller's value as it may appear in an error or a log line: JSON-quoted (so
 * control characters and quotes are escaped, and so are the invisible ones
 * that could make a line read otherwise: C1 controls, zero-width and
 * direction marks, line separators), at most SHOWN_CHARS characters of it,
 * then "…". Hostile input is never repeated whole.
 */
export function quoted(value: string): string {
  const text = JSON.stringify(value.slice(0, SHOWN_CHARS)).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return value.length <= SHOWN_CHARS ? text : `${text}…`;
}
const INVISIBLE = /[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;

export class NotFoundError extends OvsvlanError {
  constructor(message: string) {
    super('OVSVLAN_ERR_NOT_FOUND', message);
  }
}

/** The request contradicts existing state (a bridge already used with another datapath, a VLAN taken…). */
export class ConflictError extends OvsvlanError {
  constructor(message: string) {
    super('OVSVLAN_ERR_CONFLICT', message);
  }
}

/** An `ip`/`ethtool` command failed; carries the argv and stderr. */
export class LinkError extends OvsvlanError {
  readonly argv: readonly string[];
  readonly stderr: string;
  constructor(argv: readonly string[], stderr: string, cause?: unknown) {
    super('OVSVLAN_ERR_LINK', `${argv.join(' ')}: ${stderr || 'failed'}`, { cause, details: { argv } });
    this.argv = argv;
    this.stderr = stderr;
  }
}

/** Why a system call failed, for a message: `ENOSPC: no space left on device, write`. */
export function causeText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export class StoreError extends OvsvlanError {
  constructor(message: string, cause?: unknown) {
    super('OVSVLAN_ERR_STORE', message, { cause });
  }
}

/**
 * A DHCP network's lease could not be had (no server answered within the
 * network's bound, a lease outside `dhcp_subnet`) or its client could not be
 * run. The message says what happened and which option bounds it.
 */
export class DhcpError extends OvsvlanError {
  constructor(message: string, cause?: unknown) {
    super('OVSVLAN_ERR_DHCP', message, { cause });
  }
}

/** The first lease fell outside dhcp_subnet: refused, and `address` (CIDR) is to be given back to the server. */
export class LeaseRefusedError extends DhcpError {
  constructor(message: string, readonly address: string) {
    super(message);
  }
}

export class ConfigError extends OvsvlanError {
  constructor(message: string) {
    super('OVSVLAN_ERR_CONFIG', message);
  }
}
