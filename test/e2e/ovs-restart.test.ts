// Issue 3, point 5: OVS stopped and restarted with an EMPTY database. ovsvlan's
// OVSDB client reconnects and reconciles; the bridge and the tagged ports come
// back, and the same (not restarted) containers talk again on their own VLAN
// only. Two networks share one subnet (one address space per VLAN), so the same
// address exists on both VLANs: a wrong tag would be seen, not just lose pings.
import t, { type Test } from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { logRecords, startUninitialisedOvsdb, type LogRecord } from '../helpers/faults.js';
import { run, sleep } from '../helpers/run.js';
import { ownedPorts, ping, pingFails } from '../helpers/traffic.js';

const SUBNET = '10.13.160.0/24';
const WAIT_MS = 20_000;

interface Net {
  name: string;
  vlan: number;
  id: string;
}

/** Docker's view of a container that must not be restarted: its PID and start time. */
const lifeOf = (host: Host, c: string): Promise<string> => host.dockerOk(['inspect', '-f', '{{.State.Pid}} {{.State.StartedAt}}', c]);
const macOf = (host: Host, c: string): Promise<string> => host.dockerOk(['exec', c, 'cat', '/sys/class/net/eth0/address']);
const ipOf = (host: Host, c: string, net: string): Promise<string> =>
  host.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c]);

/** The MAC `from` has learned for `ip` (after a ping). */
async function neighbour(host: Host, from: string, ip: string): Promise<string | undefined> {
  const out = (await host.docker(['exec', from, 'ip', 'neigh', 'show', ip])).stdout;
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

/** Polls until OVS has the bridge and every expected port with its tag and external_ids, or the time is up. */
async function waitForWiring(host: Host, bridge: string, expected: Map<string, { net: Net; endpoint: string }>): Promise<string[]> {
  const deadline = Date.now() + WAIT_MS;
  let missing: string[] = [];
  do {
    missing = [];
    const bridges = (await run('ovs-vsctl', [`--db=unix:${host.ovs.dbSock}`, '--timeout=5', 'list-br'])).stdout.split('\n');
    if (!bridges.includes(bridge)) missing.push(`bridge ${bridge}`);
    const ports = await ownedPorts(host).catch(() => []);
    for (const [c, want] of expected) {
      const p = ports.find((x) => x.externalIds['ovsvlan-endpoint'] === want.endpoint);
      if (!p || p.tag !== want.net.vlan || p.externalIds['ovsvlan-network'] !== want.net.id) missing.push(`port of ${c}`);
    }
    if (missing.length === 0) return [];
    await sleep(250);
  } while (Date.now() < deadline);
  return missing;
}

/** Same VLAN pings (with the right MAC answering), the other VLAN does not. */
async function checkTraffic(t: Test, host: Host, when: string): Promise<void> {
  const [a2ip, b2ip] = [await ipOf(host, 'a2', 'v860'), await ipOf(host, 'b2', 'v861')];
  t.equal(a2ip, b2ip, `${when}: a2 and b2 hold the same address ${a2ip} on their own VLANs`);
  t.ok(await ping(host, 'a1', a2ip), `${when}: a1 -> a2 (${a2ip}) on VLAN 860`);
  t.equal(await neighbour(host, 'a1', a2ip), await macOf(host, 'a2'), `${when}: a2 answered a1, not b2`);
  t.ok(await ping(host, 'b1', b2ip), `${when}: b1 -> b2 (${b2ip}) on VLAN 861`);
  t.equal(await neighbour(host, 'b1', b2ip), await macOf(host, 'b2'), `${when}: b2 answered b1, not a2`);
  t.ok(await pingFails(host, 'a1', '10.13.160.20'), `${when}: a1 (860) cannot reach b1 (861)`);
  t.ok(await pingFails(host, 'b1', '10.13.160.10'), `${when}: b1 (861) cannot reach a1 (860)`);
}

t.test('OVS restarted with an empty database: ovsvlan rebuilds its wiring', async (t) => {
  const host = await createHost('r', t);
  const plugin = await host.startPlugin();
  const nets: Net[] = [];
  for (const vlan of [860, 861]) {
    const name = `v${vlan}`;
    await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', `vlan=${vlan}`, '--subnet', SUBNET, name]);
    nets.push({ name, vlan, id: await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', name]) });
  }
  const [n860, n861] = nets as [Net, Net];
  const containers: Array<[string, Net, string[]]> = [
    ['a1', n860, ['--ip', '10.13.160.10']], ['a2', n860, []], ['b1', n861, ['--ip', '10.13.160.20']], ['b2', n861, []],
  ];
  const expected = new Map<string, { net: Net; endpoint: string }>();
  for (const [c, net, extra] of containers) {
    await host.dockerOk(['run', '-d', '--name', c, '--net', net.name, ...extra, 'busybox:local', 'sleep', '3600']);
    const endpoint = await host.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net.name}").EndpointID}}`, c]);
    expected.set(c, { net, endpoint });
  }
  const lives = new Map<string, string>();
  for (const c of expected.keys()) lives.set(c, await lifeOf(host, c));

  await t.test('before: same VLAN pings, other VLAN isolated', async (t) => {
    t.same(await waitForWiring(host, plugin.bridge, expected), [], 'bridge and four tagged ports');
    await checkTraffic(t, host, 'before');
  });

  await t.test('OVS down: traffic stops (the restart is real)', async (t) => {
    await host.ovs.stop();
    t.ok(await pingFails(host, 'a1', await ipOf(host, 'a2', 'v860')), 'a1 cannot reach a2 while OVS is down');
    t.ok(plugin.running(), 'ovsvlan keeps running without OVS');
  });

  await t.test('OVS back with an empty database: bridge, ports and traffic come back', async (t) => {
    const logFrom = (await logRecords(plugin.logFile)).length;
    const started = Date.now();
    await host.ovs.start({ wipe: true });
    const missing = await waitForWiring(host, plugin.bridge, expected);
    t.same(missing, [], `bridge and ports back within ${WAIT_MS / 1000} s (took ${Date.now() - started} ms)`);
    t.match(await host.ovs.vsctl(['get', 'Bridge', plugin.bridge, 'external_ids']), /"?ovsvlan-owner"?="?ovsvlan"?/, 'bridge marked as ours');
    t.equal((await host.ovs.vsctl(['get', 'Bridge', plugin.bridge, 'datapath_type'])).replace(/"/g, ''), 'netdev', 'bridge datapath');
    const ports = await ownedPorts(host);
    t.equal(ports.length, expected.size, 'exactly one port per endpoint, nothing else');
    for (const [c, want] of expected) {
      const p = ports.find((x) => x.externalIds['ovsvlan-endpoint'] === want.endpoint);
      t.equal(p?.tag, want.net.vlan, `${c}: tag ${want.net.vlan}`);
      t.equal(p?.externalIds['ovsvlan-owner'], 'ovsvlan', `${c}: owner`);
      t.match(await host.ovs.vsctl(['port-to-br', p?.name ?? '?']), plugin.bridge, `${c}: on ${plugin.bridge}`);
    }
    await checkTraffic(t, host, 'after');
    for (const [c, life] of lives) t.equal(await lifeOf(host, c), life, `${c} was not restarted`);

    const log = (await logRecords(plugin.logFile)).slice(logFrom);
    // any reason: a reconnect that lands before `ovs-vsctl init` fails, and its retry does the work
    const acts = (rule: string): LogRecord[] => log.filter((r) => r.rule === rule);
    t.ok(log.some((r) => r.msg === 'connected to OVSDB'), 'log: OVSDB reconnected');
    t.equal(acts('bridge-missing').length, 1, 'log: one bridge-missing action');
    t.same(acts('bridge-missing')[0]?.['bridge'], plugin.bridge, 'log: bridge-missing names the bridge');
    const portActs = acts('port-missing').map((r) => r['port']).sort();
    t.same(portActs, ports.map((p) => p.name).sort(), 'log: one port-missing action per endpoint, naming its port');
    const lastOk = log.map((r) => r.msg).lastIndexOf('reconciled');
    t.ok(lastOk >= 0, 'log: a reconciliation finished');
    t.notOk(log.slice(lastOk).some((r) => r.msg?.startsWith('reconciliation failed')), 'log: no failed reconciliation after it');
  });

  await t.test('after the restart: new containers work, removal leaves nothing', async (t) => {
    await host.dockerOk(['run', '-d', '--name', 'a3', '--net', 'v860', 'busybox:local', 'sleep', '3600']);
    t.ok(await ping(host, 'a3', '10.13.160.10'), 'a new container on 860 reaches a1');
    await host.dockerOk(['rm', '-f', 'a1', 'a2', 'a3', 'b1', 'b2']);
    await host.dockerOk(['network', 'rm', 'v860', 'v861']);
    t.same(await ownedPorts(host), [], 'no port of ours left');
  });
});

t.test('OVSDB back before it is initialised, vswitchd later: ovsvlan still rebuilds', async (t) => {
  const host = await createHost('u', t);
  const plugin = await host.startPlugin();
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', 'vlan=860', '--subnet', SUBNET, 'v860']);
  const id = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'v860']);
  const net: Net = { name: 'v860', vlan: 860, id };
  const expected = new Map<string, { net: Net; endpoint: string }>();
  for (const c of ['a1', 'a2']) {
    await host.dockerOk(['run', '-d', '--name', c, '--net', 'v860', 'busybox:local', 'sleep', '3600']);
    expected.set(c, { net, endpoint: await host.dockerOk(['inspect', '-f', '{{.NetworkSettings.Networks.v860.EndpointID}}', c]) });
  }
  const a2ip = await ipOf(host, 'a2', 'v860');
  t.ok(await ping(host, 'a1', a2ip), 'before: a1 -> a2');

  await host.ovs.stop();
  const logFrom = (await logRecords(plugin.logFile)).length;
  // ovs-ctl start: ovsdb-server, then `ovs-vsctl init`, then ovs-vswitchd. A client can connect in between.
  await startUninitialisedOvsdb(host);
  const deadline = Date.now() + WAIT_MS;
  const tried = (r: LogRecord): boolean => r.reconcile === 'ovsdb-reconnect' || r['reason'] === 'ovsdb-reconnect';
  const reconnected = async (): Promise<boolean> => (await logRecords(plugin.logFile)).slice(logFrom).some(tried);
  while (!(await reconnected()) && Date.now() < deadline) await sleep(100);
  t.ok(await reconnected(), 'ovsvlan reconnected to the uninitialised database and tried to reconcile');
  const initAt = (await logRecords(plugin.logFile)).length;
  await host.ovs.vsctl(['--no-wait', 'init']);
  await host.ovs.startVswitchd();
  t.same(await waitForWiring(host, plugin.bridge, expected), [], `bridge and ports back within ${WAIT_MS / 1000} s of the database being initialised`);
  // The proof is a whole run without a failed step, logged after `init`. Not the first line of a run: the
  // run that met the uninitialised database may make the bridge itself once `init` lands (wiring an endpoint
  // ensures its bridge, with no bridge-missing line), and it logs 'reconciled' after the ports are back,
  // while removing orphans and checking leases, so the line may come after waitForWiring returns.
  const cleanRun = async (): Promise<boolean> =>
    (await logRecords(plugin.logFile)).slice(initAt).some((r) => r.msg === 'reconciled' && r['failures'] === 0);
  const runDeadline = Date.now() + WAIT_MS;
  while (!(await cleanRun()) && Date.now() < runDeadline) await sleep(100);
  t.ok(await cleanRun(), 'log: a reconciliation ran without a failed step once the database was usable');
  t.ok(await ping(host, 'a1', a2ip), 'after: a1 -> a2');
});
