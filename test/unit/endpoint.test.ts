// CreateEndpoint owns its address claim (src/driver/endpoint.ts): the record
// and the claim are started together (one save), and when either fails both
// are taken back with what the call made: a spare goes back to the pool, a
// pair made for the endpoint is removed. A spare is checked in OVS before the
// record names it, and re-marked only after the answer (claimLater); an empty
// pool with a refill under way hands out one of the refill's spares. Fakes stand in for the records, the
// data plane and the IPAM: this is the sequencing alone (the steps themselves
// are tested against real OVS in test/e2e/).
import t from 'tap';
import { pino } from 'pino';
import { createEndpoint, deleteEndpoint } from '../../src/driver/endpoint.js';
import type { DriverContext } from '../../src/driver/context.js';
import { KeyedMutex } from '../../src/lock.js';
import { linkLockKey } from '../../src/dataplane/endpoint.js';
import type { EndpointRecord, NetworkRecord } from '../../src/store/records.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const net = { id: NET, mode: 'vlan', bridge: 'br', vlan: 10, mtu: 1500, remotes: [], datapath: 'netdev' } as unknown as NetworkRecord;
const SPARE = { host: 'ovh000000000001', container: 'ovc000000000001', networkId: NET };

type Fail = 'put' | 'claim' | undefined;

function world(opts: { fail?: Fail; spare?: boolean; known?: boolean; portGone?: boolean; refilling?: boolean } = {}) {
  const calls: string[] = [];
  const endpoints = new Map<string, EndpointRecord>();
  if (opts.known) endpoints.set(EP, { id: EP, networkId: NET, hostIf: 'ovhx', containerIf: 'ovcx', addressV4: '10.1.0.5/24', addressV6: undefined, createdAt: 1 });
  let spare = opts.spare ? SPARE : undefined;
  const state = {
    requireNetwork: () => net,
    endpoint: (id: string) => endpoints.get(id),
    endpoints: () => [...endpoints.values()],
    endpointsByLink: (name: string) => [...endpoints.values()].filter((e) => e.hostIf === name || e.containerIf === name),
    putEndpoint: async (e: EndpointRecord) => {
      calls.push('putEndpoint');
      await Promise.resolve();
      if (opts.fail === 'put') throw new Error('put: cannot save');
      endpoints.set(e.id, e);
    },
    removeEndpoint: async (id: string) => void (calls.push('removeEndpoint'), endpoints.delete(id)),
  };
  const plane = {
    settled: async () => undefined,
    takeSpare: () => {
      const s = spare;
      spare = undefined;
      calls.push(`takeSpare ${s ? 'got' : 'none'}`);
      return s;
    },
    awaitSpare: async () => {
      calls.push(`awaitSpare ${opts.refilling ? 'got' : 'none'}`);
      return opts.refilling ? SPARE : undefined;
    },
    isAttached: async () => {
      calls.push('isAttached');
      return !opts.portGone;
    },
    discardSpare: () => void calls.push('discardSpare'),
    returnSpare: () => void calls.push('returnSpare'),
    undoHandOut: async () => void calls.push('undoHandOut'),
    wireEndpoint: async () => void calls.push('wireEndpoint'),
    unwireQuietly: async () => void calls.push('unwireQuietly'),
    claimLater: (e: EndpointRecord) => void calls.push(`claimLater ${endpoints.has(e.id) ? 'saved' : 'unsaved'}`),
    refill: () => void calls.push('refill'),
    detachLater: (_ep: EndpointRecord, recorded: boolean) => void calls.push(`detachLater ${recorded}`),
  };
  const ipam = {
    claimAddresses: async () => {
      calls.push('claimAddresses');
      if (opts.fail === 'claim') throw new Error('claim: cannot save');
    },
  };
  const ctx = { state, plane, ipam, locks: new KeyedMutex(), log: pino({ level: 'silent' }) } as unknown as DriverContext;
  return { calls, ctx, endpoints };
}

const req = { networkId: NET, endpointId: EP, addressV4: '10.1.0.5/24', addressV6: undefined, macAddress: undefined };

t.test('with a spare: its port checked, record and claim together, then the re-mark (after the save) and the refill', async (t) => {
  const { calls, ctx, endpoints } = world({ spare: true });
  t.same(await createEndpoint(ctx, req), { created: true });
  t.same(calls, ['takeSpare got', 'isAttached', 'putEndpoint', 'claimAddresses', 'claimLater saved', 'refill']);
  t.equal(endpoints.get(EP)?.hostIf, SPARE.host, 'the record names the spare');
});

t.test('the pool empty while a refill makes spares: one of the refill\'s is handed out, no pair of its own', async (t) => {
  const { calls, ctx, endpoints } = world({ refilling: true });
  t.same(await createEndpoint(ctx, req), { created: true });
  t.same(calls, ['takeSpare none', 'awaitSpare got', 'isAttached', 'putEndpoint', 'claimAddresses', 'claimLater saved', 'refill']);
  t.equal(endpoints.get(EP)?.hostIf, SPARE.host, 'the record names the refill\'s spare');
});

t.test('a spare whose port is gone (OVS wiped, not reconciled yet) is discarded; the endpoint gets its own pair before the answer', async (t) => {
  const { calls, ctx, endpoints } = world({ spare: true, portGone: true });
  t.same(await createEndpoint(ctx, req), { created: true });
  t.same(calls, ['takeSpare got', 'isAttached', 'discardSpare', 'wireEndpoint', 'putEndpoint', 'claimAddresses', 'refill']);
  t.not(endpoints.get(EP)?.hostIf, SPARE.host, 'the record names a pair of its own');
});

t.test('without a spare and no refill under way: the pair is made and attached before the record', async (t) => {
  const { calls, ctx } = world();
  await createEndpoint(ctx, req);
  t.same(calls, ['takeSpare none', 'awaitSpare none', 'wireEndpoint', 'putEndpoint', 'claimAddresses', 'refill']);
});

t.test('a failed claim takes the record back, and the spare goes back to the pool', async (t) => {
  const { calls, ctx, endpoints } = world({ spare: true, fail: 'claim' });
  await t.rejects(createEndpoint(ctx, req), /claim: cannot save/);
  t.same(calls, ['takeSpare got', 'isAttached', 'putEndpoint', 'claimAddresses', 'removeEndpoint', 'undoHandOut']);
  t.notOk(endpoints.has(EP));
});

t.test('a failed claim without a spare removes the pair made for it', async (t) => {
  const { calls, ctx } = world({ fail: 'claim' });
  await t.rejects(createEndpoint(ctx, req), /claim: cannot save/);
  t.same(calls, ['takeSpare none', 'awaitSpare none', 'wireEndpoint', 'putEndpoint', 'claimAddresses', 'removeEndpoint', 'unwireQuietly']);
});

t.test('a failed save of the record: the spare goes back, nothing is re-marked', async (t) => {
  const { calls, ctx } = world({ spare: true, fail: 'put' });
  await t.rejects(createEndpoint(ctx, req), /put: cannot save/);
  t.same(calls, ['takeSpare got', 'isAttached', 'putEndpoint', 'claimAddresses', 'undoHandOut']);
});

t.test('a retry that finds the endpoint made already: a failed claim leaves it in place', async (t) => {
  const { calls, ctx, endpoints } = world({ known: true, fail: 'claim' });
  await t.rejects(createEndpoint(ctx, req), /claim: cannot save/);
  t.same(calls, ['wireEndpoint', 'putEndpoint', 'claimAddresses']);
  t.ok(endpoints.has(EP));
});

t.test('a CreateEndpoint of an existing endpoint with other addresses is refused and changes nothing', async (t) => {
  const { calls, ctx, endpoints } = world({ known: true });
  await t.rejects(createEndpoint(ctx, { ...req, addressV4: '10.1.0.6/24' }), /exists with Interface\.Address 10\.1\.0\.5\/24, not 10\.1\.0\.6\/24/);
  await t.rejects(createEndpoint(ctx, { ...req, addressV6: 'fd00::5/64' }), /Interface\.AddressIPv6 \(none\), not fd00::5\/64/);
  t.same(calls, [], 'nothing wired, saved or claimed');
  t.equal(endpoints.get(EP)?.addressV4, '10.1.0.5/24', 'the record keeps its address');
  t.same(await createEndpoint(ctx, req), { created: false }, 'a retry with the same addresses is answered');
});

t.test('a retry\'s addresses are compared with the record as it is under the link\'s lock, not as it was before', async (t) => {
  const { calls, ctx, endpoints } = world({ known: true });
  let release = (): void => undefined;
  const held = new Promise<void>((r) => { release = r; });
  const holder = ctx.locks.run(linkLockKey('ovhx'), () => held); // another change of this endpoint's link under way
  const retry = createEndpoint(ctx, req); // the addresses the record has now
  await new Promise((r) => setImmediate(r));
  const known = endpoints.get(EP);
  if (known) endpoints.set(EP, { ...known, addressV4: '10.1.0.7/24' }); // changed by the holder of the lock
  release();
  await holder;
  await t.rejects(retry, /exists with Interface\.Address 10\.1\.0\.7\/24, not 10\.1\.0\.5\/24/);
  t.same(calls, [], 'nothing wired, saved or claimed');
  t.equal(endpoints.get(EP)?.addressV4, '10.1.0.7/24', 'the record is not overwritten');
});

t.test('DeleteEndpoint: the record goes before the answer, port and veth after it', async (t) => {
  const { calls, ctx, endpoints } = world({ known: true });
  await deleteEndpoint(ctx, NET, EP);
  t.same(calls, ['removeEndpoint', 'detachLater true']);
  t.notOk(endpoints.has(EP));
  await deleteEndpoint(ctx, NET, 'c'.repeat(64));
  t.same(calls.slice(2), ['detachLater false'], 'an unknown endpoint: only what is marked as its own, in the background');
});

t.test('one endpoint ID created on two networks at once: one succeeds, the other is refused and makes nothing', async (t) => {
  const { calls, ctx, endpoints } = world({ spare: true });
  const OTHER = 'c'.repeat(64);
  const [first, second] = await Promise.allSettled([createEndpoint(ctx, req), createEndpoint(ctx, { ...req, networkId: OTHER })]);
  t.equal(first.status, 'fulfilled');
  t.equal(second.status, 'rejected');
  t.match((second as PromiseRejectedResult).reason, /belongs to network/);
  t.equal(endpoints.get(EP)?.networkId, NET, 'the first network\'s record stands');
  t.same(calls, ['takeSpare got', 'isAttached', 'putEndpoint', 'claimAddresses', 'claimLater saved', 'refill'],
    'the refused create took no spare and made no pair');
});
