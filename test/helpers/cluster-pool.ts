// Simulated hosts for the cluster address tests: each has its EtcdNetworks and
// EtcdAddresses on a shared Kv, and a local pool the way the IPAM keeps one
// (calls serialised per pool, local leases, the last automatic pick), without
// a daemon. Also a Kv that delays every call a little, so that hosts' calls
// interleave on the in-memory store the way they do on a real etcd.
import { format, parsePrefix, type Prefix } from '../../src/ipam/address.js';
import { EtcdAddresses } from '../../src/cluster/addresses.js';
import { EtcdNetworks } from '../../src/cluster/definitions.js';
import type { Keys } from '../../src/cluster/keys.js';
import type { Kv } from '../../src/cluster/kv.js';
import type { LocalView, SharedSpec } from '../../src/cluster/types.js';

/** A VLAN network's spec as CreateNetwork would give it. */
export function vlanSpec(tag: number, subnet: string, gateway: string, more: Partial<SharedSpec> = {}): SharedSpec {
  return { ident: `vlan.${tag}`, mode: 'vlan', tag, subnets: [subnet], gateways: [gateway], aux: [], mtu: 1500, mtuExplicit: false, internal: false, mesh: false, ...more };
}

export class SimHost {
  readonly networks: EtcdNetworks;
  readonly addresses: EtcdAddresses;
  /** ident → the addresses this host's pool leases to containers (what LocalView.held() reports) */
  readonly leases = new Map<string, Set<bigint>>();
  epoch: number | undefined;
  readonly #last = new Map<string, bigint>();
  #queue: Promise<unknown> = Promise.resolve();

  readonly id: string;

  constructor(kv: Kv, keys: Keys, id: string, epoch: number | undefined = 1) {
    this.id = id;
    this.epoch = epoch;
    this.networks = new EtcdNetworks(kv, keys, id);
    this.addresses = new EtcdAddresses(kv, keys, { hostId: id, epoch: () => this.epoch }, this.networks);
  }

  /** RequestAddress as the IPAM makes it: one at a time per host, the local lease saved before settle(). */
  request(spec: SharedSpec, wanted?: bigint, gateway?: bigint): Promise<bigint> {
    const run = async (): Promise<bigint> => {
      const prefix = parsePrefix(spec.subnets[0]!) as Prefix;
      const held = this.held(spec.ident);
      const a = await this.addresses.allocate({
        ident: spec.ident, prefix, range: prefix, wanted, last: wanted === undefined ? this.#last.get(spec.ident) : undefined,
        isTakenLocally: (v) => held.has(v) || v === gateway,
      });
      held.add(a.value);
      if (wanted === undefined) this.#last.set(spec.ident, a.value);
      a.settle();
      return a.value;
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** What address sync reads of this host: its networks (`specs`) and its pools' leases as canonical text. */
  view(specs: readonly SharedSpec[]): LocalView {
    return {
      networks: () => new Map(specs.map((s) => [s.ident, s])),
      held: () => new Map([...this.leases].map(([ident, set]) => [ident, new Set([...set].map((v) => format(4, v)))])),
    };
  }

  held(ident: string): Set<bigint> {
    const set = this.leases.get(ident) ?? new Set<bigint>();
    this.leases.set(ident, set);
    return set;
  }
}

/** A Kv whose every call waits 0-`maxMs` ms first (random), so concurrent callers interleave. */
export function jitteryKv(kv: Kv, maxMs = 3): Kv {
  const wait = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.random() * maxMs));
  return {
    get: async (key) => (await wait(), kv.get(key)),
    range: async (prefix) => (await wait(), kv.range(prefix)),
    txn: async (c, s, f) => (await wait(), kv.txn(c, s, f)),
    watch: (prefix, from, handler) => kv.watch(prefix, from, handler),
    grantLease: (ttl) => kv.grantLease(ttl),
    close: () => kv.close(),
  };
}
