// `ovsvlan doctor` as an operator uses it, inside a simulated host: on a
// healthy host every line PASSes; then, one at a time, an uplink whose MTU is
// below its network's (FAIL), strict rp_filter on a host_ip port and through
// `all` (WARN), a tunnel underlay too small (FAIL), tx checksumming turned
// back on in a container (FAIL), a trunk missing a VLAN with the daemon
// stopped (FAIL) — each with its fix in the line, and the fix as printed
// (run in the host's netns) makes the line PASS again.
import t from 'tap';
import { ovsvlanCli } from '../helpers/cli.js';
import { createHost } from '../helpers/host.js';
import { networkPortNames } from '../../src/names.js';
import { RUN_PREFIX, waitFor } from '../helpers/run.js';

const lines = (out: string, verdict: string, name: string): string[] =>
  out.split('\n').filter((l) => l.startsWith(`${verdict}  ${name.padEnd(16)} `));
const has = (out: string, verdict: string, name: string, text: string): boolean => lines(out, verdict, name).some((l) => l.includes(text));
/** The command of a line's fix, up to " (or …" or ", or …". */
const fixOf = (line: string | undefined): string[] => (/; fix: (.*?)(?: \(or |, or |$)/.exec(line ?? '')?.[1] ?? '').split(' ').filter(Boolean);

t.test('ovsvlan doctor', async (t) => {
  const host = await createHost('dr', t);
  const plugin = await host.startPlugin();
  const doctor = () => ovsvlanCli(host, ['doctor']);
  // an uplink with no address, and an underlay for a VXLAN network (10.99.7.0/24 exists only in this netns)
  const [uplink, under] = [`${RUN_PREFIX}du`, `${RUN_PREFIX}dt`];
  await host.ns.ip(['link', 'add', uplink, 'type', 'veth', 'peer', 'name', `${RUN_PREFIX}dv`]);
  await host.ns.ip(['link', 'add', under, 'type', 'veth', 'peer', 'name', `${RUN_PREFIX}dw`]);
  await host.ns.ip(['addr', 'add', '10.99.7.1/24', 'dev', under]);
  for (const l of [uplink, `${RUN_PREFIX}dv`, under, `${RUN_PREFIX}dw`]) await host.ns.ip(['link', 'set', l, 'up']);
  await host.ns.execOk('sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0']);

  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=880', '--opt', `uplink=${uplink}`, '--opt', 'mtu=1500',
    '--opt', 'host_ip=192.0.2.254/24', '--subnet', '192.0.2.0/24', '--gateway', '192.0.2.1', 'dn880']);
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=881', '--subnet', '198.51.100.0/24', 'dn881']);
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', 'vni=4242', '--opt', 'remote=10.99.7.2',
    '--subnet', '203.0.113.0/24', 'dnvx']);
  for (const c of ['d1', 'd2']) await host.dockerOk(['run', '-d', '--name', c, '--net', 'dn880', 'busybox:local', 'sleep', '3600']);
  const hostPort = networkPortNames(await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'dn880']), 0, true).host ?? '';
  await host.ns.execOk('sysctl', ['-qw', `net.ipv4.conf.${hostPort}.rp_filter=0`]);
  /** Runs the fix a line prints, in the host's netns, once it is the one expected. */
  const applyFix = async (st: typeof t, line: string | undefined, expected: RegExp): Promise<void> => {
    const argv = fixOf(line);
    st.match(argv.join(' '), expected, `the fix is ${argv.join(' ')}`);
    if (expected.test(argv.join(' '))) await host.ns.execOk(argv[0] ?? 'false', argv.slice(1));
  };

  await t.test('a healthy host: every line PASSes, exit 0', async (t) => {
    const r = await doctor();
    t.equal(r.exitCode, 0, `exit 0\n${r.stdout}${r.stderr}`);
    t.same(r.stdout.split('\n').filter((l) => l && !l.startsWith('PASS  ')), [], 'no WARN or FAIL');
    t.match(lines(r.stdout, 'PASS', 'ovsdb')[0], `at ${host.ovs.endpoint}`);
    t.match(lines(r.stdout, 'PASS', 'ovsdb')[0], /Open vSwitch \d+\.\d+\.\d+/, 'its version, though OVS was started without ovs-ctl');
    t.match(lines(r.stdout, 'PASS', 'ovs-vswitchd')[0], /running \(pid \d+\)/);
    t.match(lines(r.stdout, 'PASS', 'datapath')[0], /userspace \(netdev\)/);
    t.match(lines(r.stdout, 'PASS', 'plugin-socket')[0], /mode 0660, owner root/);
    t.match(lines(r.stdout, 'PASS', 'plugin')[0], /NetworkDriver, IpamDriver/);
    t.match(lines(r.stdout, 'PASS', 'docker')[0], /Docker \d+\.\d+/);
    t.ok(has(r.stdout, 'PASS', 'rp_filter', `${uplink} (uplink): off`), 'rp_filter PASS on the uplink');
    t.ok(has(r.stdout, 'PASS', 'rp_filter', `${hostPort} (host_ip): off`), 'rp_filter PASS on the host_ip port');
    t.match(lines(r.stdout, 'PASS', 'uplink-mtu')[0], `${uplink} mtu 1500`);
    t.match(lines(r.stdout, 'PASS', 'trunks')[0], `${uplink} on ${plugin.bridge} carries VLAN 880,881`);
    t.match(lines(r.stdout, 'PASS', 'tunnel-mtu')[0], `mtu 1450 to 10.99.7.2 via ${under} mtu 1500`);
    t.match(lines(r.stdout, 'PASS', 'tx-offload')[0], /tx checksumming off in 2 of 2 containers/);
  });

  await t.test('uplink MTU below its network\'s: FAIL with the fix; the fix makes it PASS', async (t) => {
    await host.ns.ip(['link', 'set', 'dev', uplink, 'mtu', '1400']);
    const r = await doctor();
    t.equal(r.exitCode, 1, 'exit 1');
    const [line] = lines(r.stdout, 'FAIL', 'uplink-mtu');
    t.match(line, `${uplink} mtu 1400 is below 1500`);
    await applyFix(t, line, new RegExp(`^ip link set dev ${uplink} mtu 1500$`));
    const after = await doctor();
    t.equal(after.exitCode, 0, 'exit 0 after the fix');
    t.equal(lines(after.stdout, 'PASS', 'uplink-mtu').length, 1, 'uplink-mtu PASS');
  });

  await t.test('strict rp_filter on the host_ip port, then through all: WARN with the fix', async (t) => {
    await host.ns.execOk('sysctl', ['-qw', `net.ipv4.conf.${hostPort}.rp_filter=1`]);
    const r = await doctor();
    t.equal(r.exitCode, 0, 'a warning alone: exit 0');
    const [line] = lines(r.stdout, 'WARN', 'rp_filter');
    t.match(line, `${hostPort} (host_ip): strict, net.ipv4.conf.${hostPort}.rp_filter=1`);
    t.equal(lines(r.stdout, 'PASS', 'rp_filter').length, 1, 'the uplink stays PASS');
    await applyFix(t, line, new RegExp(`^sysctl -w net\\.ipv4\\.conf\\.${hostPort}\\.rp_filter=2$`));
    t.ok(has((await doctor()).stdout, 'PASS', 'rp_filter', `${hostPort} (host_ip): loose`), 'PASS after the fix');

    await host.ns.execOk('sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1']);
    t.teardown(() => host.ns.execOk('sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0']));
    const all = await doctor();
    const [strict] = lines(all.stdout, 'WARN', 'rp_filter');
    t.match(strict, `${uplink} (uplink): strict, net.ipv4.conf.all.rp_filter=1 (${uplink} has 0; the larger applies)`, 'all=1 makes the uplink strict');
    t.ok(has(all.stdout, 'PASS', 'rp_filter', `${hostPort} (host_ip): loose`), 'the host_ip port at 2 stays loose');
    await applyFix(t, strict, new RegExp(`^sysctl -w net\\.ipv4\\.conf\\.${uplink}\\.rp_filter=2$`));
    t.equal(lines((await doctor()).stdout, 'PASS', 'rp_filter').length, 2, 'both PASS with all still 1');
  });

  await t.test('a tunnel underlay too small for its network: FAIL with the fix', async (t) => {
    await host.ns.ip(['link', 'set', 'dev', under, 'mtu', '1400']);
    const r = await doctor();
    t.equal(r.exitCode, 1);
    const [line] = lines(r.stdout, 'FAIL', 'tunnel-mtu');
    t.match(line, `mtu 1450 to 10.99.7.2 via ${under} mtu 1400 (carries 1350`);
    t.match(line, '--opt mtu=1350', 'or a lower --opt mtu');
    await applyFix(t, line, new RegExp(`^ip link set dev ${under} mtu 1500$`));
    t.equal((await doctor()).exitCode, 0);
  });

  await t.test('tx checksumming back on in a container: FAIL with the nsenter fix', async (t) => {
    const pid = await host.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'd1']);
    await host.ns.execOk('nsenter', [`--net=/proc/${pid}/ns/net`, 'ethtool', '-K', 'eth0', 'tx', 'on']);
    const r = await doctor();
    t.equal(r.exitCode, 1);
    const [line] = lines(r.stdout, 'FAIL', 'tx-offload');
    t.match(line, /container d1 .*tx checksumming on eth0/);
    t.match(lines(r.stdout, 'PASS', 'tx-offload')[0], /off in 1 of 2/);
    await applyFix(t, line, new RegExp(`^nsenter --net=/proc/${pid}/ns/net ethtool -K eth0 tx off$`));
    t.match(lines((await doctor()).stdout, 'PASS', 'tx-offload')[0], /off in 2 of 2/);
  });

  await t.test('daemon stopped and a VLAN missing from the trunk: FAIL each; reconciliation at start repairs the trunk', async (t) => {
    await plugin.stop();
    await host.ovs.vsctl(['set', 'port', uplink, 'trunks=880']);
    const r = await doctor();
    t.equal(r.exitCode, 1);
    t.match(lines(r.stdout, 'FAIL', 'plugin')[0], `no answer on ${plugin.socket}`);
    const [trunk] = lines(r.stdout, 'FAIL', 'trunks');
    t.match(trunk, `${uplink} on ${plugin.bridge} does not carry VLAN 881`);
    t.match(trunk, `fix: ovs-vsctl set port ${uplink} trunks=880,881, or systemctl reload ovsvlan`);
    await plugin.start();
    const after = await waitFor('doctor exits 0 once the daemon has reconciled', async () => {
      const d = await doctor();
      return d.exitCode === 0 ? d : undefined;
    }, 30_000);
    t.match(lines(after.stdout, 'PASS', 'trunks')[0], 'carries VLAN 880,881');
  });

  await t.test('OVSDB unreachable: FAIL with the fix; --help', async (t) => {
    const r = await ovsvlanCli(host, ['doctor', '--ovsdb=unix:/nonexistent/db.sock']);
    t.equal(r.exitCode, 1);
    t.match(lines(r.stdout, 'FAIL', 'ovsdb')[0], /cannot read OVSDB at unix:\/nonexistent\/db\.sock.*fix: start Open vSwitch/);
    const h = await ovsvlanCli(host, ['doctor', '--help']);
    t.equal(h.exitCode, 0);
    t.match(h.stdout, /usage: ovsvlan doctor.*example:/s);
  });
});
