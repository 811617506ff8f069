// Docker's operations as the sequences of calls dockerd makes, in its order
// (moby daemon/libnetwork network.go, endpoint.go, sandbox.go; ipams/remote):
//   docker network create: [GwAllocCheck] ([GetDefaultAddressSpaces] RequestPool, RequestAddress gateway, [aux])… CreateNetwork
//   docker run / network connect: RequestAddress…, CreateEndpoint, Join, ProgramExternalConnectivity, [EndpointOperInfo]
//   docker rm / network disconnect: [RevokeExternalConnectivity], Leave, DeleteEndpoint, ReleaseAddress…
//   docker network rm: DeleteNetwork, ReleaseAddress (gateway, aux)…, ReleasePool…
// Each is a generator: it yields a call and is resumed with the answer, and
// keeps the model (World) as the answers say. A valid call must answer 200;
// checks of what the answers hold are reported through `expect`.
import type { Json, JsonObject } from './fuzz-values.js';
import { ENDPOINT_OPTIONS, GENERIC, isObject, plain, type EpM, type NetM, type PoolM, type World } from './fuzz-world.js';

export interface Step {
  call: string;
  body: JsonObject;
}

export interface Answer {
  status: number;
  json: Json | undefined;
}

export type Op = Generator<Step, void, Answer>;
export type Expect = (ok: boolean, what: string) => void;

const field = (a: Answer, name: string): string => (isObject(a.json) && typeof a.json[name] === 'string' ? a.json[name] : '');

/** `docker network create -d ovsvlan --ipam-driver ovsvlan`, with a random shape: IPv4, dual stack or IPv6 only, VLAN or overlay. */
export function* createNetwork(w: World, expect: Expect): Op {
  const r = w.rng;
  const overlay = r.next() < 0.15;
  const families: readonly boolean[] = r.pick([[false], [false], [false], [false, true], [true]]);
  const internal = r.next() < 0.1;
  const mode = r.pick(['vxlan', 'gre'] as const);
  const net: NetM = { id: w.newId(), origin: 'valid', overlay, vlan: overlay ? undefined : w.freeNumber('vlan', 100, 2999, true),
    key: overlay ? w.freeNumber('key', 1, 99_999, true) : undefined, pools: [], gatewayV4: undefined, gatewayV6: undefined, internal, users: 1, dying: false };
  const generic: JsonObject = overlay
    ? { mode, [mode === 'vxlan' ? 'vni' : 'key']: String(net.key), remote: `198.51.100.${1 + r.int(254)}`, mtu: '1400' }
    : { vlan: String(net.vlan) };
  const options: JsonObject = { 'com.docker.network.enable_ipv6': families.includes(true), [GENERIC]: generic };
  if (r.next() < 0.5) options['com.docker.network.enable_ipv4'] = families.includes(false); // 28.0+
  if (internal) options['com.docker.network.internal'] = true;
  const skip = { v4: false, v6: false };
  if (r.next() < 0.5) { // 28.0+
    const g = yield { call: 'NetworkDriver.GwAllocCheck', body: { Options: options } };
    skip.v4 = isObject(g.json) && g.json['SkipIPv4'] === true;
    skip.v6 = isObject(g.json) && g.json['SkipIPv6'] === true;
    expect(g.status !== 200 || (skip.v4 === internal && skip.v6 === internal), 'GwAllocCheck skips the gateways of an internal network only');
  }
  const data: { IPv4Data: JsonObject[]; IPv6Data: JsonObject[] } = { IPv4Data: [], IPv6Data: [] };
  try {
    for (const v6 of families) {
      if (r.next() < 0.5) yield { call: 'IpamDriver.GetDefaultAddressSpaces', body: {} }; // 27.0+
      const subnet = !v6 && r.next() < 0.5 ? w.validSubnet() : '';
      const p = yield { call: 'IpamDriver.RequestPool', body: { AddressSpace: 'ovsvlan-local', Pool: subnet, SubPool: '', Options: {}, V6: v6 } };
      if (p.status !== 200) return yield* undoNetwork(w, net);
      // busy until CreateNetwork: no hostile call takes the gateway before Docker asks for it
      const pool = w.addPool(field(p, 'PoolID'), field(p, 'Pool'), v6, 'valid', true);
      net.pools.push(pool);
      const d: JsonObject = { AddressSpace: 'ovsvlan-local', Pool: pool.cidr };
      if (!(v6 ? skip.v6 : skip.v4)) {
        const g = yield* lease(pool, '', { RequestAddressType: 'com.docker.network.gateway' });
        if (!g) return yield* undoNetwork(w, net);
        d['Gateway'] = g;
        if (v6) net.gatewayV6 = g;
        else net.gatewayV4 = g;
      }
      // --aux-address: a printer now and then, and the host_ip (kept out of the IPAM's hands as a careful user does)
      const aux: JsonObject = {};
      const hostIp = !v6 && !overlay && pool.cidr.endsWith('/24') && r.next() < 0.25;
      for (const [name, last] of [['printer', r.next() < 0.2 ? 250 : 0], ['host', hostIp ? 254 : 0]] as const) {
        if (last === 0 || !pool.cidr.endsWith('/24')) continue;
        const a = yield* lease(pool, `${pool.cidr.split('.').slice(0, 3).join('.')}.${last}`, {});
        if (!a) return yield* undoNetwork(w, net);
        aux[name] = a;
      }
      if (hostIp && typeof aux['host'] === 'string') generic['host_ip'] = aux['host'];
      if (Object.keys(aux).length > 0) d['AuxAddresses'] = aux;
      data[v6 ? 'IPv6Data' : 'IPv4Data'].push(d);
    }
    const c = yield { call: 'NetworkDriver.CreateNetwork', body: { NetworkID: net.id, Options: options, ...data } };
    if (c.status !== 200) return yield* undoNetwork(w, net);
    w.networks.set(net.id, net);
    for (const p of net.pools) p.busy = false;
  } finally {
    net.users--;
  }
}

/** RequestAddress; the address (CIDR) once answered, leased in the model. */
function* lease(pool: PoolM, address: string, options: JsonObject | null): Generator<Step, string | undefined, Answer> {
  const a = yield { call: 'IpamDriver.RequestAddress', body: { PoolID: pool.id, Address: address, Options: options } };
  if (a.status !== 200) return undefined;
  pool.leases.set(plain(field(a, 'Address')), 'valid');
  return field(a, 'Address');
}

/** What dockerd does when `network create` fails half-way: it gives back the addresses and pools it got. */
function* undoNetwork(w: World, net: NetM): Op {
  for (const pool of net.pools) yield* releasePool(w, pool);
}

function* releasePool(w: World, pool: PoolM): Op {
  pool.dying = true;
  for (const [address, origin] of [...pool.leases]) {
    if (origin !== 'valid') continue;
    if ((yield { call: 'IpamDriver.ReleaseAddress', body: { PoolID: pool.id, Address: address } }).status === 200) pool.leases.delete(address);
  }
  if ((yield { call: 'IpamDriver.ReleasePool', body: { PoolID: pool.id } }).status === 200) w.pools.delete(pool.id);
}

/** `docker run --net N` (or `network connect`): one address per pool of the network, and a MAC now and then (25.0+). */
export function* run(w: World, net: NetM, expect: Expect): Op {
  const r = w.rng;
  net.users++;
  try {
    const addresses: EpM['addresses'] = [];
    for (const pool of net.pools) {
      const a = yield* lease(pool, '', r.next() < 0.5 ? null : {});
      if (!a) return yield* releaseAddresses(addresses);
      addresses.push({ pool, address: a });
    }
    const ep: EpM = { id: w.newId(), networkId: net.id, origin: 'valid', addresses, busy: true };
    const of = (v6: boolean): string => addresses.find((a) => a.pool.v6 === v6)?.address ?? '';
    const mac = r.next() < 0.3 ? `02:${w.hex(10).replace(/(..)(?!$)/g, '$1:')}` : '';
    const c = yield { call: 'NetworkDriver.CreateEndpoint',
      body: { NetworkID: net.id, EndpointID: ep.id, Interface: { Address: of(false), AddressIPv6: of(true), MacAddress: mac }, Options: { ...ENDPOINT_OPTIONS } } };
    if (c.status !== 200) return yield* releaseAddresses(addresses);
    const iface = isObject(c.json) && isObject(c.json['Interface']) ? c.json['Interface'] : {};
    expect(!iface['MacAddress'] && !iface['Address'] && !iface['AddressIPv6'], 'CreateEndpoint answers no address or MAC Docker gave');
    w.endpoints.set(ep.id, ep);
    const j = yield { call: 'NetworkDriver.Join', body: { NetworkID: net.id, EndpointID: ep.id, SandboxKey: `/var/run/docker/netns/${w.hex(12)}`, Options: {} } };
    if (j.status === 200 && isObject(j.json)) {
      const src = isObject(j.json['InterfaceName']) ? j.json['InterfaceName']['SrcName'] : undefined;
      expect(typeof src === 'string' && /^ovc[0-9a-f]{12}$/.test(src), `Join hands a container end ovc…, not ${JSON.stringify(src)}`);
      const gateway = net.internal ? undefined : net.gatewayV4 && plain(net.gatewayV4);
      expect(j.json['Gateway'] === gateway, `Join hands the network's own gateway ${gateway}, not ${JSON.stringify(j.json['Gateway'])}`);
      expect(!('MacAddress' in j.json), 'Join answers no MAC');
    }
    yield { call: 'NetworkDriver.ProgramExternalConnectivity',
      body: { NetworkID: net.id, EndpointID: ep.id, Options: r.next() < 0.5 ? { ...ENDPOINT_OPTIONS } : { 'com.docker.network.driver.private.no_proxy_6to4': true } } };
    if (r.next() < 0.3) yield { call: 'NetworkDriver.EndpointOperInfo', body: { NetworkID: net.id, EndpointID: ep.id } };
    ep.busy = false;
  } finally {
    net.users--;
  }
}

function* releaseAddresses(addresses: EpM['addresses']): Op {
  for (const { pool, address } of addresses) {
    if ((yield { call: 'IpamDriver.ReleaseAddress', body: { PoolID: pool.id, Address: plain(address) } }).status === 200) pool.leases.delete(plain(address));
  }
}

/** `docker rm -f` (or `network disconnect`) of one endpoint. */
export function* remove(w: World, ep: EpM): Op {
  ep.busy = true;
  const ids = { NetworkID: ep.networkId, EndpointID: ep.id };
  if (w.rng.next() < 0.5) yield { call: 'NetworkDriver.RevokeExternalConnectivity', body: { ...ids, Options: {} } };
  yield { call: 'NetworkDriver.Leave', body: ids };
  if ((yield { call: 'NetworkDriver.DeleteEndpoint', body: ids }).status !== 200) {
    ep.busy = false;
    return;
  }
  w.dropEndpoint(ep, false);
  yield* releaseAddresses(ep.addresses);
}

/** `docker network rm`: its endpoints first (a few are left for DeleteNetwork to take, as after a crash), then the network and its pools. */
export function* removeNetwork(w: World, net: NetM): Op {
  net.dying = true;
  const eps = [...w.endpoints.values()].filter((e) => e.networkId === net.id);
  for (const ep of eps) ep.busy = true;
  for (const ep of eps) if (w.rng.next() < 0.85) yield* remove(w, ep);
  if ((yield { call: 'NetworkDriver.DeleteNetwork', body: { NetworkID: net.id } }).status !== 200) return;
  w.dropNetwork(net);
  for (const pool of net.pools) yield* releasePool(w, pool);
}

/** What the broken calls that were accepted made: a few of their leases, pools, endpoints and networks go. */
export function* removeStrays(w: World): Op {
  const r = w.rng;
  const leases = [...w.pools.values()].filter((p) => !p.dying).flatMap((p) => [...p.leases].filter(([, o]) => o === 'stray').map(([a]) => ({ p, a })));
  for (const { p, a } of leases.slice(0, 3)) {
    if ((yield { call: 'IpamDriver.ReleaseAddress', body: { PoolID: p.id, Address: a } }).status === 200) p.leases.delete(a);
  }
  const pool = [...w.pools.values()].find((p) => p.origin === 'stray' && !p.dying);
  if (pool) yield* releasePool(w, pool);
  const ep = [...w.endpoints.values()].find((e) => e.origin === 'stray' && !e.busy && !w.networks.get(e.networkId)?.dying);
  if (ep) yield* remove(w, ep);
  const net = [...w.networks.values()].find((n) => n.origin === 'stray' && !n.dying && n.users === 0);
  if (net && r.next() < 0.7) yield* removeNetwork(w, net);
}

/** Everything the model holds, removed as Docker would (the end of a run). */
export function* removeAll(w: World): Op {
  for (const net of [...w.networks.values()]) yield* removeNetwork(w, net);
  for (const ep of [...w.endpoints.values()]) yield* remove(w, ep);
  for (const pool of [...w.pools.values()]) yield* releasePool(w, pool);
}
