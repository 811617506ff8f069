// Network definitions in etcd (`networks/<ident>`): what every host of a
// shared network agrees on. The first host's CreateNetwork writes it by
// version 0; every later one must find the same subnet, gateway, MTU,
// internal flag, aux addresses and mesh-or-remote choice, or is refused with
// an error naming the first difference. Hosts add and remove themselves by
// compare-and-swap on the key's revision; the definition goes with its last
// host.
import { ConflictError, InvalidOptionError, StoreError } from '../errors.js';
import type { Keys } from './keys.js';
import type { Kv, KvPair } from './kv.js';
import type { ClusterNetworks, NetworkDefinition, NetworkIdent, SharedSpec } from './types.js';

/** Compare-and-swap attempts on one definition before giving up (races of hosts joining at the same moment). */
const CAS_ATTEMPTS = 10;

export class EtcdNetworks implements ClusterNetworks {
  readonly #kv: Kv;
  readonly #keys: Keys;
  readonly #hostId: string;
  /** ident → when this host last joined it: address sync does not take a CreateNetwork half-way for a departure */
  readonly #joined = new Map<NetworkIdent, number>();

  constructor(kv: Kv, keys: Keys, hostId: string) {
    this.#kv = kv;
    this.#keys = keys;
    this.#hostId = hostId;
  }

  /** CreateNetwork (and address sync, for a missing definition): write the definition or agree with it, and add this host to it. */
  async join(spec: SharedSpec): Promise<NetworkDefinition> {
    const key = this.#keys.network(spec.ident);
    this.#joined.set(spec.ident, Date.now());
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const mine: NetworkDefinition = { ...spec, hosts: [this.#hostId], createdBy: this.#hostId, createdAt: Date.now() };
      const created = await this.#kv.txn([{ key, target: 'version', op: '==', value: 0 }], [{ op: 'put', key, value: JSON.stringify(mine) }]);
      if (created.succeeded) return mine;
      const pair = await this.#kv.get(key);
      if (!pair) continue; // its last host left in between: write it again
      const found = parseDefinition(key, pair.value);
      checkAgreement(found, spec);
      if (found.hosts.includes(this.#hostId)) return found;
      const joined: NetworkDefinition = { ...found, hosts: [...found.hosts, this.#hostId].sort() };
      const put = await this.#kv.txn([{ key, target: 'modRevision', op: '==', value: pair.modRevision }], [{ op: 'put', key, value: JSON.stringify(joined) }]);
      if (put.succeeded) return joined;
    }
    throw new ConflictError(`network ${spec.ident}: its definition in etcd changed under each of ${CAS_ATTEMPTS} attempts to join it; try again`);
  }

  /**
   * DeleteNetwork or a rollback: removes this host from the definition,
   * deleting it when no host is left; `ovsvlan ipam reclaim` removes the
   * reclaimed `host` the same way. Never rejects.
   */
  async leave(ident: NetworkIdent, host = this.#hostId): Promise<void> {
    const key = this.#keys.network(ident);
    if (host === this.#hostId) this.#joined.delete(ident);
    try {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const pair = await this.#kv.get(key);
        if (!pair) return;
        const found = parseDefinition(key, pair.value);
        if (!found.hosts.includes(host)) return;
        const hosts = found.hosts.filter((h) => h !== host);
        const op = hosts.length === 0 ? { op: 'delete' as const, key } : { op: 'put' as const, key, value: JSON.stringify({ ...found, hosts }) };
        const r = await this.#kv.txn([{ key, target: 'modRevision', op: '==', value: pair.modRevision }], [op]);
        if (r.succeeded) return;
      }
    } catch {
      // etcd away or a malformed definition: address sync removes this host once it can (a reclaim is run again)
    }
  }

  /** Whether this host joined `ident` within the last `ms`: asked by address sync before it leaves a network this host has no record of (yet). */
  joinedWithin(ident: NetworkIdent, ms: number): boolean {
    return Date.now() - (this.#joined.get(ident) ?? 0) < ms;
  }

  /** The definition of `ident`, or undefined; read by allocation (its reserved addresses) and by address sync. */
  async check(spec: SharedSpec): Promise<void> {
    const found = await this.get(spec.ident);
    if (found) checkAgreement(found, spec);
  }

  async get(ident: NetworkIdent): Promise<NetworkDefinition | undefined> {
    const key = this.#keys.network(ident);
    const pair = await this.#kv.get(key);
    return pair && parseDefinition(key, pair.value);
  }
}

/** One field every host must agree on: how it is named to the user and shown. */
interface Field {
  readonly option: string;
  /** what to give to agree: a flag */
  readonly flag: string;
  readonly show: (s: SharedSpec) => string;
}

const list = (values: readonly string[]): string => (values.filter(Boolean).join(',') || 'none');

const FIELDS: readonly Field[] = [
  { option: 'subnet', flag: '--subnet', show: (s) => list(s.subnets) },
  { option: 'gateway', flag: '--gateway', show: (s) => list(s.gateways) },
  { option: 'internal', flag: '--internal choice', show: (s) => String(s.internal) },
  { option: 'aux-address', flag: '--aux-address values', show: (s) => list(s.aux) },
  { option: 'remote', flag: 'remote= choice', show: (s) => (s.mesh ? 'a mesh of every host (no remote=)' : 'remote= peers (or a VLAN)') },
];

/**
 * Throws an InvalidOptionError for the first field where `spec` differs from
 * the definition found in etcd: the option as the user types it, both values,
 * and the host that defined it. The MTU must be equal when this host gives
 * one; a worked-out MTU adopts the definition's when it is not larger.
 */
export function checkAgreement(found: NetworkDefinition, spec: SharedSpec): void {
  const refuse = (option: string, theirs: string, ours: string, fix: string): never => {
    const other = found.mode === 'vlan' ? 'vlan' : found.mode === 'vxlan' ? 'VNI' : 'GRE key';
    throw new InvalidOptionError(option, `network ${found.ident} is already defined in the cluster with ${option} ${theirs} (by host ${found.createdBy}); `
      + `this one has ${ours}: ${fix}, or use another ${other}`);
  };
  if (found.mode !== spec.mode || found.tag !== spec.tag) refuse('mode', `${found.mode} ${found.tag}`, `${spec.mode} ${spec.tag}`, 'give the same mode');
  for (const f of FIELDS) {
    const theirs = f.show(found);
    const ours = f.show(spec);
    if (theirs !== ours) refuse(f.option, theirs, ours, `give the same ${f.flag}`);
  }
  if (spec.mtuExplicit ? spec.mtu !== found.mtu : found.mtu > spec.mtu) {
    const fix = spec.mtuExplicit ? `give --opt mtu=${found.mtu} (or none)` : `raise this host's underlay MTU, or give --opt mtu=${spec.mtu} on the first host`;
    refuse('mtu', String(found.mtu), `${spec.mtu}${spec.mtuExplicit ? '' : ' (this host\'s largest)'}`, fix);
  }
}

/** The definition a listed pair holds, or undefined when it is malformed (for readers that go on past it: status, reclaim, address sync). */
export function definitionOf(pair: KvPair): NetworkDefinition | undefined {
  try {
    return parseDefinition(pair.key, pair.value);
  } catch {
    return undefined;
  }
}

/** A definition as stored; a malformed one is a StoreError naming the key (never half-read). */
export function parseDefinition(key: string, text: string): NetworkDefinition {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StoreError(`the network definition at ${key} in etcd is not JSON: delete or fix that key`);
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((e) => typeof e === 'string');
  const bad = [
    typeof o['ident'] !== 'string' && 'ident', typeof o['mode'] !== 'string' && 'mode', typeof o['tag'] !== 'number' && 'tag',
    !strings(o['subnets']) && 'subnets', !strings(o['gateways']) && 'gateways', !strings(o['aux']) && 'aux',
    typeof o['mtu'] !== 'number' && 'mtu', typeof o['mtuExplicit'] !== 'boolean' && 'mtuExplicit',
    typeof o['internal'] !== 'boolean' && 'internal', typeof o['mesh'] !== 'boolean' && 'mesh',
    !strings(o['hosts']) && 'hosts', typeof o['createdBy'] !== 'string' && 'createdBy', typeof o['createdAt'] !== 'number' && 'createdAt',
  ].filter((f): f is string => f !== false);
  if (bad.length > 0) throw new StoreError(`the network definition at ${key} in etcd is malformed (${bad.join(', ')}): delete or fix that key`);
  return o as unknown as NetworkDefinition;
}
