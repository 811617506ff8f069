// OVSDB notation (RFC 7047 §5.1) <-> plain JavaScript values. Pure; no I/O.
//
// On the wire a UUID is ["uuid", "…"], a reference to a row inserted in the
// same transaction is ["named-uuid", "…"], a set is ["set", [atom…]] and a map
// is ["map", [[key, value]…]]. A set with exactly one element may be sent as
// the bare atom, and ovsdb-server does so in replies (e.g. Port.tag = 42).

export type Uuid = ['uuid', string];
export type NamedUuid = ['named-uuid', string];
export type Atom = string | number | boolean | Uuid | NamedUuid;
export type OvsSet<T extends Atom = Atom> = ['set', T[]];
/** A map. Keys and values are strings in the columns ovsvlan writes (external_ids, other_config, options);
 * the server may send other atoms for other columns (e.g. Interface.statistics is string → integer). */
export type OvsMap<K extends Atom = string, V extends Atom = string> = ['map', [K, V][]];
export type Value = Atom | OvsSet<Atom> | OvsMap<Atom, Atom>;
export type Row = Record<string, Value>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** RFC 7047 §5.1: <id> ("uuid-name") is [_a-zA-Z][_a-zA-Z0-9]*. */
const ID_RE = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

export function uuid(s: string): Uuid {
  if (!UUID_RE.test(s)) throw new TypeError(`not a UUID: ${JSON.stringify(s)}`);
  return ['uuid', s];
}

export function namedUuid(s: string): NamedUuid {
  if (!ID_RE.test(s)) throw new TypeError(`not a valid uuid-name (RFC 7047 <id>): ${JSON.stringify(s)}`);
  return ['named-uuid', s];
}

export function isUuid(v: unknown): v is Uuid {
  return Array.isArray(v) && v.length === 2 && v[0] === 'uuid' && typeof v[1] === 'string';
}

export function isNamedUuid(v: unknown): v is NamedUuid {
  return Array.isArray(v) && v.length === 2 && v[0] === 'named-uuid' && typeof v[1] === 'string';
}

export function isAtom(v: unknown): v is Atom {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || isUuid(v) || isNamedUuid(v);
}

export function isOvsSet(v: unknown): v is OvsSet<Atom> {
  return Array.isArray(v) && v.length === 2 && v[0] === 'set' && Array.isArray(v[1]);
}

export function isOvsMap(v: unknown): v is OvsMap<Atom, Atom> {
  return Array.isArray(v) && v.length === 2 && v[0] === 'map' && Array.isArray(v[1]);
}

/** The string inside ["uuid", x]; throws on anything else. */
export function uuidOf(v: Value | undefined): string {
  if (!isUuid(v)) throw new TypeError(`expected ["uuid", …], got ${JSON.stringify(v)}`);
  return v[1];
}

export function ovsSet<T extends Atom>(items: T[]): OvsSet<T> {
  return ['set', [...items]];
}

/** Elements of a set column; a bare atom is a one-element set (RFC 7047 §5.1), undefined is empty. */
export function fromOvsSet<T extends Atom>(v: Value | undefined): T[] {
  if (v === undefined) return [];
  if (isOvsSet(v)) return [...v[1]] as T[];
  if (isOvsMap(v)) throw new TypeError(`expected a set or an atom, got a map`);
  return [v as T];
}

/** A string → string map, keys in insertion order. */
export function ovsMap(rec: Record<string, string>): OvsMap {
  return ['map', Object.entries(rec)];
}

/** A map column as a plain object; undefined (column not selected / absent) is {}. UUID atoms become their string. */
export function fromOvsMap(v: Value | undefined): Record<string, string> {
  if (v === undefined) return {};
  if (!isOvsMap(v)) throw new TypeError(`expected ["map", …], got ${JSON.stringify(v)}`);
  const out: Record<string, string> = {};
  for (const [k, val] of v[1]) out[atomToString(k)] = atomToString(val);
  return out;
}

function atomToString(a: Atom): string {
  return typeof a === 'object' ? a[1] : String(a);
}
