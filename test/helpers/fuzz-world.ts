// The fuzz test's model of what ovsvlan holds: every network, endpoint, pool
// and lease that a call answered 200 for, made by Docker's own sequence of
// valid calls ("valid") or by a broken call that was still accepted ("stray").
// From it come the templates the hostile requests break: valid calls on live
// objects. Objects about to go (`dying`) or in use by a valid sequence
// (`busy`) are never the target of a call that could remove them.
import type { Field, Json, JsonObject, Rng, Template } from './fuzz-values.js';

export type Origin = 'valid' | 'stray';

export interface PoolM {
  id: string;
  cidr: string;
  v6: boolean;
  /** plain address → who asked for it */
  leases: Map<string, Origin>;
  origin: Origin;
  dying: boolean;
  /** a valid sequence is making its network */
  busy: boolean;
}

export interface NetM {
  id: string;
  origin: Origin;
  overlay: boolean;
  /** VLAN or VNI/GRE key it holds in the model (never given to another network while it lives) */
  vlan: number | undefined;
  key: number | undefined;
  pools: PoolM[];
  /** CIDR, as RequestAddress answered it */
  gatewayV4: string | undefined;
  gatewayV6: string | undefined;
  internal: boolean;
  /** valid sequences working on it */
  users: number;
  dying: boolean;
}

export interface EpM {
  id: string;
  networkId: string;
  origin: Origin;
  addresses: Array<{ pool: PoolM; address: string }>;
  busy: boolean;
}

export const GENERIC = 'com.docker.network.generic';
/** What dockerd 20.10 puts in an endpoint's Options (port maps are the big ones). */
export const ENDPOINT_OPTIONS: JsonObject = { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] };

export const plain = (cidr: string): string => cidr.split('/')[0] ?? '';

export class World {
  readonly rng: Rng;
  readonly networks = new Map<string, NetM>();
  readonly endpoints = new Map<string, EpM>();
  readonly pools = new Map<string, PoolM>();
  /** VLANs and overlay keys held by a network or a sequence about to create one */
  readonly numbers = new Set<string>();
  #subnets = 0;
  #strayPools = 0;
  #strayNets = 0;

  constructor(rng: Rng) {
    this.rng = rng;
  }

  hex(chars: number): string {
    let s = '';
    while (s.length < chars) s += Math.floor(this.rng.next() * 2 ** 32).toString(16).padStart(8, '0');
    return s.slice(0, chars);
  }

  /** A Docker ID (64 hex); with `like`, an unknown one sharing its first `shared` characters. */
  newId(like?: string, shared = 12): string {
    return like ? `${like.slice(0, shared)}${this.hex(64 - shared)}` : this.hex(64);
  }

  /** A VLAN (or key) in [lo, hi] held by no network of the model; with `hold`, held from now on. */
  freeNumber(kind: 'vlan' | 'key', lo: number, hi: number, hold: boolean): number {
    for (;;) {
      const n = lo + this.rng.int(hi - lo + 1);
      if (this.numbers.has(`${kind}${n}`)) continue;
      if (hold) this.numbers.add(`${kind}${n}`);
      return n;
    }
  }

  /** A /24 for a valid network's --subnet, never handed out twice (so no two pools share a subnet). */
  validSubnet(): string {
    return `10.13.${this.#subnets++ % 256}.0/24`;
  }

  addPool(id: string, cidr: string, v6: boolean, origin: Origin, busy = false): PoolM {
    const p: PoolM = { id, cidr, v6, leases: new Map(), origin, dying: false, busy };
    this.pools.set(id, p);
    return p;
  }

  /** A network's removal as DeleteNetwork does it: its endpoints and their leases go too. */
  dropNetwork(net: NetM): void {
    for (const ep of [...this.endpoints.values()].filter((e) => e.networkId === net.id)) this.dropEndpoint(ep, true);
    this.networks.delete(net.id);
    if (net.vlan !== undefined) this.numbers.delete(`vlan${net.vlan}`);
    if (net.key !== undefined) this.numbers.delete(`key${net.key}`);
  }

  dropEndpoint(ep: EpM, withLeases: boolean): void {
    this.endpoints.delete(ep.id);
    if (withLeases) for (const a of ep.addresses) a.pool.leases.delete(plain(a.address));
  }

  #live<T extends { dying?: boolean; busy?: boolean }>(items: Iterable<T>, ok: (x: T) => boolean = () => true): T[] {
    return [...items].filter((x) => !x.dying && !x.busy && ok(x));
  }

  #pickOr<T>(items: T[]): T | undefined {
    return items.length > 0 ? this.rng.pick(items) : undefined;
  }

  /** A template of a valid call on live objects (or one that makes new ones), for a hostile request to break. */
  template(): Template {
    const r = this.rng;
    const nets = this.#live(this.networks.values());
    const net = this.#pickOr(nets);
    const other = (id: string | undefined): string | undefined => this.#pickOr(nets.filter((n) => n.id !== id))?.id;
    const eps = this.#live(this.endpoints.values(), (e) => !this.networks.get(e.networkId)?.dying);
    const ep = this.#pickOr(eps);
    const pools = this.#live(this.pools.values());
    const pool = this.#pickOr(pools);
    const leased = this.#pickOr(pools.flatMap((p) => [...p.leases.keys()].map((a) => ({ p, a }))));
    // every endpoint call is refused with another network's ID; Leave and EndpointOperInfo have no Options to read
    const epFields = (e: EpM, call: string): Field[] => [
      { path: ['NetworkID'], kind: 'networkId', peer: other(e.networkId), peerRefused: true },
      { path: ['EndpointID'], kind: 'endpointId', similar: this.newId(e.id) },
      ...(call === 'NetworkDriver.DeleteEndpoint' ? [] : [{ path: ['Options'], kind: 'map', ignored: /Leave|OperInfo/.test(call) } as const]),
    ];
    const endpointCall = r.pick(['NetworkDriver.Leave', 'NetworkDriver.EndpointOperInfo', 'NetworkDriver.ProgramExternalConnectivity', 'NetworkDriver.RevokeExternalConnectivity']);
    const choices: Array<() => Template | undefined> = [
      () => this.#createNetwork(net),
      () => net && this.#createEndpoint(net, other(net.id), this.#pickOr(eps.filter((e) => e.networkId !== net.id))?.id),
      () => ep && { call: 'NetworkDriver.Join', destructive: false, fields: [...epFields(ep, 'NetworkDriver.Join'), { path: ['SandboxKey'], kind: 'path' }],
        body: { NetworkID: ep.networkId, EndpointID: ep.id, SandboxKey: `/var/run/docker/netns/${this.hex(12)}`, Options: {} } },
      () => ep && { call: endpointCall, destructive: false, fields: epFields(ep, endpointCall),
        body: { NetworkID: ep.networkId, EndpointID: ep.id, Options: { ...ENDPOINT_OPTIONS } } },
      () => ep && { call: 'NetworkDriver.DeleteEndpoint', destructive: true, fields: epFields(ep, 'NetworkDriver.DeleteEndpoint'), body: { NetworkID: ep.networkId, EndpointID: ep.id } },
      () => net && { call: 'NetworkDriver.DeleteNetwork', destructive: true, body: { NetworkID: net.id },
        fields: [{ path: ['NetworkID'], kind: 'networkId', similar: this.newId(net.id, net.overlay ? 10 : 12) }] },
      () => net && { call: r.pick(['NetworkDriver.AllocateNetwork', 'NetworkDriver.FreeNetwork']), destructive: false, body: { NetworkID: net.id, Options: {} },
        fields: [{ path: ['NetworkID'], kind: 'networkId', peer: other(net.id) }, { path: ['Options'], kind: 'map', ignored: true }] },
      () => ({ call: 'NetworkDriver.GwAllocCheck', destructive: false, body: { Options: { [GENERIC]: {}, 'com.docker.network.internal': r.next() < 0.5 } },
        fields: [{ path: ['Options'], kind: 'map' }, { path: ['Options', 'com.docker.network.internal'], kind: 'bool' }] }),
      () => this.#requestPool(),
      () => pool && { call: 'IpamDriver.RequestAddress', destructive: false, body: { PoolID: pool.id, Address: '', Options: null },
        fields: [{ path: ['PoolID'], kind: 'poolId', similar: `${pool.cidr}#${this.hex(8)}` }, { path: ['Address'], kind: 'address' }, { path: ['Options'], kind: 'map' }] },
      () => leased && { call: 'IpamDriver.ReleaseAddress', destructive: true, body: { PoolID: leased.p.id, Address: leased.a },
        fields: [{ path: ['PoolID'], kind: 'poolId', peer: this.#pickOr(pools.filter((p) => p !== leased.p))?.id }, { path: ['Address'], kind: 'address' }] },
      () => pool && { call: 'IpamDriver.ReleasePool', destructive: true, body: { PoolID: pool.id },
        fields: [{ path: ['PoolID'], kind: 'poolId', similar: `${pool.cidr}#${this.hex(8)}` }] },
    ];
    for (;;) {
      const t = r.pick(choices)();
      if (t) return t;
    }
  }

  /** A new network on its own VLAN (or overlay key) and a subnet no pool of ovsvlan holds (another IPAM driver's). */
  #createNetwork(net: NetM | undefined): Template {
    const r = this.rng;
    const overlay = r.next() < 0.25;
    const n = this.#strayNets++ % 250;
    const generic: JsonObject = overlay
      ? { mode: 'vxlan', vni: String(this.freeNumber('key', 100_000, 16_000_000, false)), remote: `192.0.2.${1 + n}`, mtu: '1450' }
      : { vlan: String(this.freeNumber('vlan', 3000, 4094, false)) };
    const like = this.#pickOr([...this.networks.values()].filter((x) => x.overlay === overlay))?.id;
    const g: readonly (string | number)[] = ['Options', GENERIC];
    const fields: Field[] = [
      { path: ['NetworkID'], kind: 'networkId', peer: net?.id, peerRefused: true, similar: like && this.newId(like, overlay ? 10 : 12) },
      { path: ['Options'], kind: 'map' }, { path: g, kind: 'map' },
      { path: [...g, overlay ? 'vni' : 'vlan'], kind: 'option' }, { path: [...g, 'mtu'], kind: 'option' }, { path: [...g, 'bridge'], kind: 'text' },
      { path: [...g, 'host_ip'], kind: 'cidr' }, { path: [...g, 'remote'], kind: 'text' }, { path: [...g, 'mode'], kind: 'text' },
      { path: ['Options', 'com.docker.network.enable_ipv6'], kind: 'bool' }, { path: ['Options', 'com.docker.network.internal'], kind: 'bool' },
      { path: ['IPv4Data'], kind: 'list' }, { path: ['IPv4Data', 0, 'Pool'], kind: 'subnet' }, { path: ['IPv4Data', 0, 'Gateway'], kind: 'cidr', family: 4 },
      { path: ['IPv4Data', 0, 'AuxAddresses'], kind: 'map' }, { path: ['IPv6Data'], kind: 'list' },
    ];
    const body: JsonObject = {
      NetworkID: this.newId(), Options: { 'com.docker.network.enable_ipv4': true, 'com.docker.network.enable_ipv6': false, [GENERIC]: generic },
      IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: `172.16.${n}.0/24`, Gateway: `172.16.${n}.1/24`, AuxAddresses: {} }], IPv6Data: [],
    };
    return { call: 'NetworkDriver.CreateNetwork', destructive: false, body, fields };
  }

  /** A new endpoint on `net`, with an address taken already (its gateway, or another endpoint's): it claims no lease. */
  #createEndpoint(net: NetM, otherNet: string | undefined, otherEp: string | undefined): Template {
    const taken = (v6: boolean): string => (v6 ? net.gatewayV6 : net.gatewayV4)
      ?? this.#pickOr([...this.endpoints.values()].filter((e) => e.networkId === net.id).flatMap((e) => e.addresses.filter((a) => a.pool.v6 === v6)))?.address ?? '';
    const like = this.#pickOr([...this.endpoints.values()])?.id;
    const body: JsonObject = { NetworkID: net.id, EndpointID: this.newId(),
      Interface: { Address: taken(false), AddressIPv6: taken(true), MacAddress: '' }, Options: { ...ENDPOINT_OPTIONS } };
    const fields: Field[] = [
      { path: ['NetworkID'], kind: 'networkId', peer: otherNet },
      { path: ['EndpointID'], kind: 'endpointId', peer: otherEp, peerRefused: true, similar: like && this.newId(like) },
      { path: ['Interface'], kind: 'map' }, { path: ['Interface', 'Address'], kind: 'cidr', family: 4 }, { path: ['Interface', 'AddressIPv6'], kind: 'cidr', family: 6 },
      { path: ['Interface', 'MacAddress'], kind: 'mac' }, { path: ['Options'], kind: 'map' },
    ];
    return { call: 'NetworkDriver.CreateEndpoint', destructive: false, body, fields };
  }

  /** A new pool: a /28 of 10.14.0.0/16 no other pool has, or a default one. */
  #requestPool(): Template {
    const k = this.#strayPools++ % 4096;
    const v6 = this.rng.next() < 0.2;
    const pool = v6 ? '' : this.rng.next() < 0.3 ? '' : `10.14.${k >> 4}.${(k & 15) << 4}/28`;
    const body: JsonObject = { AddressSpace: 'ovsvlan-local', Pool: pool, SubPool: '', Options: {}, V6: v6 };
    const fields: Field[] = [{ path: ['AddressSpace'], kind: 'text' }, { path: ['Pool'], kind: 'subnet' }, { path: ['SubPool'], kind: 'subnet' },
      { path: ['Options'], kind: 'map' }, { path: ['V6'], kind: 'bool' }];
    return { call: 'IpamDriver.RequestPool', destructive: false, body, fields };
  }

  /** What a hostile call that was still accepted made: it joins the model as a stray, to be removed like the rest. */
  learn(call: string, body: Json | undefined, answer: Json | undefined): void {
    const b = isObject(body) ? body : {};
    const a = isObject(answer) ? answer : {};
    const str = (v: Json | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    if (call === 'NetworkDriver.CreateNetwork' && str(b['NetworkID']) && !this.networks.has(String(b['NetworkID']))) {
      const generic = isObject(b['Options']) && isObject(b['Options'][GENERIC]) ? b['Options'][GENERIC] : {};
      const overlay = typeof generic['mode'] === 'string' && generic['mode'] !== 'vlan';
      const number = (v: Json | undefined): number | undefined => (typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : undefined);
      const vlan = overlay ? undefined : number(generic['vlan']);
      const key = overlay ? number(generic['vni'] ?? generic['key']) : undefined;
      if (vlan !== undefined) this.numbers.add(`vlan${vlan}`);
      if (key !== undefined) this.numbers.add(`key${key}`);
      this.networks.set(String(b['NetworkID']), { id: String(b['NetworkID']), origin: 'stray', overlay, vlan, key, pools: [],
        gatewayV4: undefined, gatewayV6: undefined, internal: false, users: 0, dying: false });
    } else if (call === 'NetworkDriver.CreateEndpoint') {
      const id = str(b['EndpointID']);
      const net = this.networks.get(str(b['NetworkID']) ?? '');
      if (id && net && !net.dying && !this.endpoints.has(id)) this.endpoints.set(id, { id, networkId: net.id, origin: 'stray', addresses: [], busy: false });
    } else if (call === 'IpamDriver.RequestPool' && str(a['PoolID']) && str(a['Pool'])) {
      this.addPool(String(a['PoolID']), String(a['Pool']), b['V6'] === true, 'stray');
    } else if (call === 'IpamDriver.RequestAddress' && str(a['Address'])) {
      this.pools.get(str(b['PoolID']) ?? '')?.leases.set(plain(String(a['Address'])), 'stray');
    }
  }
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
