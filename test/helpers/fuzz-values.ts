// Hostile values for the fuzz test (pure, seeded): one field of a valid
// request broken in one way (removed, wrong type, empty, huge, unicode,
// control characters, shell metacharacters, a path, a CIDR where an address
// goes, an ID sharing a prefix with a live one, another network's ID), random
// JSON, truncated JSON, bodies that are no JSON object, paths that are no call.
// A request is data: what is sent, and why (the label names the field and the
// mutation, so a failure reads as a case).
import type { prng } from './faults.js';

export type Rng = ReturnType<typeof prng>;
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject { [key: string]: Json }

/** What a field holds, which decides the breakages that fit it. */
export type FieldKind = 'networkId' | 'endpointId' | 'poolId' | 'address' | 'cidr' | 'subnet' | 'option' | 'text' | 'bool' | 'map' | 'list' | 'path' | 'mac';

export interface Field {
  path: readonly (string | number)[];
  kind: FieldKind;
  /** a live object of the same kind that may stand in for this field's value (another network's ID, another pool) */
  peer?: string;
  /** the call must be refused with `peer` in this field (an endpoint call with another network's ID) */
  peerRefused?: boolean;
  /** the call does not read this field (Leave's Options): no breakage of it need be refused */
  ignored?: boolean;
  /** the address family a `cidr` or `address` field must have */
  family?: 4 | 6;
  /** an unknown ID that shares the field's first characters with a live one (12, or 10 for an overlay network) */
  similar?: string;
}

/** A valid call, and the fields that may be broken. Destructive calls get only breakages that must be refused (or are unknown IDs). */
export interface Template {
  call: string;
  body: JsonObject;
  fields: readonly Field[];
  destructive: boolean;
}

export interface Mutated {
  body: string;
  json: Json | undefined;
  kind: string;
  label: string;
  /** the daemon must answer 500: the breakage makes a field the call reads wrong in type or form */
  mustRefuse: boolean;
}

/**
 * Breakages that leave a field the call reads of the wrong type or form: refused whatever the field
 * (IDs, addresses, options, lists, maps, flags), when the template has it. `remove`, `null`, `empty`,
 * a bad address or subnet that is still one, a hostile key, a shared prefix: accepted or not, by field.
 */
const REFUSED = new Set(['wrong-type', 'huge', 'unicode', 'control', 'shell', 'traversal', 'whitespace', 'upper-case', '12-characters', '65-characters',
  'non-hex', 'subnet-only', 'no-hash', 'cidr-for-address', 'address-without-length', 'bad-cidr', 'other-family', 'bad-number', 'json-number',
  'bool-as-string', 'bool-as-number', 'list-of-non-objects', 'too-many-items', 'bad-mac', 'relative-path', 'path-with-nul', 'long-path']);
/** A path stays a path with any character but NUL in it. */
const PATH_ACCEPTS = new Set(['unicode', 'control', 'shell', 'traversal', 'whitespace', 'huge']);

/** Marks of the huge values: the daemon's log must never hold a long run of them. */
export const MARKS = ['Q', 'W', 'Z', 'J', 'X'] as const;
const HUGE_SIZES = [300, 5_000, 70_000, 1_000_000, 3_000_000] as const;
const SHELL = ['$(id)', '`id`', '; id', '| id', '&& reboot', '$(reboot)', "'; rm -rf / #", '${IFS}id', '\\$(id)', '>/etc/passwd'];
const TRAVERSAL = ['../../etc/passwd', '/etc/shadow', '..', '/proc/self/environ', '..%2f..%2fetc', '/run/docker/plugins/../../x', '\\\\host\\share', '~root'];
const UNICODE = ['é', '\u202e', '\u200b', '\ufeff', '😀', '\u0430', '０', '\ud800', '\u2028', 'İ', 'ß', '\u0301'];
const CONTROL = ['\u0000', '\n', '\r\n', '\t', '\u001b[31m', '\u0007', '\u007f', '\u0085', '\b'];
// bad for every numeric option a template breaks (vlan 1-4094, vni 1-16777215, mtu 68-65535): 4095 is a good VNI and MTU
const NUMBERS = ['1e3', ' 010 ', '010', '+5', '-1', '0', '16777216', '0x10', '5.0', '99999999999999999999', ' ', 'NaN', 'Infinity', '1_000', '٣', '５', '8.5e2'];
const ADDRESSES = ['10.0.0.256', '010.0.0.1', '10.0.0.1 ', 'fe80::1%eth0', '::ffff:10.0.0.1', '0.0.0.0', '255.255.255.255', '1.2.3', '[::1]', 'localhost', '10.0.0.1/24/24', '1.2.3.4/33', 'fd00::1/129', '::'];
const SUBNETS = ['10.13.0.7/24', '10.13.0.0', '0.0.0.0/0', '10.0.0.0/33', '::/0', '10.13.0.0/24\n', 'fd00::/64', '10.13.0.0/08', '10.13.0.0/-1', '/24'];
const MACS = ['de:ad:be:ef', '02:42:0a:01:00:05:07', 'zz:42:0a:01:00:05', '02-42-0a-01-00-05', '0242.0a01.0005', 'ff:ff:ff:ff:ff:ff:'];
const KEYS = ['__proto__', 'constructor', 'prototype', '', 'vlan\u0000', 'VLAN', 'vlan ', 'toString', 'hasOwnProperty'];

const hugeCache = new Map<string, string>();
export function huge(rng: Rng): string {
  const key = `${rng.pick(MARKS)}${rng.pick(HUGE_SIZES)}`;
  let v = hugeCache.get(key);
  if (v === undefined) hugeCache.set(key, (v = key[0]!.repeat(Number(key.slice(1)))));
  return v;
}

/** A string of any hostile sort. */
export function hostileString(rng: Rng): string {
  switch (rng.int(8)) {
    case 0: return rng.next() < 0.3 ? huge(rng) : 'x'.repeat(1 + rng.int(400));
    case 1: return rng.pick(SHELL);
    case 2: return rng.pick(TRAVERSAL);
    case 3: return Array.from({ length: 1 + rng.int(4) }, () => rng.pick(UNICODE)).join('');
    case 4: return rng.pick(CONTROL);
    case 5: return rng.pick(NUMBERS);
    case 6: return rng.pick([...ADDRESSES, ...SUBNETS]);
    default: return rng.pick(KEYS);
  }
}

/** Any JSON value, nested up to `depth`. */
export function randomJson(rng: Rng, depth = 2): Json {
  switch (rng.int(depth > 0 ? 8 : 6)) {
    case 0: return null;
    case 1: return rng.next() < 0.5;
    case 2: return rng.pick([0, -0, 1, -1, 1e3, 0.5, 4094, 2 ** 53 + 1, 1.7976931348623157e308, -1e-300]);
    case 3: case 4: return hostileString(rng);
    case 5: return '';
    case 6: return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
    default: return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.next() < 0.5 ? rng.pick(KEYS) : hostileString(rng).slice(0, 40), randomJson(rng, depth - 1)]));
  }
}

/** A value of another JSON type than `v` (never null: that reads as missing, which `remove` covers). */
function wrongType(rng: Rng, v: Json | undefined): Json {
  const options: Json[] = [5, 1e3, true, false, [], [v ?? 'x'], {}, { value: v ?? 'x' }, 'x'];
  const other = options.filter((o) => typeof o !== typeof v || Array.isArray(o) !== Array.isArray(v));
  return rng.pick(other);
}

/** Inserts `s` into `v` at a random place (start, end or inside). */
function splice(rng: Rng, v: string, s: string): string {
  const at = rng.pick([0, v.length, rng.int(v.length + 1)]);
  return `${v.slice(0, at)}${s}${v.slice(at)}`;
}

/** Breakages that fit a kind of field, besides the generic ones. */
function kindBreakages(rng: Rng, f: Field, v: string): Array<[string, () => Json]> {
  const id = (): Array<[string, () => Json]> => [
    ['upper-case', () => v.toUpperCase()],
    ['12-characters', () => v.slice(0, 12)],
    ['65-characters', () => `${v}a`],
    ['non-hex', () => `${v.slice(0, 63)}g`],
  ];
  switch (f.kind) {
    case 'networkId': case 'endpointId': return id();
    case 'poolId': return [['subnet-only', () => v.split('#')[0] ?? ''], ['upper-case', () => v.toUpperCase()], ['no-hash', () => v.replace('#', '')]];
    case 'address': return [['cidr-for-address', () => `${v || '10.13.0.9'}/24`], ['bad-address', () => rng.pick(ADDRESSES)]];
    case 'cidr': return [['address-without-length', () => v.split('/')[0] ?? ''], ['bad-cidr', () => rng.pick(ADDRESSES)],
      ['other-family', () => ((f.family ?? (v.includes(':') ? 6 : 4)) === 6 ? '10.13.0.9/24' : 'fd00::9/64')]];
    case 'subnet': return [['bad-subnet', () => rng.pick(SUBNETS)]];
    case 'option': return [['bad-number', () => rng.pick(NUMBERS)], ['json-number', () => rng.pick([1e3, 10, 4094, -1])]];
    case 'bool': return [['bool-as-string', () => rng.pick(['true', 'false', '1', ''])], ['bool-as-number', () => 1]];
    case 'map': return [['hostile-key', () => ({ [rng.pick(KEYS)]: hostileString(rng) })], ['too-many-entries', () => Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`k${i}`, 'v']))]];
    case 'list': return [['list-of-non-objects', () => [1, 'x', null]], ['too-many-items', () => Array.from({ length: 70 }, () => ({}))]];
    case 'path': return [['relative-path', () => 'run/netns/x'], ['path-with-nul', () => '/run/netns/x\u0000y'], ['long-path', () => `/${'p'.repeat(5000)}`]];
    case 'mac': return [['bad-mac', () => rng.pick(MACS)]];
    default: return [];
  }
}

function getAt(o: JsonObject, path: readonly (string | number)[]): Json | undefined {
  let cur: Json | undefined = o;
  for (const k of path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string | number, Json>)[k] : undefined;
  return cur;
}

/** Sets (or with `undefined`, deletes) the value at `path` in a deep copy of `o`. */
function setAt(o: JsonObject, path: readonly (string | number)[], v: Json | undefined): JsonObject {
  const copy = structuredClone(o);
  let cur: Record<string | number, Json> = copy;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    if (next === null || typeof next !== 'object') return copy;
    cur = next as Record<string | number, Json>;
  }
  const last = path[path.length - 1]!;
  if (v === undefined) delete cur[last];
  else cur[last] = v;
  return copy;
}

const show = (path: readonly (string | number)[]): string => path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').slice(1);

/** One field of `t` broken in one way. */
export function mutate(rng: Rng, t: Template): Mutated {
  // Docker adds fields over time: one more is no breakage, so a destructive call (which it would let through) never gets one
  if (!t.destructive && rng.next() < 0.08) {
    const key = rng.next() < 0.5 ? rng.pick(KEYS) : hostileString(rng).slice(0, 80);
    return finish({ ...t.body, [key]: randomJson(rng) }, 'extra-field', `${t.call} + extra field`, false);
  }
  const f = rng.pick(t.fields);
  const cur = getAt(t.body, f.path);
  const s = typeof cur === 'string' ? cur : '';
  const ways: Array<[string, () => Json | undefined]> = [
    ['remove', () => undefined],
    ['null', () => null],
    ['wrong-type', () => wrongType(rng, cur)],
    ['huge', () => (rng.next() < 0.5 ? huge(rng) : `${s}${huge(rng)}`)],
    ['unicode', () => splice(rng, s, rng.pick(UNICODE))],
    ['control', () => splice(rng, s, rng.pick(CONTROL))],
    ['shell', () => rng.pick([rng.pick(SHELL), splice(rng, s, rng.pick(SHELL))])],
    ['traversal', () => rng.pick([rng.pick(TRAVERSAL), `../../${s}`])],
    ['whitespace', () => rng.pick([` ${s}`, `${s}\n`, `${s} `])],
    ...kindBreakages(rng, f, s),
  ];
  if (typeof cur === 'string' && cur !== '') ways.push(['empty', () => '']);
  if (f.peer !== undefined) ways.push(['peer', () => f.peer!]);
  if (f.similar !== undefined) ways.push(['shared-prefix', () => f.similar!], ['shared-prefix', () => f.similar!]);
  // every way is refused for a field a call needs (a destructive template lists only those), or names an unknown object;
  // a way that happens to leave the value as it was (an upper-case PoolID of digits only) is no breakage: another is taken
  for (;;) {
    const [way, make] = rng.pick(ways);
    const v = make();
    if (v !== undefined && JSON.stringify(v) === JSON.stringify(cur)) continue;
    const refused = way === 'peer' ? f.peerRefused === true
      : REFUSED.has(way) && cur !== undefined && !f.ignored && !(f.kind === 'path' && PATH_ACCEPTS.has(way) && !String(v).includes('\u0000'));
    return finish(setAt(t.body, f.path, v), way, `${t.call} ${show(f.path)}: ${way}${refused ? ' (refused)' : ''}`, refused);
  }
}

function finish(json: JsonObject, kind: string, label: string, mustRefuse: boolean): Mutated {
  return { body: JSON.stringify(json), json, kind, label, mustRefuse };
}

/** The template's body cut short: never JSON (or empty, which reads as {}). */
export function truncated(rng: Rng, t: Template): Mutated {
  const text = JSON.stringify(t.body);
  const body = text.slice(0, rng.int(text.length));
  return { body, json: undefined, kind: 'truncated', label: `${t.call} truncated`, mustRefuse: body.trim() !== '' };
}

/** A body that is not a JSON object. */
export function notAnObject(rng: Rng): { body: string; kind: string } {
  const bodies = ['[1,2,3]', '[]', '42', '"vlan=5"', 'null', 'true', 'vlan=5', '{"a":', '}{', '{"NetworkID":"x"}{"NetworkID":"y"}',
    '\ufeff{}', '\u0000', '{"a":1,}', "{'a':1}", '{"a":NaN}', '<xml/>', '\x1f\x8b\x08', JSON.stringify(hostileString(rng))];
  return { body: rng.pick(bodies), kind: 'not-an-object' };
}

const CALL_NAMES = ['NetworkDriver.Foo', 'networkdriver.join', 'NetworkDriver.join', 'IpamDriver.', 'Plugin.Deactivate', 'VolumeDriver.Create', 'NetworkDriver'];

/** A path that is no call of the protocol. */
export function unknownPath(rng: Rng): string {
  switch (rng.int(5)) {
    case 0: return `/${rng.pick(CALL_NAMES)}`;
    case 1: return rng.pick(['/', '/../etc/passwd', '//NetworkDriver.Join', '/NetworkDriver.Join/x', '/Plugin.Activate/..', '/%2e%2e/%2e%2e']);
    case 2: return `/NetworkDriver.${'X'.repeat(1 + rng.int(10_000))}`;
    case 3: return `/IpamDriver.${escaped(hostileString(rng).slice(0, 2000))}`;
    default: return `/${escaped(rng.pick(UNICODE))}`;
  }
}

/** Percent-encoded UTF-8 (a lone surrogate becomes U+FFFD, where encodeURIComponent would throw). */
const escaped = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
