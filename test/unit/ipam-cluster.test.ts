// The IPAM in cluster mode, through its own functions (what Docker's
// RequestAddress/ReleaseAddress reach): two hosts, each with its own records
// and IpamContext, share one in-memory etcd. Their containers never get the
// same address, --ip of another host's address names that host, releases go
// by owner, and a local save that fails leaves no key behind. With etcd frozen
// (each call hangs), requests fail within 5 s of their arrival and the pool's
// record lock (CreateEndpoint's claim) never waits on etcd.
import t, { type Test } from 'tap';
import pino from 'pino';
import { EtcdAddresses } from '../../src/cluster/addresses.js';
import { EtcdNetworks } from '../../src/cluster/definitions.js';
import { Keys } from '../../src/cluster/keys.js';
import { ClusterUnreachableError, type Kv } from '../../src/cluster/kv.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import type { DriverContext } from '../../src/driver/context.js';
import { createNetwork } from '../../src/driver/network.js';
import { ConflictError, InvalidOptionError } from '../../src/errors.js';
import { parsePrefix } from '../../src/ipam/address.js';
import { bindNetwork, claimAddresses } from '../../src/ipam/bind.js';
import { IpamDriver } from '../../src/ipam/driver.js';
import { releaseAddress, requestAddress, requestPool, type IpamContext } from '../../src/ipam/ipam.js';
import { KeyedMutex } from '../../src/lock.js';
import type { CreateNetworkReq } from '../../src/protocol/types.js';
import type { NetworkRecord } from '../../src/store/records.js';
import type { StateCache } from '../../src/store/state.js';
import { tempState } from '../helpers/temp-state.js';

const SUBNET = '10.77.0.0/24';
const IDENT = 'vlan.860';
const keys = new Keys('/test');
const log = pino({ level: 'silent' });

interface Host {
  readonly ctx: IpamContext;
  readonly state: StateCache;
  readonly poolId: string;
  readonly networkId: string;
}

/**
 * One host: its records, its network (of identity IDENT when `shared`, else of
 * its own) bound to a pool of SUBNET. Its cluster calls go through `etcd`
 * (default: `kv` itself).
 */
async function host(t: Test, kv: MemoryKv, id: string, shared = true, etcd: Kv = kv): Promise<Host> {
  const ident = shared ? IDENT : undefined;
  const state = await tempState(t, 'ipam-cluster');
  const networks = new EtcdNetworks(etcd, keys, id);
  const addresses = new EtcdAddresses(etcd, keys, { hostId: id, epoch: () => 1 }, networks);
  const ctx: IpamContext = {
    state, locks: new KeyedMutex(), log, defaults: { v4: { base: parsePrefix('10.200.0.0/16')!, bits: 24 }, v6: { base: parsePrefix('fd00::/48')!, bits: 64 } },
    cluster: { addresses, identOf: (networkId) => state.network(networkId)?.ident },
  };
  const { poolId } = await requestPool(ctx, { addressSpace: '', pool: SUBNET, subPool: '', v6: false });
  const gateway = await requestAddress(ctx, poolId, undefined, true);
  const networkId = `${id}net`.padEnd(64, '0');
  const record: NetworkRecord = {
    id: networkId, mode: 'vlan', bridge: 'ovs0', vlan: 860, mtu: 1500, key: undefined, remotes: [], uplink: undefined, nativeVlan: undefined,
    hostIp: undefined, datapath: 'system', gatewayV4: gateway.split('/')[0], gatewayV6: undefined, internal: false, subnets: [SUBNET],
    ...(ident ? { ident } : {}),
  };
  if (ident) {
    await networks.join({ ident, mode: 'vlan', tag: 860, subnets: [SUBNET], gateways: [gateway.split('/')[0]!], aux: [], mtu: 1500,
      mtuExplicit: false, internal: false, mesh: false });
  }
  await state.putNetwork(record);
  await bindNetwork(ctx, networkId, [{ pool: SUBNET, gateway, aux: {} }]);
  return { ctx, state, poolId, networkId };
}

/** A Kv that, once frozen, hangs each call HANG_MS and then fails it, as the etcd store does when no member answers. */
const HANG_MS = 2_000;
class FreezableKv implements Kv {
  frozen = false;
  readonly #kv: Kv;
  constructor(kv: Kv) {
    this.#kv = kv;
  }
  async #call<T>(f: () => Promise<T>): Promise<T> {
    if (!this.frozen) return f();
    await new Promise((r) => setTimeout(r, HANG_MS));
    throw new ClusterUnreachableError(`no answer within ${HANG_MS / 1000} s (test freeze)`);
  }
  get: Kv['get'] = (key) => this.#call(() => this.#kv.get(key));
  range: Kv['range'] = (prefix) => this.#call(() => this.#kv.range(prefix));
  txn: Kv['txn'] = (compares, success, failure) => this.#call(() => this.#kv.txn(compares, success, failure));
  watch: Kv['watch'] = (prefix, from, handler) => this.#call(() => this.#kv.watch(prefix, from, handler));
  grantLease: Kv['grantLease'] = (ttl) => this.#call(() => this.#kv.grantLease(ttl));
  close: Kv['close'] = () => this.#kv.close();
}

/** `p`, with whether it has settled yet. */
function tracked<T>(p: Promise<T>): { readonly p: Promise<T>; settled(): boolean } {
  let done = false;
  const q = p.finally(() => (done = true));
  q.catch(() => undefined);
  return { p: q, settled: () => done };
}

/** Address (no mask) → host id, as etcd holds them. */
async function held(kv: MemoryKv): Promise<Map<string, string>> {
  const { pairs } = await kv.range(keys.addresses(IDENT));
  return new Map(pairs.map((p) => [keys.parseAddress(p.key)!.address, (JSON.parse(p.value) as { host: string }).host]));
}

const bare = (cidr: string): string => cidr.split('/')[0]!;

t.test('two hosts on one subnet: distinct addresses, --ip of the other host\'s refused naming it, releases by owner', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = await host(t, kv, 'host-a');
  const b = await host(t, kv, 'host-b');
  // 20 containers each, at the same moment
  const [fromA, fromB] = await Promise.all([a, b].map((h) =>
    Promise.all(Array.from({ length: 20 }, () => requestAddress(h.ctx, h.poolId, undefined, false)))));
  const all = [...fromA!, ...fromB!].map(bare);
  t.equal(new Set(all).size, 40, 'no address twice across the hosts');
  t.notOk(all.includes('10.77.0.1'), 'the gateway (the definition\'s) is never a container\'s');
  const inEtcd = await held(kv);
  t.same([...fromA!.map(bare)].map((x) => inEtcd.get(x)), Array(20).fill('host-a'), 'etcd names host-a for its addresses');
  t.same([...fromB!.map(bare)].map((x) => inEtcd.get(x)), Array(20).fill('host-b'));

  const theirs = bare(fromA![0]!);
  const err = await requestAddress(b.ctx, b.poolId, theirs, false).catch((e: unknown) => e);
  t.ok(err instanceof ConflictError, '--ip of host-a\'s address on host-b: a conflict');
  t.match((err as Error).message, new RegExp(`address ${theirs.replace(/\./g, '\\.')} is already in use by a container on host host-a`));
  t.notOk(b.state.pool(b.poolId)!.leases[theirs], 'and host-b saved no lease of it');

  const replay = await requestAddress(a.ctx, a.poolId, bare(fromA![1]!), false).catch((e: unknown) => e);
  t.match(replay, ConflictError, '--ip of an address this host\'s own container holds fails as in local mode');

  await b.ctx.cluster!.addresses.release(IDENT, theirs);
  t.equal((await held(kv)).get(theirs), 'host-a', 'host-b cannot release host-a\'s address');
  await releaseAddress(a.ctx, a.poolId, theirs);
  t.equal((await held(kv)).has(theirs), false, 'host-a\'s release frees it in etcd');
  t.equal(bare(await requestAddress(b.ctx, b.poolId, theirs, false)), theirs, 'and host-b may take it now');
  t.equal((await held(kv)).get(theirs), 'host-b');
});

t.test('a local save that fails gives the address back in etcd; etcd unreachable fails the request and saves nothing', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = await host(t, kv, 'host-a');
  const before = await held(kv);
  const real = a.state.changeLeases.bind(a.state);
  a.state.changeLeases = async () => {
    throw new Error('disk full');
  };
  await t.rejects(requestAddress(a.ctx, a.poolId, undefined, false), /disk full/);
  a.state.changeLeases = real;
  t.same(await held(kv), before, 'no key left without its local lease');

  kv.setUnreachable(true);
  const started = Date.now();
  await t.rejects(requestAddress(a.ctx, a.poolId, undefined, false), /etcd unreachable/);
  t.ok(Date.now() - started < 5_000, 'fails within 5 s');
  t.same(Object.keys(a.state.pool(a.poolId)!.leases), ['10.77.0.1'], 'only the gateway is leased locally');
  kv.setUnreachable(false);
  const address = bare(await requestAddress(a.ctx, a.poolId, undefined, false));
  t.equal((await held(kv)).get(address), 'host-a', 'works again once etcd answers');
});

t.test('a network of this host alone (no identity) and gateways stay local', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = await host(t, kv, 'host-a', false);
  const b = await host(t, kv, 'host-b', false);
  const x = await requestAddress(a.ctx, a.poolId, undefined, false);
  const y = await requestAddress(b.ctx, b.poolId, undefined, false);
  t.equal(x, y, 'two networks of their own hand out the same address, as in local mode');
  t.equal((await kv.range(keys.addresses())).pairs.length, 0, 'nothing in etcd');
});

t.test('etcd frozen: three queued requests each fail within 5 s of their arrival', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const etcd = new FreezableKv(kv);
  const a = await host(t, kv, 'host-a', true, etcd);
  etcd.frozen = true;
  const outcomes = await Promise.all([0, 1, 2].map(async () => {
    const arrived = Date.now();
    const err = await requestAddress(a.ctx, a.poolId, undefined, false).then(() => undefined, (e: unknown) => e);
    return { err, after: Date.now() - arrived };
  }));
  for (const [i, { err, after }] of outcomes.entries()) {
    t.match(err, ClusterUnreachableError, `request ${i + 1} fails with the etcd error`);
    t.match((err as Error).message, /^etcd unreachable: /);
    t.ok(after < 5_000, `request ${i + 1} failed ${after} ms after it arrived (within 5 s)`);
  }
  t.same(Object.keys(a.state.pool(a.poolId)!.leases), ['10.77.0.1'], 'nothing leased locally');
});

t.test('etcd frozen: CreateEndpoint\'s claim and ReleaseAddress never wait for a request hanging on etcd', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const etcd = new FreezableKv(kv);
  const a = await host(t, kv, 'host-a', true, etcd);
  const first = bare(await requestAddress(a.ctx, a.poolId, undefined, false));
  const second = bare(await requestAddress(a.ctx, a.poolId, undefined, false));
  etcd.frozen = true;
  const hanging = tracked(requestAddress(a.ctx, a.poolId, undefined, false));
  await claimAddresses(a.ctx, a.networkId, 'e1'.padEnd(64, '0'), [`${first}/24`]);
  t.notOk(hanging.settled(), 'the claim of an address leased before the freeze completed while the request still waits on etcd');
  t.equal(a.state.pool(a.poolId)!.leases[first]?.kind, 'endpoint', 'and the address is the endpoint\'s');

  const release = tracked(releaseAddress(a.ctx, a.poolId, second));
  await claimAddresses(a.ctx, a.networkId, 'e2'.padEnd(64, '0'), [`${first}/24`]);
  t.notOk(release.settled(), 'a claim during a ReleaseAddress waiting on etcd completes first: the release holds no pool lock across etcd');
  t.notOk(a.state.pool(a.poolId)!.leases[second], 'the local lease is gone at once');
  await release.p;
  await t.rejects(hanging.p, /etcd unreachable/);
  etcd.frozen = false;
  t.equal((await held(kv)).get(second), 'host-a', 'the etcd key waits for address sync (etcd did not answer the release)');
});

t.test('cluster mode: CreateNetwork of a network whose subnet is not an ovsvlan pool is refused before the join', async (t) => {
  const state = await tempState(t, 'ipam-cluster-foreign');
  const ctx: IpamContext = {
    state, locks: new KeyedMutex(), log, defaults: { v4: { base: parsePrefix('10.200.0.0/16')!, bits: 24 }, v6: { base: parsePrefix('fd00::/48')!, bits: 64 } },
  };
  const joins: string[] = [];
  const joined = new Error('joined (the test stops here)');
  // only what CreateNetwork may touch before the join; anything else (OVS, the data plane, records) throws
  const given: Partial<DriverContext> = {
    ipam: new IpamDriver(ctx), locks: ctx.locks, state, log, defaultBridge: 'ovs0',
    // the VLAN check looks the bridge up: an OVS bridge (only this method is reached before the join)
    vswitch: { getBridge: async () => ({ name: 'ovs0' }) } as unknown as DriverContext['vswitch'],
    cluster: {
      underlayIp: '192.0.2.1', underlayMtu: 1500, kickMesh: () => undefined,
      networks: {
        join: async (spec) => {
          joins.push(spec.ident);
          throw joined;
        },
        leave: async () => undefined,
        get: async () => undefined,
        check: async () => undefined,
      },
    },
  };
  const driver = new Proxy(given, {
    get: (target, prop) => {
      if (prop in target) return target[prop as keyof typeof target];
      throw new Error(`CreateNetwork touched ${String(prop)} before it was refused`);
    },
  }) as DriverContext;
  // docker network create -d ovsvlan --subnet 10.77.0.0/24 -o vlan=860 (Docker's default IPAM: no RequestPool reached ovsvlan)
  const req = (networkId: string): CreateNetworkReq => ({
    networkId, generic: { vlan: '860' }, internal: false, ipv4: [{ pool: SUBNET, gateway: '10.77.0.1/24', aux: {} }], ipv6: [],
  });
  const err = await createNetwork(driver, req('a'.repeat(64))).catch((e: unknown) => e);
  t.match(err, InvalidOptionError, 'refused');
  t.match((err as Error).message, /--ipam-driver ovsvlan/, 'naming --ipam-driver ovsvlan');
  t.match((err as Error).message, /10\.77\.0\.0\/24/, 'and the subnet');
  t.match((err as Error).message, /same addresses on every host/, 'and why');
  t.same(joins, [], 'the definition was not joined (nothing written in etcd)');
  t.same(state.networks(), [], 'no network record');

  // the same with --ipam-driver ovsvlan: the pool is ovsvlan's, and CreateNetwork goes on to the join
  const { poolId } = await requestPool(ctx, { addressSpace: '', pool: SUBNET, subPool: '', v6: false });
  await requestAddress(ctx, poolId, undefined, true);
  await t.rejects(createNetwork(driver, req('b'.repeat(64))), joined);
  t.same(joins, [IDENT], 'with an ovsvlan pool the definition is joined');
});
