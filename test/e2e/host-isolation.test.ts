// Issue 9, defect 11: the host ends of container veths carry no host traffic.
// On a userspace (netdev) bridge OVS reads a host end with a packet socket, and
// the host's own stack used to see the same frames: a container on VLAN 881
// asking for the host's VLAN-880 host_ip got an ARP answer with the MAC of its
// own veth's host end, and IP sent to that MAC was delivered to the host.
// Observed as the attacker sees it (arping, ping with a static neighbour, from
// inside the container's netns) and as the host counts it (Icmp InEchos in
// /proc/net/snmp, Icmp6InEchos in /proc/net/snmp6 of the host netns, which
// nothing else sends echo requests to). The host netns is as loose as a host
// may be (rp_filter and arp_ignore 0, IPv6 on): isolation must not rest on
// routing luck (rp_filter 1 or 2 happens to refuse a source on a link without
// an address). The control removes the hardening by hand and sees the answer
// and the deliveries, so the checks can fail. The kernel datapath cannot run
// here (no openvswitch module); link/harden.ts says why it needs no filter.
import t, { type Test } from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { logRecords, type LogRecord } from '../helpers/faults.js';
import { run, runOk, sleep } from '../helpers/run.js';
import { endpointId, ownedPorts, ping, tcpTransfer } from '../helpers/traffic.js';

const BUSYBOX = '/usr/bin/busybox';
const HOST_IP = '192.0.2.254';
const HOST_IP6 = 'fd00:880::254';
const ATTACKER_IP6 = 'fd00:880::77';

/** Runs a command in a container's network namespace, with the host's tools and full privileges. */
function inNetns(pid: string, cmd: string, args: readonly string[]): ReturnType<typeof run> {
  return run('nsenter', ['-t', pid, '-n', cmd, ...args]);
}

/** Echo requests the host's stack has received: IPv4 and IPv6. */
async function echoesIn(host: Host): Promise<{ v4: number; v6: number }> {
  const snmp = (await host.ns.execOk('cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Icmp:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/));
  const v4 = Number(values?.[names?.indexOf('InEchos') ?? -1]);
  const v6 = Number(/^Icmp6InEchos\s+(\d+)/m.exec(await host.ns.execOk('cat', ['/proc/net/snmp6']))?.[1]);
  if (!Number.isFinite(v4) || !Number.isFinite(v6)) throw new Error('cannot read InEchos from /proc/net/snmp{,6}');
  return { v4, v6 };
}

interface Observed {
  /** MACs that answered an ARP request for HOST_IP */
  arpFrom: string[];
  /** echo requests the host received for HOST_IP / HOST_IP6, sent straight to the host end's MAC */
  v4: number;
  v6: number;
}

/** What the VLAN-881 container gets from the host through its own veth. */
async function probeHost(host: Host, pid: string, hostEndMac: string): Promise<Observed> {
  const arp = await inNetns(pid, BUSYBOX, ['arping', '-c', '3', '-w', '4', '-I', 'eth0', HOST_IP]);
  const arpFrom = [...arp.stdout.matchAll(/reply from \S+ \[([0-9a-f:]+)\]/gi)].map((m) => (m[1] ?? '').toLowerCase());
  for (const [ip, fam] of [[HOST_IP, '-4'], [HOST_IP6, '-6']] as const) {
    await runOk('nsenter', ['-t', pid, '-n', 'ip', fam, 'neigh', 'replace', ip, 'lladdr', hostEndMac, 'dev', 'eth0', 'nud', 'permanent']);
  }
  const before = await echoesIn(host);
  await inNetns(pid, BUSYBOX, ['ping', '-c', '3', '-W', '1', HOST_IP]);
  await inNetns(pid, BUSYBOX, ['ping6', '-c', '3', '-W', '1', HOST_IP6]);
  const after = await echoesIn(host);
  for (const [ip, fam] of [[HOST_IP, '-4'], [HOST_IP6, '-6']] as const) {
    await inNetns(pid, 'ip', [fam, 'neigh', 'del', ip, 'dev', 'eth0']);
  }
  return { arpFrom: [...new Set(arpFrom)], v4: after.v4 - before.v4, v6: after.v6 - before.v6 };
}

function assertIsolated(t: Test, seen: Observed, label: string): void {
  t.same(seen.arpFrom, [], `${label}: no ARP answer for ${HOST_IP}`);
  t.equal(seen.v4, 0, `${label}: no IPv4 echo request to ${HOST_IP} delivered to the host`);
  t.equal(seen.v6, 0, `${label}: no IPv6 echo request to ${HOST_IP6} delivered to the host`);
}

const sysctl = (host: Host, ...settings: string[]): Promise<string> => host.ns.execOk('sysctl', ['-qw', ...settings]);
const readSysctl = async (host: Host, key: string): Promise<string> => (await host.ns.execOk('sysctl', ['-n', key])).trim();

/** SIGHUP, then wait for that reconciliation to be logged as done; returns what it logged. */
async function reconcileNow(host: Host): Promise<LogRecord[]> {
  const plugin = host.plugin;
  if (!plugin?.pid) throw new Error('the daemon is not running');
  const from = (await logRecords(plugin.logFile)).length;
  process.kill(plugin.pid, 'SIGHUP');
  for (let i = 0; i < 200; i++) {
    const records = (await logRecords(plugin.logFile)).slice(from);
    if (records.some((r) => r.msg === 'reconciled' && r.reconcile === 'SIGHUP')) return records;
    await sleep(100);
  }
  throw new Error('the SIGHUP reconciliation was not logged within 20 s');
}

t.test('container veths carry no host traffic (netdev bridge)', async (t) => {
  const host = await createHost('hi', t);
  // no reverse-path filtering, ARP answered for any local address, IPv6 on (the netns helper turns it off)
  await sysctl(host, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.all.arp_ignore=0',
    'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0');
  await host.startPlugin();
  const subnet = ['--ipam-driver', 'ovsvlan', '--subnet', '192.0.2.0/24', '--gateway', '192.0.2.1'];
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=880', '--opt', `host_ip=${HOST_IP}/24`, ...subnet, 'hi880']);
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=881', ...subnet, 'hi881']);
  const net880 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'hi880']);
  const hostPort = (await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-role'] === 'host' && p.externalIds['ovsvlan-network'] === net880);
  if (!hostPort) throw new Error('the host_ip port of hi880 is missing');
  await host.ns.ip(['-6', 'addr', 'add', `${HOST_IP6}/64`, 'dev', hostPort.name, 'nodad']);

  // the VLAN-881 container first: the VLAN-880 ones after it make OVS reconfigure its port again
  const sleeper = ['busybox:local', 'sleep', '3600'];
  await host.dockerOk(['run', '-d', '--name', 'x881', '--net', 'hi881', '--ip', '192.0.2.77', ...sleeper]);
  await host.dockerOk(['run', '-d', '--name', 'a880', '--net', 'hi880', '--ip', '192.0.2.10', ...sleeper]);
  await host.dockerOk(['run', '-d', '--name', 'b880', '--net', 'hi880', '--ip', '192.0.2.11', ...sleeper]);
  const pid = await host.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'x881']);
  const ep = await endpointId(host, 'x881', 'hi881');
  const hostEnd = (await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-endpoint'] === ep)?.name;
  if (!hostEnd) throw new Error(`no OVS port carries endpoint ${ep.slice(0, 12)}`);
  const [link] = JSON.parse(await host.ns.ip(['-j', 'link', 'show', 'dev', hostEnd])) as Array<{ address: string; flags: string[] }>;
  const mac = (link?.address ?? '').toLowerCase();
  // the attacker: an address in VLAN 880's subnet already (--ip), and one in the host's IPv6 prefix
  await runOk('nsenter', ['-t', pid, '-n', 'sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=0']);
  await runOk('nsenter', ['-t', pid, '-n', 'ip', '-6', 'addr', 'add', `${ATTACKER_IP6}/64`, 'dev', 'eth0', 'nodad']);

  await t.test('the host end answers nothing and delivers nothing to the host', async (t) => {
    t.ok(link?.flags.includes('NOARP'), `${hostEnd} is NOARP (flags ${link?.flags.join(',')})`);
    t.equal(await readSysctl(host, `net.ipv6.conf.${hostEnd}.disable_ipv6`), '1', `IPv6 is off on ${hostEnd}`);
    t.equal(await host.ns.ip(['-o', 'addr', 'show', 'dev', hostEnd]), '', `${hostEnd} has no address`);
    assertIsolated(t, await probeHost(host, pid, mac), 'VLAN 881 container');
  });

  await t.test('control: without the hardening the host answers and receives', async (t) => {
    await host.ns.execOk('tc', ['qdisc', 'del', 'dev', hostEnd, 'clsact']);
    await host.ns.ip(['link', 'set', hostEnd, 'arp', 'on']);
    await sysctl(host, `net.ipv6.conf.${hostEnd}.disable_ipv6=0`);
    const seen = await probeHost(host, pid, mac);
    t.same(seen.arpFrom, [mac], `ARP for ${HOST_IP} answered with the host end's MAC ${mac}`);
    t.ok(seen.v4 > 0, `IPv4 echo requests delivered to the host (${seen.v4})`);
    t.ok(seen.v6 > 0, `IPv6 echo requests delivered to the host (${seen.v6})`);
  });

  await t.test('reconciliation hardens the host ends again', async (t) => {
    const logged = await reconcileNow(host);
    const repaired = logged.filter((r) => r.rule === 'host-end-exposed').map((r) => r['port']);
    t.same(repaired, [hostEnd], `reconciliation logged host-end-exposed for ${hostEnd} alone (the other host ends are intact)`);
    t.equal(await readSysctl(host, `net.ipv6.conf.${hostEnd}.disable_ipv6`), '1', `IPv6 is off on ${hostEnd} again`);
    assertIsolated(t, await probeHost(host, pid, mac), 'after reconciliation');
  });

  await t.test('sysctls on "all" cannot undo it', async (t) => {
    // writing all.disable_ipv6 resets every link's own value; a link's rp_filter and arp_ignore are the max of all and its own
    await sysctl(host, `net.ipv4.conf.${hostEnd}.rp_filter=0`, `net.ipv4.conf.${hostEnd}.arp_ignore=0`, 'net.ipv6.conf.all.disable_ipv6=0');
    t.equal(await readSysctl(host, `net.ipv6.conf.${hostEnd}.disable_ipv6`), '0', `all.disable_ipv6=0 turned IPv6 on for ${hostEnd}`);
    assertIsolated(t, await probeHost(host, pid, mac), 'after the sysctls');
  });

  await t.test('ovs-vswitchd restarted, ingress policing set and cleared on the port: still isolated', async (t) => {
    // ovs-vswitchd deletes an ingress qdisc of its ports whenever it applies policing, and adds its own for a rate
    await host.ovs.stopVswitchd();
    await host.ovs.startVswitchd();
    assertIsolated(t, await probeHost(host, pid, mac), 'after the restart');
    await host.ovs.vsctl(['set', 'interface', hostEnd, 'ingress_policing_rate=1000']);
    await host.ovs.vsctl(['set', 'interface', hostEnd, 'ingress_policing_rate=0']);
    assertIsolated(t, await probeHost(host, pid, mac), 'after policing was set and cleared');
  });

  await t.test('a spare of the pool that lost its hardening gets it back before it is handed out', async (t) => {
    const spare = (await ownedPorts(host, { spares: true })).find((p) => p.externalIds['ovsvlan-role'] === 'spare' && p.externalIds['ovsvlan-network'] === net880)?.name;
    if (!spare) throw new Error('hi880 has no spare in its pool');
    await host.ns.execOk('tc', ['qdisc', 'del', 'dev', spare, 'clsact']);
    await host.ns.ip(['link', 'set', spare, 'arp', 'on']);
    await sysctl(host, `net.ipv6.conf.${spare}.disable_ipv6=0`);
    const logged = await reconcileNow(host);
    // the other spares too: all.disable_ipv6=0 above turned IPv6 on for every link
    t.ok(logged.some((r) => r.rule === 'spare-exposed' && r['port'] === spare), `reconciliation logged spare-exposed for ${spare}`);
    for (const p of (await ownedPorts(host, { spares: true })).filter((x) => x.externalIds['ovsvlan-role'] === 'spare')) {
      t.equal(await readSysctl(host, `net.ipv6.conf.${p.name}.disable_ipv6`), '1', `IPv6 is off on spare ${p.name}`);
    }
    const [l] = JSON.parse(await host.ns.ip(['-j', 'link', 'show', 'dev', spare])) as Array<{ flags: string[] }>;
    t.ok(l?.flags.includes('NOARP'), `${spare} is NOARP again`);
    t.equal(await readSysctl(host, `net.ipv6.conf.${spare}.disable_ipv6`), '1', `IPv6 is off on ${spare} again`);
    t.match(await host.ns.execOk('tc', ['filter', 'show', 'dev', spare, 'ingress']), /pref 1 bpf/, `${spare} has its drop filter again`);
  });

  await t.test('another VLAN\'s host port neither answers ARP nor delivers IP for the VLAN-880 host_ip', async (t) => {
    // VLAN 882 has a host_ip of its own: Linux answers ARP on any link for any of the host's addresses,
    // and delivers a packet to any of them whatever link it came in on
    await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=882', '--opt', 'host_ip=198.51.100.254/24', '--ipam-driver', 'ovsvlan',
      '--subnet', '198.51.100.0/24', '--gateway', '198.51.100.1', 'hi882']);
    const net882 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'hi882']);
    const port882 = (await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-role'] === 'host' && p.externalIds['ovsvlan-network'] === net882)?.name;
    if (!port882) throw new Error('the host_ip port of hi882 is missing');
    const [l882] = JSON.parse(await host.ns.ip(['-j', 'link', 'show', 'dev', port882])) as Array<{ address: string }>;
    const mac882 = (l882?.address ?? '').toLowerCase();
    await host.dockerOk(['run', '-d', '--name', 'x882', '--net', 'hi882', '--ip', '198.51.100.77', ...sleeper]);
    const pid882 = await host.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'x882']);
    // the attacker also takes an address in VLAN 880's subnet, and asks for VLAN 880's host_ip
    await runOk('nsenter', ['-t', pid882, '-n', 'ip', 'addr', 'add', '192.0.2.78/24', 'dev', 'eth0']);
    const probe = async (): Promise<{ arpFrom: string[]; v4: number }> => {
      const arp = await inNetns(pid882, BUSYBOX, ['arping', '-c', '3', '-w', '4', '-I', 'eth0', '-s', '192.0.2.78', HOST_IP]);
      const arpFrom = [...new Set([...arp.stdout.matchAll(/reply from \S+ \[([0-9a-f:]+)\]/gi)].map((m) => (m[1] ?? '').toLowerCase()))];
      // then straight to VLAN 882's host port, whose MAC the container knows from its own VLAN's host_ip
      await runOk('nsenter', ['-t', pid882, '-n', 'ip', 'neigh', 'replace', HOST_IP, 'lladdr', mac882, 'dev', 'eth0', 'nud', 'permanent']);
      const before = await echoesIn(host);
      await inNetns(pid882, BUSYBOX, ['ping', '-c', '3', '-W', '1', '-I', '198.51.100.77', HOST_IP]);
      const after = await echoesIn(host);
      await inNetns(pid882, 'ip', ['neigh', 'del', HOST_IP, 'dev', 'eth0']);
      return { arpFrom, v4: after.v4 - before.v4 };
    };
    t.equal(await readSysctl(host, `net.ipv4.conf.${port882}.arp_ignore`), '1', `${port882} answers ARP only for its own address`);
    t.same(await probe(), { arpFrom: [], v4: 0 }, `no ARP answer for ${HOST_IP} through VLAN 882's host port ${port882}, and no echo request delivered`);
    t.ok(await ping(host, 'x882', '198.51.100.254'), 'x882 still reaches its own VLAN\'s host_ip');
    // control: the kernel's defaults on that port (answer for any local address, no filter)
    await sysctl(host, `net.ipv4.conf.${port882}.arp_ignore=0`);
    await host.ns.execOk('tc', ['qdisc', 'del', 'dev', port882, 'clsact']);
    const open = await probe();
    t.same(open.arpFrom, [mac882], `control: with arp_ignore 0, ${port882} answers for ${HOST_IP}`);
    t.ok(open.v4 > 0, `control: without the filter, echo requests to ${HOST_IP} through ${port882} reach the host (${open.v4})`);
    await reconcileNow(host);
    t.equal(await readSysctl(host, `net.ipv4.conf.${port882}.arp_ignore`), '1', 'reconciliation sets arp_ignore again');
    t.same(await probe(), { arpFrom: [], v4: 0 }, 'and the filter: nothing answers, nothing is delivered');
    await host.dockerOk(['rm', '-f', 'x882']);
    await host.dockerOk(['network', 'rm', 'hi882']);
    const port880 = hostPort.name;
    t.match(await host.ns.execOk('tc', ['filter', 'show', 'dev', port880, 'ingress']), /pref 1 bpf/, `${port880} keeps its filter once hi882 is gone`);
    t.ok(await ping(host, 'a880', HOST_IP), 'a880 still reaches its own VLAN\'s host_ip');
  });

  await t.test('the same VLAN and the host on it still work', async (t) => {
    t.ok(await ping(host, 'a880', '192.0.2.11'), 'a880 -> b880 ping');
    t.ok(await tcpTransfer(host, 'b880', '192.0.2.11', 'a880', 1_000_000), '1 MB a880 -> b880 over TCP, checksums equal');
    t.ok(await ping(host, 'a880', HOST_IP), `a880 (VLAN 880) reaches the host's host_ip ${HOST_IP}`);
  });
});
