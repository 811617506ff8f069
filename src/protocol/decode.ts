// Reading Docker's request bodies field by field (pure). A missing field (or
// null: Go sends nil maps and slices as null) is told apart from one of the
// wrong type: "request has no NetworkID" is not "NetworkID must be a string".
// Errors name the field by its path in the body (`IPv4Data[0].Gateway`) and
// repeat at most a short prefix of what was sent (errors.ts quoted()).
// Docker adds fields over time: fields not asked for are ignored, never refused.
import { InvalidRequestError, quoted } from '../errors.js';
import { parseJson, TooLargeError } from './json.js';

export type Body = Record<string, unknown>;

/**
 * The body as a JSON object. An empty body is an empty object: Docker sends
 * none for Activate and GetCapabilities, and a retried call can arrive empty
 * (moby pkg/plugins/client.go reuses the consumed request buffer); the fields
 * it lacks are then reported missing. A large body is parsed in time slices
 * (json.ts), so other requests are served meanwhile.
 */
export async function parseBody(raw: string | undefined): Promise<Body> {
  if (raw === undefined || !/\S/.test(raw)) return {};
  let v: unknown;
  try {
    v = await parseJson(raw);
  } catch (err) {
    if (err instanceof TooLargeError) throw new InvalidRequestError(`request body holds ${err.message}; Docker sends no such body`);
    throw new InvalidRequestError('request body is not JSON');
  }
  if (!isObject(v)) throw new InvalidRequestError('request body is not a JSON object');
  return v;
}

function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a value is, for an error: `the number 1000`, `a list`, a quoted string prefix. */
function described(v: unknown): string {
  if (typeof v === 'string') return quoted(v);
  if (typeof v === 'number' || typeof v === 'boolean') return `the ${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  return v === null ? 'null' : 'a JSON object';
}

/** Throws: the field has the right type but not the right form. */
export function badShape(path: string, form: string, value: string): never {
  throw new InvalidRequestError(`${path} must be ${form}; got ${quoted(value)}`, path);
}

/** One JSON object of a request and its path in the body, read field by field. */
/** Field names of Docker's own (NetworkID, IPv4Data, com.docker.network.generic…). */
const PLAIN_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

export class Fields {
  readonly body: Body;
  readonly at: string;
  constructor(body: Body, at = '') {
    this.body = body;
    this.at = at;
  }

  /** The path of a field of this object, as errors name it. */
  /** The field's path for errors; a key that is not a plain name (a map key the caller chose) is quoted and cut short. */
  path(field: string): string {
    if (!PLAIN_KEY.test(field)) return `${this.at}[${quoted(field)}]`;
    return this.at === '' ? field : `${this.at}.${field}`;
  }

  #typed<T>(field: string, type: string, is: (v: unknown) => v is T): T | undefined {
    const v = this.body[field];
    if (v === undefined || v === null) return undefined;
    if (!is(v)) throw new InvalidRequestError(`${this.path(field)} must be ${type}, not ${described(v)}`, this.path(field));
    return v;
  }

  /** A string Docker always sends, and never empty. */
  string(field: string): string {
    const v = this.#typed(field, 'a string', isString);
    if (v === undefined || v === '') throw new InvalidRequestError(`request has no ${this.path(field)}`, this.path(field));
    return v;
  }

  /** A string that may be missing or empty (both read as ""). */
  optString(field: string): string {
    return this.#typed(field, 'a string', isString) ?? '';
  }

  /** true or false; undefined when missing. */
  bool(field: string): boolean | undefined {
    return this.#typed(field, 'true or false', isBoolean);
  }

  /** A JSON object (missing: empty). */
  object(field: string): Fields {
    return new Fields(this.#typed(field, 'a JSON object', isObject) ?? {}, this.path(field));
  }

  /** A list of JSON objects (missing: empty), at most `max` of them. */
  objects(field: string, max: number): Fields[] {
    const list = this.#typed(field, 'a list', Array.isArray) ?? [];
    if (list.length > max) throw new InvalidRequestError(`${this.path(field)} must hold at most ${max} items, not ${list.length}`, this.path(field));
    return list.map((item, i) => {
      const at = `${this.path(field)}[${i}]`;
      if (!isObject(item)) throw new InvalidRequestError(`${at} must be a JSON object, not ${described(item)}`, at);
      return new Fields(item, at);
    });
  }

  /** A map of strings (missing: empty), at most `max` entries; the keys are kept as given, `__proto__` included. */
  strings(field: string, max: number): Record<string, string> {
    const o = this.object(field);
    const entries = Object.entries(o.body);
    if (entries.length > max) throw new InvalidRequestError(`${o.at} must hold at most ${max} entries, not ${entries.length}`, o.at);
    for (const [key, v] of entries) {
      if (typeof v !== 'string') throw new InvalidRequestError(`${o.at}[${quoted(key)}] must be a string, not ${described(v)}`, o.at);
    }
    return Object.fromEntries(entries) as Record<string, string>; // every value checked above
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
