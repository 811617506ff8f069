// Issue 10, "must show" 2: the fast path survives kill -9 of the daemon at any point. No
// dockerd: the daemon is driven over its socket in Docker's order (RequestAddress,
// CreateEndpoint, Join; Leave, DeleteEndpoint, ReleaseAddress) on a private OVS in a netns,
// the container ends left in the host netns. The daemon is killed during a burst of 50
// attaches, during a background refill of spares, and right after 20 fast detaches; after a
// restart and its first reconciliation, the rules of helpers/fastpath.ts hold (no orphan
// port or veth, no endpoint without its port, no port both spare and endpoint's, every spare
// tagged), every endpoint that was answered 200 is still there, and each network holds
// exactly OVSVLAN_SPARES spares again (none counted twice).
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { logRecords } from '../helpers/faults.js';
import { fastpathProblems, observe, reconciledAfter, settle, spareCounts, SPARES_SETTING, type FastpathView } from '../helpers/fastpath.js';
import { sleep, waitFor } from '../helpers/run.js';
import { createSocketHost, type SocketHost } from '../helpers/socket-host.js';

const SPARES = 4;
/** A larger pool for the refill test: a longer refill to kill the daemon in. */
const REFILL_SPARES = 12;
/** Container ends stay in the host netns here: a long grace keeps reconciliation from taking them for containers that left. */
const NO_GRACE_REMOVAL = { OVSVLAN_LEASE_GRACE: '3600' };
const id = (): string => randomBytes(32).toString('hex');

interface Net {
  id: string;
  poolId: string;
}

/** RequestPool, the gateway's RequestAddress and CreateNetwork of a VLAN network on `${prefix}.0/24`. */
async function vlanNetwork(host: SocketHost, vlan: number, prefix: string): Promise<Net> {
  const ok = async (method: string, body: object): Promise<Record<string, unknown>> => {
    const r = await host.call(method, body);
    if (r.status !== 200) throw new Error(`${method}: ${r.status} ${JSON.stringify(r.answer)}`);
    return r.answer;
  };
  const poolId = String((await ok('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: `${prefix}.0/24`, SubPool: '', Options: {}, V6: false }))['PoolID']);
  await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: `${prefix}.1`, Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const net = id();
  await ok('NetworkDriver.CreateNetwork', { NetworkID: net, Options: { 'com.docker.network.generic': { vlan: String(vlan) } },
    IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: `${prefix}.0/24`, Gateway: `${prefix}.1/24` }], IPv6Data: [] });
  return { id: net, poolId };
}

/** Status of a call, 0 when the connection failed (the daemon was killed). */
const status = (host: SocketHost, method: string, body: object): Promise<number> =>
  host.call(method, body).then((r) => r.status, () => 0);

/** RequestAddress, CreateEndpoint, Join as Docker sends them; the address (CIDR) when CreateEndpoint was answered 200. */
async function attach(host: SocketHost, net: Net, ep: string): Promise<string | undefined> {
  const a = await host.call('IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} }).catch(() => undefined);
  if (a?.status !== 200) return undefined;
  const address = String(a.answer['Address']);
  const created = await status(host, 'NetworkDriver.CreateEndpoint',
    { NetworkID: net.id, EndpointID: ep, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  if (created !== 200) return undefined;
  await status(host, 'NetworkDriver.Join', { NetworkID: net.id, EndpointID: ep, SandboxKey: '/var/run/docker/netns/0123456789ab', Options: {} });
  return address;
}

/** Leave, DeleteEndpoint and ReleaseAddress as Docker sends them; whether DeleteEndpoint was answered 200. */
async function detach(host: SocketHost, net: Net, ep: string, address: string): Promise<boolean> {
  await status(host, 'NetworkDriver.Leave', { NetworkID: net.id, EndpointID: ep });
  const deleted = await status(host, 'NetworkDriver.DeleteEndpoint', { NetworkID: net.id, EndpointID: ep });
  await status(host, 'IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: address.split('/')[0] });
  return deleted === 200;
}

const look = (host: SocketHost) => (): Promise<FastpathView> => observe(host.ovs, host.ns.name, host.stateDir);

/** The rules, and each of `nets` holding exactly `spares` spares. */
const settled = (nets: readonly Net[], spares = SPARES) => (v: FastpathView): string[] => {
  const counts = spareCounts(v);
  const sizes = nets.flatMap((n) => (counts.get(n.id) ?? 0) === spares ? [] : [`network ${n.id.slice(0, 12)} has ${counts.get(n.id) ?? 0} spares, not ${spares}`]);
  return [...fastpathProblems(v, { containerEndsHere: true }), ...sizes];
};

/**
 * Kills the daemon (by PID), waits for `inFlight` (calls in flight, which fail with it), starts
 * it again and waits for its first reconciliation.
 */
async function crashAndRestart(t: Test, host: SocketHost, inFlight?: Promise<unknown>): Promise<void> {
  const from = (await logRecords(host.logFile)).length;
  await host.killDaemon();
  await inFlight;
  await host.startDaemon();
  t.ok(await reconciledAfter(host.logFile, from), 'the restarted daemon finished a reconciliation');
  const rules = new Map<string, number>();
  for (const r of (await logRecords(host.logFile)).slice(from)) if (r.rule) rules.set(r.rule, (rules.get(r.rule) ?? 0) + 1);
  t.comment(`repaired after the crash: ${[...rules].map(([rule, n]) => `${rule} x${n}`).join(', ') || 'nothing'}`);
}

/** After a crash and restart: the rules hold, nothing was ever untagged, `answered` endpoints are all there. */
async function checkAfterCrash(t: Test, host: SocketHost, nets: readonly Net[], answered: ReadonlySet<string>, spares = SPARES): Promise<FastpathView> {
  const s = await settle(look(host), settled(nets, spares));
  t.same(s.problems, [], `no orphan port or veth, every endpoint on its port, ${spares} tagged spares per network`);
  t.same(s.ever, [], 'no spare was ever seen untagged or on another VLAN');
  t.same([...answered].filter((ep) => !s.view.state.endpoints[ep]).map((ep) => ep.slice(0, 12)), [], `all ${answered.size} endpoints answered 200 are still recorded`);
  await sleep(2_000);
  const counts = spareCounts(await look(host)());
  t.same(nets.map((n) => counts.get(n.id) ?? 0), nets.map(() => spares), `2 s later still ${spares} spares per network, not more`);
  return s.view;
}

t.test('kill -9 during a burst of 50 attaches', async (t) => {
  const host = await createSocketHost('fpb', t, { env: { [SPARES_SETTING]: String(SPARES), ...NO_GRACE_REMOVAL } });
  const nets = [await vlanNetwork(host, 921, '10.13.221'), await vlanNetwork(host, 922, '10.13.222')];
  await settle(look(host), settled(nets));
  const answered = new Set<string>();
  let killed = false;
  const burst = (async () => {
    for (let wave = 0; wave < 5 && !killed; wave++) {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const ep = id();
        if (await attach(host, nets[i % 2] as Net, ep)) answered.add(ep);
      }));
    }
  })();
  let burstDone = false;
  void burst.finally(() => (burstDone = true));
  await waitFor('25 endpoints answered', async () => answered.size >= 25 || burstDone, 60_000);
  killed = true;
  await crashAndRestart(t, host, burst);
  t.ok(answered.size >= 25 && answered.size < 50, `killed in the middle of the burst (${answered.size} of 50 answered)`);
  await checkAfterCrash(t, host, nets, answered);
  const after = id();
  t.ok(await attach(host, nets[0] as Net, after), 'a new endpoint after the restart is answered');
  // settle: the refill it started may be adding ports while OVS is read
  t.same((await settle(look(host), (v) => fastpathProblems(v, { containerEndsHere: true }))).problems, [], 'and is on its own port');
});

t.test('kill -9 during a background refill', async (t) => {
  const host = await createSocketHost('fpr', t, { env: { [SPARES_SETTING]: String(REFILL_SPARES), ...NO_GRACE_REMOVAL } });
  const net = await vlanNetwork(host, 931, '10.13.231');
  t.same((await settle(look(host), settled([net], REFILL_SPARES))).problems, [], `the network starts with ${REFILL_SPARES} spares`);
  const answered = new Set<string>();
  const burst = async (n: number): Promise<void> => {
    await Promise.all(Array.from({ length: n }, async () => {
      const ep = id();
      if (await attach(host, net, ep)) answered.add(ep);
    }));
  };

  await t.test('killed right after the pool was emptied', async (t) => {
    await burst(REFILL_SPARES);
    t.equal(answered.size, REFILL_SPARES, `${REFILL_SPARES} endpoints answered`);
    await crashAndRestart(t, host);
    await checkAfterCrash(t, host, [net], answered, REFILL_SPARES);
  });

  await t.test('killed once the refill has made a veth', async (t) => {
    const before = new Set((await host.links()).keys());
    const calls = burst(REFILL_SPARES * 2);
    // no pause between looks: the kill should land before the refill attached the new veths' ports
    const deadline = Date.now() + 15_000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      // a spare's veth (its alias says so) that was not there before: the refill's, its port maybe not made yet
      seen = [...(await host.links())].some(([name, l]) => !before.has(name) && l.alias?.startsWith('ovsvlan-spare=') === true);
    }
    t.ok(seen, 'the refill made a spare veth during or after the burst');
    await crashAndRestart(t, host, calls);
    await checkAfterCrash(t, host, [net], answered, REFILL_SPARES);
  });
});

t.test('fast detach leaves nothing, also when killed right after the answers', async (t) => {
  const host = await createSocketHost('fpd', t, { env: { [SPARES_SETTING]: String(SPARES) } });
  const net = await vlanNetwork(host, 941, '10.13.241');
  /** 20 endpoints made (5 at a time) and deleted all at once; the names they had, and how many deletes were answered 200. */
  const churn = async (): Promise<{ names: Set<string>; ids: Set<string>; deleted: number }> => {
    const made = new Map<string, string>();
    for (let i = 0; i < 4; i++) {
      await Promise.all(Array.from({ length: 5 }, async () => {
        const ep = id();
        const address = await attach(host, net, ep);
        if (address) made.set(ep, address);
      }));
    }
    const ids = [...made.keys()];
    const state = await host.readState();
    const names = new Set(ids.flatMap((ep) => [String(state.endpoints[ep]?.['hostIf']), String(state.endpoints[ep]?.['containerIf'])]));
    const answers = await Promise.all([...made].map(([ep, address]) => detach(host, net, ep, address)));
    return { names, ids: new Set(ids), deleted: answers.filter(Boolean).length };
  };
  const leftOf = (c: { names: Set<string>; ids: Set<string> }) => (v: FastpathView): string[] => [
    ...v.ports.filter((p) => c.names.has(p.name) || c.ids.has(p.endpointId ?? '')).map((p) => `port ${p.name}`),
    ...v.links.filter((l) => c.names.has(l.name)).map((l) => `veth ${l.name}`),
    ...Object.keys(v.state.endpoints).filter((ep) => c.ids.has(ep)).map((ep) => `record ${ep.slice(0, 12)}`),
  ];

  await t.test('20 DeleteEndpoints: within 20 s no port, veth or record of theirs remains', async (t) => {
    const c = await churn();
    t.equal(c.deleted, 20, 'all 20 made and deleted with 200');
    t.same((await settle(look(host), leftOf(c))).problems, [], 'nothing of theirs left');
  });

  await t.test('kill -9 right after 20 DeleteEndpoint answers: reconciliation removes what was left', async (t) => {
    const c = await churn();
    t.equal(c.deleted, 20, 'all 20 made and deleted with 200');
    await crashAndRestart(t, host);
    t.same(leftOf(c)(await look(host)()), [], 'nothing of theirs left after the first reconciliation');
    t.same((await settle(look(host), settled([net]))).problems, [], 'the rules hold and the spares are back');
  });

  await t.test('control: a hand-made untagged spare and a stray veth are seen, and reconciliation removes them', async (t) => {
    const names = ['ovh', 'ovc', 'ovh', 'ovc'].map((p) => `${p}${randomBytes(6).toString('hex')}`);
    const [spareHost, spareCont, strayHost, strayCont] = names as [string, string, string, string];
    await host.ns.ip(['link', 'add', 'name', spareHost, 'type', 'veth', 'peer', 'name', spareCont]);
    await host.ns.ip(['link', 'add', 'name', strayHost, 'type', 'veth', 'peer', 'name', strayCont]);
    for (const l of [spareHost, spareCont]) await host.ns.ip(['link', 'set', 'dev', l, 'alias', `ovsvlan-spare=${net.id}`]);
    await host.ovs.vsctl(['add-port', host.bridge, spareHost, '--', 'set', 'port', spareHost,
      'external_ids:ovsvlan-owner=ovsvlan', 'external_ids:ovsvlan-role=spare', `external_ids:ovsvlan-network=${net.id}`]);
    const seen = fastpathProblems(await look(host)(), { containerEndsHere: true });
    t.ok(seen.includes(`spare ${spareHost} is untagged`), 'the rules see the untagged spare');
    t.ok(seen.includes(`veth ${strayHost} belongs to no endpoint and no spare`), 'and the stray veth');
    await crashAndRestart(t, host);
    const after = await settle(look(host), settled([net]));
    t.same(after.problems, [], 'the rules hold again');
    t.same(after.view.links.filter((l) => names.includes(l.name)), [], 'both veth pairs are gone');
    t.notOk(after.view.ports.some((p) => p.name === spareHost), 'the untagged port is gone');
  });

  await t.test('DeleteNetwork removes the spares and the bridge', async (t) => {
    t.equal(await status(host, 'NetworkDriver.DeleteNetwork', { NetworkID: net.id }), 200, 'DeleteNetwork answered 200');
    const gone = (v: FastpathView): string[] => [...v.ports.map((p) => `port ${p.name}`), ...v.links.map((l) => `veth ${l.name}`)];
    t.same((await settle(look(host), gone)).problems, [], 'no port or veth of ours left');
    t.notMatch(await host.ovs.vsctl(['list-br']), host.bridge, `bridge ${host.bridge} is gone`);
  });
});
