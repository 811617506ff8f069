// Issue 12, DHCP networks, through the docker CLI against a real dnsmasq
// serving VLAN 870 behind a trunk switch (test/helpers/dhcp-world.ts):
//  0. bad options each fail `docker network create` naming the option, leaving no network;
//  1. three containers get three distinct addresses of the server's range, on eth0 when their
//     process starts, ping each other and the server, with the server's router as gateway;
//  2. the leases are renewed while the containers run (dnsmasq's lease file), the hostname is
//     sent, `ovsvlan status` shows them; a stop keeps the lease (default) or releases it (dhcp_release=stop);
//  3. a container restarted with the same --mac-address gets the same address; a reservation is honoured;
//  4. no server (VLAN 871): `docker run` fails within the bound saying so, leaving no port, veth,
//     record or client;
//  5. kill -9 of the daemon: after its restart the leases keep being renewed (running clients
//     adopted, a client killed meanwhile started again).
import t, { type Test } from 'tap';
import { performance } from 'node:perf_hooks';
import { RANGE, RESERVED, SERVER_IP, createDhcpWorld, runWithMac, udhcpcIn, udhcpcPids } from '../helpers/dhcp-world.js';
import type { Host } from '../helpers/host.js';
import { linkNames } from '../helpers/netns.js';
import { ownedPorts, ping } from '../helpers/traffic.js';
import { run, waitFor } from '../helpers/run.js';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { OVSVLAN_MAIN } from '../helpers/plugin.js';

const BUSYBOX = 'busybox:local';
/** The network's create options, uplink through the switch. */
const dhcpNet = (uplink: string, vlan: number, ...opts: string[]): string[] =>
  ['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'null', '-o', `vlan=${vlan}`, '-o', `uplink=${uplink}`, '-o', 'dhcp=on', ...opts];
/** A container that writes what eth0 holds when its process starts, then sleeps. */
const AT_START = ['sh', '-c', 'ip -4 addr show eth0 > /tmp/at-start; exec sleep 3600'];
const runC = (h: Host, name: string, net: string, ...flags: string[]): Promise<string> =>
  h.dockerOk(['run', '-d', '--name', name, '--net', net, ...flags, BUSYBOX, ...AT_START]);
/** The IPv4 address/prefix eth0 held when the container's process started. */
const atStart = async (h: Host, name: string): Promise<string | undefined> =>
  /inet (\S+)/.exec(await h.dockerOk(['exec', name, 'cat', '/tmp/at-start']))?.[1];
const macOf = (h: Host, name: string): Promise<string> =>
  h.dockerOk(['exec', name, 'cat', '/sys/class/net/eth0/address']);
const inRange = (ip: string): boolean => {
  const n = Number(ip.split('.')[3]);
  return ip.startsWith('10.87.0.') && n >= Number(RANGE.from.split('.')[3]) && n <= Number(RANGE.to.split('.')[3]);
};
/** Whether the host's daemon has no udhcpc running, waiting (bounded) for one that is quitting. */
const noClientLeft = (h: Host): Promise<boolean> =>
  waitFor('no udhcpc of the daemon', async () => udhcpcPids(h.stateDir).length === 0 || undefined, 20_000).catch(() => false);
/** `ovsvlan status [--json]` of the host, run in its netns. */
const statusRun = (h: Host, ...args: string[]) => run('ip', ['netns', 'exec', h.ns.name, process.execPath, OVSVLAN_MAIN, 'status', ...args],
  { env: { ...process.env, OVSVLAN_STATE_DIR: h.stateDir, OVSVLAN_OVSDB: h.ovs.endpoint, OVSVLAN_DOCKER: `unix://${h.dockerd.sock}` } });
type StatusJson = { endpoints: Array<{ id: string; addressV4?: string;
  dhcp?: { mac: string; hostname?: string; lease: { address: string }; clientPid?: number; changedFrom?: string } }> };
const status = async (h: Host): Promise<StatusJson> => JSON.parse((await statusRun(h, '--json')).stdout) as StatusJson;
/**
 * Waits until dnsmasq's lease of `mac` runs out at least 30 s later than `after` (seconds since
 * epoch): a renewal at T1 (half the 120 s lease), not the renewal client's own start moments after the first lease.
 */
const renewedAfter = (w: { dnsmasq: { leaseOf(mac: string): Promise<{ expiry: number } | undefined> } }, mac: string, after: number) =>
  waitFor(`a renewal of ${mac} in dnsmasq's lease file`, async () => {
    const l = await w.dnsmasq.leaseOf(mac);
    return l && l.expiry >= after + 30 ? l.expiry : undefined;
  }, 150_000);

t.test('DHCP networks against a real dnsmasq on VLAN 870', async (t) => {
  const w = await createDhcpWorld(t);
  const h = w.host;
  const up = w.sw.uplink;

  await t.test('0. bad options: docker network create fails naming the option, nothing made', async (t) => {
    const bad: Array<[string, string[], RegExp]> = [
      ['dhcp=maybe', ['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'null', '-o', 'vlan=870', '-o', 'dhcp=maybe'], /invalid dhcp "maybe": must be on or off/],
      ['default IPAM', ['network', 'create', '-d', 'ovsvlan', '-o', 'vlan=870', '-o', 'dhcp=on', '--subnet', '10.87.0.0/24'], /dhcp=on needs --ipam-driver null/],
      ['dhcp_gateway without dhcp=on', ['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'null', '-o', 'vlan=870', '-o', 'dhcp_gateway=none'],
        /option "dhcp_gateway" needs -o dhcp=on/],
      ['--internal with the server gateway', [...dhcpNet(up, 870), '--internal'], /dhcp_gateway=server contradicts --internal/],
      ['dhcp_timeout=60', dhcpNet(up, 870, '-o', 'dhcp_timeout=60'), /invalid dhcp_timeout "60": must be seconds .* from 1 to 25/],
      ['dhcp_subnet with host bits', dhcpNet(up, 870, '-o', 'dhcp_subnet=10.87.0.1/24'), /invalid dhcp_subnet "10\.87\.0\.1\/24"/],
    ];
    for (const [name, args, message] of bad) {
      const r = await h.docker([...args, 'bad']);
      t.not(r.exitCode, 0, `${name}: refused`);
      t.match(r.stderr, message, `${name}: ${r.stderr.trim().split('\n').pop()}`);
    }
    t.notMatch(await h.dockerOk(['network', 'ls', '--format', '{{.Name}}']), /\bbad\b/, 'no network made');
    t.same(Object.keys((await h.plugin!.readState()).networks), [], 'no network recorded');
  });

  await h.dockerOk(dhcpNet(up, 870, '-o', 'dhcp_subnet=10.87.0.0/24', 'v870'));

  await t.test('1. three containers, three addresses of the range on eth0 at start; they ping each other and the server', async (t) => {
    await runC(h, 'c1', 'v870', '--hostname', 'host-c1');
    await runWithMac(h, 'c2', 'v870', '02:87:00:00:00:22', AT_START, 'host-c2');
    await runC(h, 'c3', 'v870', '--hostname', 'host-c3');
    const addrs = await Promise.all(['c1', 'c2', 'c3'].map((c) => atStart(h, c)));
    t.ok(addrs.every((a) => a?.endsWith('/24') && inRange(a.split('/')[0] ?? '')), `on eth0 at start, in ${RANGE.from}-${RANGE.to}: ${addrs.join(', ')}`);
    t.equal(new Set(addrs).size, 3, 'three distinct addresses');
    const ips = addrs.map((a) => (a ?? '').split('/')[0] ?? '');
    for (const [i, c] of ['c1', 'c2', 'c3'].entries()) {
      const lease = await w.dnsmasq.leaseOf(await macOf(h, c));
      t.equal(lease?.ip, ips[i], `${c}: dnsmasq leased ${ips[i]} to its MAC`);
    }
    t.equal(await macOf(h, 'c2'), '02:87:00:00:00:22', '--mac-address honoured');
    t.ok(await ping(h, 'c1', ips[1] ?? ''), 'c1 -> c2');
    t.ok(await ping(h, 'c2', ips[2] ?? ''), 'c2 -> c3');
    t.ok(await ping(h, 'c3', ips[0] ?? ''), 'c3 -> c1');
    t.ok(await ping(h, 'c1', SERVER_IP), 'c1 -> the DHCP server');
    t.match(await h.dockerOk(['exec', 'c1', 'ip', 'route', 'show', 'default']), new RegExp(`default via ${SERVER_IP.replace(/\./g, '\\.')}`),
      'the server\'s router is the default gateway (dhcp_gateway=server)');
    // a container that exits at once: its address printed by its process, then nothing of it left running
    const out = await h.dockerOk(['run', '--rm', '--net', 'v870', BUSYBOX, 'ip', '-4', 'addr', 'show', 'eth0']);
    const brief = /inet (\S+)/.exec(out)?.[1] ?? '';
    t.ok(brief.endsWith('/24') && inRange(brief.split('/')[0] ?? '') && !addrs.includes(brief), `docker run --rm prints its own address: ${brief}`);
    const clients = await waitFor('the short-lived container\'s client gone', async () => {
      const n = udhcpcPids(h.stateDir).length;
      return n === 3 ? n : undefined;
    }, 45_000).catch(() => udhcpcPids(h.stateDir).length);
    t.equal(clients, 3, 'three renewal clients: none left for the container that exited');
  });

  await t.test('2. renewed while running, hostname sent, shown by status; a stop keeps the lease (dhcp_release=keep)', async (t) => {
    const mac1 = await macOf(h, 'c1');
    const before = (await w.dnsmasq.leaseOf(mac1))?.expiry ?? 0;
    const renewed = await renewedAfter(w, mac1, before);
    t.ok(renewed > before, `c1's lease renewed: expiry ${before} -> ${renewed}`);
    const l1 = await w.dnsmasq.leaseOf(mac1);
    t.equal(l1?.hostname, 'host-c1', 'the renewal client sent the container\'s hostname');
    const text = await statusRun(h);
    t.match(text.stdout, /DHCP LEASES \(3\)\n.*MAC.*ADDRESS.*ROUTER/, 'ovsvlan status has a DHCP LEASES section');
    t.match(text.stdout, /host-c1 +10\.87\.0\.\d+\/24 +10\.87\.0\.2 +10\.87\.0\.2 +120s/, 'with c1\'s hostname, lease, router, server and lease time');
    const st = await status(h);
    const shown = st.endpoints.filter((e) => e.dhcp);
    t.equal(shown.length, 3, 'ovsvlan status shows three DHCP endpoints');
    t.ok(shown.every((e) => e.dhcp?.clientPid && e.dhcp.lease.address === e.addressV4), 'each with its lease and its running client');
    const mac3 = await macOf(h, 'c3');
    await h.dockerOk(['stop', '-t', '1', 'c3']);
    t.ok(await w.dnsmasq.leaseOf(mac3), 'c3 stopped: dnsmasq keeps its lease');
    t.same(udhcpcPids(h.stateDir).length, 2, 'its renewal client stopped, the two others run');
  });

  await t.test('3. same --mac-address, same address after a restart; a reservation by MAC is honoured', async (t) => {
    const before = await atStart(h, 'c2');
    await h.dockerOk(['restart', '-t', '1', 'c2']);
    t.equal(await atStart(h, 'c2'), before, `c2 restarted with its MAC: ${before} again`);
    await runWithMac(h, 'cr', 'v870', RESERVED.mac, AT_START);
    t.equal(await atStart(h, 'cr'), `${RESERVED.ip}/24`, `the reservation ${RESERVED.mac} -> ${RESERVED.ip}`);
    await h.dockerOk(['rm', '-f', 'cr']);
  });

  await t.test('4. no server on VLAN 871: docker run fails within the bound, nothing left', async (t) => {
    await h.dockerOk(dhcpNet(up, 871, '-o', 'dhcp_timeout=3', 'v871'));
    const id = await h.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'v871']);
    await waitFor('v871\'s spares', async () => (await ownedPorts(h, { spares: true })).some((p) => p.tag === 871) || undefined);
    const ports = (await ownedPorts(h, { spares: true })).map((p) => p.name).sort();
    const links = (await linkNames(h.ns.name)).sort();
    const t0 = performance.now();
    const r = await h.docker(['run', '--rm', '--net', 'v871', BUSYBOX, 'true']);
    const took = Math.round(performance.now() - t0);
    t.not(r.exitCode, 0, `docker run fails (after ${took} ms)`);
    t.match(r.stderr, /no DHCP server answered on VLAN 871 within 3 s \(dhcp_timeout\)/, `says so: ${/no DHCP[^\n]*/.exec(r.stderr)?.[0]}`);
    const state = await h.plugin!.readState();
    t.same(Object.values(state.endpoints).filter((e) => e['networkId'] === id), [], 'no endpoint record');
    t.same((await ownedPorts(h, { spares: true })).map((p) => p.name).sort(), ports, 'no port more (the spare went back)');
    t.same((await linkNames(h.ns.name)).sort(), links, 'no veth more');
    t.same(udhcpcIn(h.ns.name).filter((pid) => !udhcpcPids(h.stateDir).includes(pid)), [], 'no first-lease client left');
    await h.dockerOk(['network', 'rm', 'v871']);
  });

  await t.test('5. kill -9 of the daemon: the leases keep being renewed after its restart', async (t) => {
    const clients = udhcpcPids(h.stateDir).sort();
    t.equal(clients.length, 2, 'two renewal clients (c1, c2)');
    t.teardown(() => h.plugin!.start()); // the next steps need it, also when this one fails
    await h.plugin!.kill();
    t.same(udhcpcPids(h.stateDir).sort(), clients, 'they outlive the daemon');
    // c2's client dies too while the daemon is down: the restarted daemon must start it again
    const ep2 = await h.dockerOk(['inspect', '-f', '{{.NetworkSettings.Networks.v870.EndpointID}}', 'c2']);
    const pid2 = Number((await readFile(`${h.stateDir}/dhcp/${ep2}.pid`, 'utf8')).trim());
    t.ok(clients.includes(pid2), `c2's client is ${pid2}`);
    process.kill(pid2, 'SIGKILL');
    const [mac1, mac2] = [await macOf(h, 'c1'), await macOf(h, 'c2')];
    const before1 = (await w.dnsmasq.leaseOf(mac1))?.expiry ?? 0;
    const before2 = (await w.dnsmasq.leaseOf(mac2))?.expiry ?? 0;
    await h.plugin!.start();
    const watch = setInterval(() => t.comment(`udhcpc of this daemon: ${udhcpcPids(h.stateDir).join(' ')}`), 10_000);
    t.teardown(() => clearInterval(watch));
    t.ok(await renewedAfter(w, mac1, before1), 'c1\'s lease renewed after the restart');
    t.ok(await renewedAfter(w, mac2, before2), 'c2\'s lease renewed after the restart');
    const now = udhcpcPids(h.stateDir);
    t.equal(now.length, 2, 'two renewal clients again');
    t.ok(now.includes(clients.find((p) => p !== pid2) ?? -1), 'c1\'s client adopted, the same process');
    t.notOk(now.includes(pid2), 'c2\'s client a new one');
    t.match(await h.plugin!.logTail(400), /dhcp-client-missing/, 'the restart logged the missing client');
  });

  await t.test('5b. the server hands back another address on renewal: applied in the container, logged, shown by status', async (t) => {
    const mac1 = await macOf(h, 'c1');
    const ep1 = await h.dockerOk(['inspect', '-f', '{{.NetworkSettings.Networks.v870.EndpointID}}', 'c1']);
    const first = await atStart(h, 'c1');
    await w.restartServer([{ mac: mac1, ip: '10.87.0.88' }]);
    const now = await waitFor('c1 on 10.87.0.88', async () => /inet 10\.87\.0\.88\/24/.test(await h.dockerOk(['exec', 'c1', 'ip', '-4', 'addr', 'show', 'eth0'])) || undefined, 200_000);
    t.ok(now, 'the renewal client put the new address on c1\'s eth0');
    t.notMatch(await h.dockerOk(['exec', 'c1', 'ip', '-4', 'addr', 'show', 'eth0']), new RegExp(`inet ${first}`), `and took ${first} off`);
    t.ok(await ping(h, 'c1', SERVER_IP), 'c1 reaches the server from its new address');
    const logged = await waitFor('the daemon\'s log line', async () => /dhcp address changed/.test(await h.plugin!.logTail(2000)) || undefined, 30_000);
    t.ok(logged, 'the daemon logged the change');
    const e = (await status(h)).endpoints.find((x) => x.id === ep1);
    t.equal(e?.dhcp?.lease.address, '10.87.0.88/24', 'status: the new lease');
    t.equal(e?.dhcp?.changedFrom, first, `status: changed from ${first}`);
  });

  await t.test('6. dhcp_release=stop: the lease is released when the container stops', async (t) => {
    await h.dockerd.clean();
    await h.dockerOk(dhcpNet(up, 870, '-o', 'dhcp_release=stop', 'v870s'));
    await runWithMac(h, 'cs', 'v870s', '02:87:00:00:00:55', AT_START);
    const ip = (await atStart(h, 'cs'))?.split('/')[0];
    t.equal((await w.dnsmasq.leaseOf('02:87:00:00:00:55'))?.ip, ip, `cs leased ${ip}`);
    // the release is the renewal client's: once it is bound (its hook wrote the lease file)
    const ep = await h.dockerOk(['inspect', '-f', '{{.NetworkSettings.Networks.v870s.EndpointID}}', 'cs']);
    await waitFor('cs\'s renewal client bound', async () => existsSync(`${h.stateDir}/dhcp/${ep}.lease.json`) || undefined, 30_000);
    await h.dockerOk(['stop', '-t', '1', 'cs']);
    t.notOk(await waitFor('dnsmasq to drop the released lease', async () => (await w.dnsmasq.leaseOf('02:87:00:00:00:55')) === undefined || undefined)
      .then(() => w.dnsmasq.leaseOf('02:87:00:00:00:55')), 'cs stopped: dnsmasq released its lease');
    t.same(udhcpcPids(h.stateDir), [], 'no renewal client left');
    // a container that exits at once, before its renewal client would have started: released all the same
    await runWithMac(h, 'cq', 'v870s', '02:87:00:00:00:56', ['true']);
    const released = await waitFor('a DHCPRELEASE from 02:87:00:00:00:56', async () =>
      /DHCPRELEASE\S* 10\.87\.0\.\d+ 02:87:00:00:00:56/.exec(await readFile(w.dnsmasq.logFile, 'utf8'))?.[0], 45_000).catch(() => undefined);
    t.ok(released, `a container that exited at once released its lease too: ${released}`);
    t.notOk(await w.dnsmasq.leaseOf('02:87:00:00:00:56'), 'dnsmasq holds no lease for it');
    t.ok(await noClientLeft(h), 'no renewal client left (once it quit after its release)');
  });

  /** A dhcp_release=remove network `net` and its container `name` (MAC `mac`), stopped once bound: its lease parked. Returns the address. */
  const parkedLease = async (t: Test, net: string, name: string, mac: string): Promise<string | undefined> => {
    await h.dockerOk(dhcpNet(up, 870, '-o', 'dhcp_release=remove', net));
    await runWithMac(h, name, net, mac, AT_START);
    const ip = (await atStart(h, name))?.split('/')[0];
    const ep = await h.dockerOk(['inspect', '-f', `{{.NetworkSettings.Networks.${net}.EndpointID}}`, name]);
    await waitFor(`${name}'s renewal client bound`, async () => existsSync(`${h.stateDir}/dhcp/${ep}.lease.json`) || undefined, 30_000);
    await h.dockerOk(['stop', '-t', '1', name]);
    t.equal((await w.dnsmasq.leaseOf(mac))?.ip, ip, `${name} stopped: dnsmasq keeps ${ip}`);
    return ip;
  };

  await t.test('7. dhcp_release=remove: kept across a stop, given back once the container is removed', async (t) => {
    await h.dockerd.clean();
    const mac = '02:87:00:00:00:66';
    const ip = await parkedLease(t, 'v870r', 'cm', mac);
    await h.dockerOk(['rm', 'cm']);
    process.kill(h.plugin!.pid ?? 0, 'SIGHUP'); // reconciliation now, not at the next periodic run
    const released = await waitFor(`a DHCPRELEASE of ${ip} from ${mac}`, async () =>
      new RegExp(`DHCPRELEASE\\S* ${ip?.replace(/\./g, '\\.')} ${mac}`).exec(await readFile(w.dnsmasq.logFile, 'utf8'))?.[0], 60_000).catch(() => undefined);
    t.ok(released, `cm removed: its lease given back (${released})`);
    t.notOk(await w.dnsmasq.leaseOf(mac), 'dnsmasq holds no lease for it');
    const id = await h.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'v870r']);
    const known = await waitFor('the MAC forgotten', async () => {
      const net = (await h.plugin!.readState()).networks[id] as { dhcpKnown?: Record<string, unknown> } | undefined;
      return net && !net.dhcpKnown?.[mac] ? true : undefined;
    }, 30_000).catch(() => false);
    t.ok(known, 'the network no longer remembers the MAC');
    const ns = await run('nsenter', [`--mount=/proc/${h.dockerd.pid}/ns/mnt`, 'ls', '/run/netns']);
    t.notMatch(ns.stdout, /\bovr[0-9a-f]{12}\b/, 'no throwaway netns left');
    t.ok(await noClientLeft(h), 'no client left');
  });

  // the probe's finding: the parked lease lived in the network's record, which `network rm` dropped, so it was never given back
  await t.test('7b. dhcp_release=remove: the network removed before its stopped container, the lease given back at once', async (t) => {
    await h.dockerd.clean();
    const mac = '02:87:00:00:00:67';
    const ip = await parkedLease(t, 'v870q', 'cn', mac);
    await h.dockerOk(['network', 'rm', 'v870q']); // Docker lets a network of stopped containers go
    // at once: within dnsmasq's log write, not at a reconciliation (none is asked for, the periodic one is minutes away)
    const released = await waitFor(`a DHCPRELEASE of ${ip} from ${mac}`, async () =>
      new RegExp(`DHCPRELEASE\\S* ${ip?.replace(/\./g, '\\.')} ${mac}`).exec(await readFile(w.dnsmasq.logFile, 'utf8'))?.[0], 5_000).catch(() => undefined);
    t.ok(released, `network rm gave the lease back (${released})`);
    t.notOk(await w.dnsmasq.leaseOf(mac), 'dnsmasq holds no lease for it');
    const ns = await run('nsenter', [`--mount=/proc/${h.dockerd.pid}/ns/mnt`, 'ls', '/run/netns']);
    t.notMatch(ns.stdout, /\bovr[0-9a-f]{12}\b/, 'no throwaway netns left');
    t.same((await ownedPorts(h)).filter((p) => p.tag === 870), [], 'no port of the network left');
    await h.dockerOk(['rm', 'cn']);
  });

  // the probe's finding: the refused lease stayed taken on the server, so each retried docker run used up one more address
  await t.test('8. a lease outside dhcp_subnet: docker run fails naming it, the lease given back, nothing left', async (t) => {
    await h.dockerd.clean();
    await h.dockerOk(dhcpNet(up, 870, '-o', 'dhcp_subnet=10.99.0.0/24', '-o', 'dhcp_timeout=5', 'v870o'));
    await waitFor('v870o\'s spares', async () => (await ownedPorts(h, { spares: true })).some((p) => p.tag === 870) || undefined);
    const ports = (await ownedPorts(h, { spares: true })).length;
    const links = (await linkNames(h.ns.name)).length;
    const mac = '02:87:00:00:00:68';
    const err = await runWithMac(h, 'co', 'v870o', mac, ['true']).then(() => undefined, (e: unknown) => (e as Error).message);
    t.match(err, /leased 10\.87\.0\.\d+\/24, outside dhcp_subnet 10\.99\.0\.0\/24/, `docker start fails saying why: ${/the DHCP server[^\n]*/.exec(err ?? '')?.[0]}`);
    const released = await waitFor(`a DHCPRELEASE from ${mac}`, async () =>
      new RegExp(`DHCPRELEASE\\S* 10\\.87\\.0\\.\\d+ ${mac}`).exec(await readFile(w.dnsmasq.logFile, 'utf8'))?.[0], 5_000).catch(() => undefined);
    t.ok(released, `the refused lease was given back (${released})`);
    t.notOk(await w.dnsmasq.leaseOf(mac), 'dnsmasq holds no lease for it');
    const settled = await waitFor('the spares refilled', async () => (await ownedPorts(h, { spares: true })).length === ports || undefined, 20_000).catch(() => false);
    t.ok(settled, `as many ports as before (${ports}): the used-up spare reaped and replaced`);
    t.equal((await linkNames(h.ns.name)).length, links, 'as many veths as before');
    const ns = await run('nsenter', [`--mount=/proc/${h.dockerd.pid}/ns/mnt`, 'ls', '/run/netns']);
    t.notMatch(ns.stdout, /\bovr[0-9a-f]{12}\b/, 'no throwaway netns left');
    t.same(udhcpcIn(h.ns.name).filter((pid) => !udhcpcPids(h.stateDir).includes(pid)), [], 'no first-lease or release client left');
    await h.dockerOk(['rm', 'co']);
    await h.dockerOk(['network', 'rm', 'v870o']);
  });
});
