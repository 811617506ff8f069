// Links through netlink (src/link/links.ts, harden.ts): what the daemon's own
// process asks the kernel, checked with the kernel's own tools (`ip`, `ethtool
// -k`, `tc -j filter show`). Each step runs the built module (dist/) in a
// child `node` inside a namespace the test made, as the daemon runs there.
import { readFile, rm } from 'node:fs/promises';
import t from 'tap';
import { createNetns, type Netns } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, run, sleep, waitFor } from '../helpers/run.js';

/** The child: runs one operation of links.js / harden.js and prints its result or error as JSON. */
const CHILD = `
const [dist, op, ...args] = process.argv.slice(1);
const links = await import(dist + 'link/links.js');
const harden = await import(dist + 'link/harden.js');
const ops = {
  create: (h, p, mtu, alias) => links.createVethPair(h, p, Number(mtu), alias),
  del: (n) => links.deleteLink(n),
  get: (n) => links.getLink(n),
  list: () => links.listLinks(),
  offload: (n) => links.disableTxOffload(n),
  harden: (n, dp, made) => harden.hardenHostEnd(n, dp, made === 'true'),
  unhardened: (json) => harden.unhardenedHostEnds(JSON.parse(json)).then((s) => [...s]),
  hostPort: (n, ...foreign) => harden.hardenHostPort(n).then(() => harden.fenceHostPort(n, foreign)),
  // what a burst of CreateEndpoints during a reconciliation asks at once, on the one socket
  burst: async (prefix, count) => {
    const ends = Array.from({ length: Number(count) }, (_, i) => ({ name: prefix + 'h' + i, peer: prefix + 'c' + i, datapath: 'netdev' }));
    const [made, lists, found, unhardened] = await Promise.all([
      Promise.all(ends.map((e) => links.createVethPair(e.name, e.peer, 1500, 'ovsvlan:burst'))),
      Promise.all([1, 2, 3].map(() => links.listLinks())),
      Promise.all(ends.map((e) => links.getLink(e.peer))),
      harden.unhardenedHostEnds(ends),
    ]);
    return { made: made.filter((m) => m).length, lists: lists.length, found: found.filter((l) => l).length, unhardened: unhardened.size };
  },
};
try {
  console.log(JSON.stringify({ ok: (await ops[op](...args)) ?? null }));
} catch (err) {
  console.log(JSON.stringify({ error: { name: err.constructor.name, message: err.message } }));
}
`;

type Answer = { ok?: unknown; error?: { name: string; message: string } };

interface IpLink {
  ifname: string;
  mtu: number;
  flags: string[];
  ifalias?: string;
}

let ns: Netns;
const name = (s: string): string => `${RUN_PREFIX}${s}`;

async function call(op: string, ...args: string[]): Promise<Answer> {
  const r = await run('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', CHILD, `${REPO_ROOT}dist/`, op, ...args]);
  if (r.exitCode !== 0) throw new Error(`child ${op} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Answer;
}

async function ipLink(dev: string): Promise<IpLink | undefined> {
  const r = await ns.exec('ip', ['-j', 'link', 'show', 'dev', dev]);
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as IpLink[])[0] : undefined;
}

async function txChecksum(dev: string): Promise<string> {
  const out = await ns.execOk('ethtool', ['-k', dev]);
  return /^tx-checksumming: (\w+)/m.exec(out)?.[1] ?? 'unknown';
}

t.before(async () => {
  ns = await createNetns(name('nl'));
});
t.teardown(() => ns.remove());

t.test('a veth pair: both MTUs and aliases, host end up and NOARP, made once, deleted once', async (t) => {
  const [host, peer] = [name('h1'), name('c1')];
  t.same(await call('create', host, peer, '1400', 'ovsvlan:ep1'), { ok: true }, 'created');
  const h = await ipLink(host);
  const c = await ipLink(peer);
  t.equal(h?.mtu, 1400, 'host end MTU');
  t.equal(c?.mtu, 1400, 'container end MTU');
  t.equal(h?.ifalias, 'ovsvlan:ep1', 'host end alias');
  t.equal(c?.ifalias, 'ovsvlan:ep1', 'container end alias');
  t.ok(h?.flags.includes('UP') && h.flags.includes('NOARP'), `host end up and NOARP (${h?.flags.join(',')})`);
  t.notOk(c?.flags.includes('NOARP'), 'container end keeps ARP');
  t.same(await call('create', host, peer, '1400', 'ovsvlan:ep1'), { ok: false }, 'a second create finds the names taken');
  t.same(await call('create', name('h9'), peer, '1400', 'x'), { ok: false }, 'a taken peer name is found too');
  t.equal(await ipLink(name('h9')), undefined, 'and nothing was made for it');

  const got = (await call('get', host)).ok as { name: string; mtu: number; kind: string; alias: string; noarp: boolean };
  t.match(got, { name: host, mtu: 1400, kind: 'veth', alias: 'ovsvlan:ep1', noarp: true }, 'getLink reads it back');
  t.same(await call('get', name('nx')), { ok: null }, 'getLink of no link is undefined');
  const listed = ((await call('list')).ok as Array<{ name: string }>).map((l) => l.name).sort();
  t.same(listed, ['lo', peer, host].sort(), 'listLinks: the namespace\'s links');

  t.same(await call('del', host), { ok: true }, 'deleted');
  t.equal(await ipLink(peer), undefined, 'both ends are gone');
  t.same(await call('del', host), { ok: false }, 'deleting it again: already gone');
});

t.test('transmit checksum offload off, as ethtool sees it', async (t) => {
  const [host, peer] = [name('h2'), name('c2')];
  t.same(await call('create', host, peer, '1500', 'ovsvlan:ep2'), { ok: true });
  t.equal(await txChecksum(peer), 'on', 'a new veth checksums in "hardware"');
  t.same(await call('offload', peer), { ok: null });
  t.equal(await txChecksum(peer), 'off', 'tx-checksumming off');
  t.match(await ns.execOk('ethtool', ['-k', peer]), /^\ttx-checksum-ip-generic: off$/m, 'tx-checksum-ip-generic off');
  t.equal(await txChecksum(host), 'on', 'the other end keeps it');
  await call('del', host);
});

t.test('host end hardening on a netdev bridge: NOARP and the drop-all ingress filter', async (t) => {
  const [host, peer] = [name('h3'), name('c3')];
  // made as an older ovsvlan (or a hand) made it: ARP on, no filter
  await ns.execOk('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  const ends = JSON.stringify([{ name: host, datapath: 'netdev' }, { name: name('gone'), datapath: 'netdev' }]);
  t.same(await call('unhardened', ends), { ok: [host] }, 'found unhardened (a missing link is not reported)');

  t.same(await call('harden', host, 'netdev', 'false'), { ok: null });
  t.ok((await ipLink(host))?.flags.includes('NOARP'), 'NOARP set on a link found existing');
  const filters = JSON.parse(await ns.execOk('tc', ['-j', 'filter', 'show', 'dev', host, 'ingress'])) as Array<{
    kind: string; pref: number; options?: { 'direct-action'?: boolean; bytecode?: { insns: Array<{ code: number; jt: number; jf: number; k: number }> } };
  }>;
  const bpf = filters.find((f) => f.options);
  t.match(bpf, { kind: 'bpf', pref: 1, options: { 'direct-action': true } }, 'a direct-action bpf filter at ingress, pref 1');
  t.same(bpf?.options?.bytecode?.insns, [{ code: 6, jt: 0, jf: 0, k: 2 }], 'its program: ret TC_ACT_SHOT');
  t.same(await call('unhardened', ends), { ok: [] }, 'now hardened');
  t.same(await call('harden', host, 'netdev', 'false'), { ok: null }, 'hardening again is harmless');
  t.equal((JSON.parse(await ns.execOk('tc', ['-j', 'filter', 'show', 'dev', host, 'ingress'])) as unknown[]).length, filters.length, 'and adds no second filter');

  await ns.execOk('tc', ['filter', 'del', 'dev', host, 'ingress']);
  t.same(await call('unhardened', ends), { ok: [host] }, 'a filter removed by hand is seen');
  await ns.execOk('ip', ['link', 'set', host, 'arp', 'on']);
  t.same(await call('unhardened', JSON.stringify([{ name: host, datapath: 'system' }])), { ok: [host] }, 'ARP turned back on is seen (system datapath)');
  await call('del', host);
});

t.test('a host end whose IPv6 is turned on again (all.disable_ipv6=0, a read-only /proc/sys) sends nothing into the VLAN', async (t) => {
  const box = await createNetns(name('nlq'));
  t.teardown(() => box.remove());
  const [host, peer] = [name('hq6'), name('cq6')];
  await ns.execOk('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer, 'netns', box.name]);
  t.same(await call('harden', host, 'netdev', 'false'), { ok: null });
  t.match(await ns.execOk('ip', ['-d', 'link', 'show', 'dev', host]), /addrgenmode none/, 'IPv6 address generation none');
  const sent = async (): Promise<string[]> => {
    await ns.execOk('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=0', `net.ipv6.conf.${host}.disable_ipv6=0`]);
    await ns.ip(['link', 'set', host, 'down']);
    await box.ip(['link', 'set', peer, 'up']);
    // tcpdump's stderr and pid go to files: the link comes up only once it says it is listening
    const [errFile, pidFile] = [`${RUN_DIR}/${host}.tcpdump.err`, `${RUN_DIR}/${host}.tcpdump.pid`];
    await ensureRunDir();
    await rm(errFile, { force: true });
    const cap = box.exec('sh', ['-c', 'echo $$ > "$1"; exec timeout 120 tcpdump -nn -l -i "$2" ip6 2>"$3"', 'sh', pidFile, peer, errFile]);
    await waitFor('tcpdump to listen', async () => (await readFile(errFile, 'utf8').catch(() => '')).includes('listening on'), 60_000);
    await ns.ip(['link', 'set', host, 'up']);
    await sleep(4_000); // the capture window: a router solicitation comes within ~2 s of carrier (the control below)
    process.kill(Number((await readFile(pidFile, 'utf8')).trim()), 'SIGTERM');
    const lines = (await cap).stdout.split('\n').filter(Boolean);
    await Promise.all([errFile, pidFile].map((f) => rm(f, { force: true })));
    await box.ip(['link', 'set', peer, 'down']);
    return lines;
  };
  t.same(await sent(), [], 'IPv6 on, carrier up: no neighbour or router solicitation from the host end');
  t.same(await call('unhardened', JSON.stringify([{ name: host, datapath: 'system' }])), { ok: [host] }, 'IPv6 on is seen');
  await ns.execOk('ip', ['link', 'set', host, 'addrgenmode', 'eui64']);
  t.match((await sent()).join('\n'), /router solicitation/, 'control: with address generation back on, it solicits routers into the VLAN');
  t.same(await call('harden', host, 'system', 'false'), { ok: null });
  t.same(await call('unhardened', JSON.stringify([{ name: host, datapath: 'system' }])), { ok: [] }, 'hardened again');
  await call('del', host);
});

t.test('a host port: ARP only for its own address, nothing delivered to another network\'s host_ip (IPv4 and IPv6)', async (t) => {
  // the host port hp (own address .1) faces a container netns; another link holds the other networks' host_ips
  const box = await createNetns(name('nlbox'));
  t.teardown(() => box.remove());
  const [hp, hc, other] = [name('hp'), name('hc'), name('ho')];
  const sys = (n: Netns, ...kv: string[]): Promise<string> => n.execOk('sysctl', ['-qw', ...kv]);
  await ns.execOk('ip', ['link', 'add', hp, 'type', 'veth', 'peer', 'name', hc, 'netns', box.name]);
  await ns.execOk('ip', ['link', 'add', other, 'type', 'veth', 'peer', 'name', name('hq')]);
  await sys(ns, 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv6.conf.all.disable_ipv6=0', `net.ipv6.conf.${hp}.disable_ipv6=0`, `net.ipv6.conf.${other}.disable_ipv6=0`);
  await sys(box, 'net.ipv6.conf.all.disable_ipv6=0', `net.ipv6.conf.${hc}.disable_ipv6=0`);
  for (const [dev, addrs] of [[hp, ['10.77.1.1/24', 'fd77:1::1/64']], [other, ['10.77.2.1/24', 'fd77:2::1/64', 'fd77:3::1/64']]] as const) {
    for (const a of addrs) await ns.ip(['addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : [])]);
    await ns.ip(['link', 'set', dev, 'up']);
  }
  await box.ip(['addr', 'add', '10.77.1.2/24', 'dev', hc]);
  await box.ip(['addr', 'add', 'fd77:1::2/64', 'dev', hc, 'nodad']);
  await box.ip(['addr', 'add', '10.77.2.9/24', 'dev', hc]); // an address in the other network's subnet
  await box.ip(['link', 'set', hc, 'up']);
  await box.ip(['-6', 'route', 'add', 'fd77::/16', 'via', 'fd77:1::1']);
  // IP to the other's host_ip goes to hp's MAC whatever ARP says (a static route, as an attacker would), from hc's own address
  await box.ip(['route', 'add', '10.77.2.1/32', 'via', '10.77.1.1']);
  const reach = async (): Promise<Record<string, boolean>> => {
    const out: Record<string, boolean> = {};
    for (const a of ['10.77.1.1', 'fd77:1::1', '10.77.2.1', 'fd77:2::1', 'fd77:3::1']) {
      const from = a.includes(':') ? 'fd77:1::2' : '10.77.1.2';
      out[a] = (await box.exec('busybox', [a.includes(':') ? 'ping6' : 'ping', '-c', '1', '-W', '2', '-I', from, a])).exitCode === 0;
    }
    const arp = await box.exec('busybox', ['arping', '-c', '2', '-w', '3', '-I', hc, '-s', '10.77.2.9', '10.77.2.1']);
    out['arp 10.77.2.1'] = /reply from/i.test(arp.stdout);
    return out;
  };
  const open = { '10.77.1.1': true, 'fd77:1::1': true, '10.77.2.1': true, 'fd77:2::1': true, 'fd77:3::1': true, 'arp 10.77.2.1': true };
  t.same(await reach(), open, 'control: as Linux has it, the port answers and delivers for every address of the host');
  t.same(await call('hostPort', hp, '10.77.2.1', 'fd77:2::1', 'fd77:3::1'), { ok: null });
  t.same(await reach(), { ...open, '10.77.2.1': false, 'fd77:2::1': false, 'fd77:3::1': false, 'arp 10.77.2.1': false },
    'hardened and fenced: its own addresses only (NDP included), no ARP answer for another\'s');
  t.equal((await ns.execOk('sysctl', ['-n', `net.ipv4.conf.${hp}.arp_ignore`, `net.ipv4.conf.${hp}.arp_announce`])).split('\n').join(' '), '1 2', 'arp_ignore 1, arp_announce 2');
  t.same(await call('hostPort', hp, 'fd77:3::1'), { ok: null }, 'the fence replaced: one foreign address left');
  t.same(await reach(), { ...open, 'fd77:3::1': false, 'arp 10.77.2.1': false }, 'only that one is kept out');
  await call('del', hp);
  await call('del', other);
});

t.test('many requests and dumps at once on the one socket all get their answers', async (t) => {
  const count = 150;
  const r = await call('burst', name('b'), String(count));
  t.ok(r.ok, `the child answered (${r.error?.message ?? 'no error'})`);
  t.match(r.ok, { made: count, lists: 3 }, 'every pair made, every dump whole');
  const links = JSON.parse(await ns.execOk('ip', ['-j', 'link', 'show', 'type', 'veth'])) as IpLink[];
  t.equal(links.filter((l) => l.ifname.startsWith(name('b'))).length, 2 * count, 'the kernel has them all');
});

t.test('failures name the operation and the kernel\'s errno', async (t) => {
  const bad = await call('create', name('h4'), name('c4'), '10', 'x');
  t.match(bad.error, { name: 'NetlinkError', message: /create veth .*h4.*: .*\(EINVAL\)/ }, 'an MTU below the minimum');
  t.equal(await ipLink(name('h4')), undefined, 'nothing made');

  const long = await call('create', name('h5'), name('c5'), '1500', 'a'.repeat(300));
  t.match(long.error?.message, /set alias of .*: .*\(E[A-Z]+\)/, 'an alias the kernel refuses');
  t.equal(await ipLink(name('h5')), undefined, 'the pair made before it is deleted again');
  t.equal(await ipLink(name('c5')), undefined, 'both ends');

  t.match((await call('harden', name('nx'), 'netdev', 'false')).error?.message, /arp off: .*\(ENODEV\)/, 'hardening a missing link');
  t.match((await call('offload', name('nx'))).error?.message, /ethtool features off on .*nx: .*\(ENODEV\)/, 'offload of a missing link');
});
