// The udhcpc command lines of src/dhcp/argv.ts: what the first lease and the
// renewal client send (identity, vendor class, requested address), that the
// first lease listens for its whole bound, and how a renewal client is
// recognised by its command line.
import t from 'tap';
import { clientIdOf, discoverSchedule, firstLeaseArgv, hookEnv, isRenewalCmdline, renewalArgv } from '../../src/dhcp/argv.js';
import type { DhcpIdentity } from '../../src/dhcp/types.js';

const identity: DhcpIdentity = { mac: '02:11:22:aa:bb:cc', clientId: '01021122aabbcc', hostname: undefined };

/** The value after `flag` in argv (undefined when absent). */
const after = (argv: string[], flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
};
/** Every value given with `flag`. */
const all = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));

t.test('client identifier: 01 (Ethernet) and the MAC, lowercase; a bad MAC is refused', async (t) => {
  t.equal(clientIdOf('02:11:22:AA:BB:CC'), '01021122aabbcc');
  t.throws(() => clientIdOf('02:11:22:aa:bb'), /not a colon-hex MAC/);
  t.throws(() => clientIdOf('02:11:22:aa:bb:zz'), /not a colon-hex MAC/);
});

t.test('the first lease listens for offers during its whole bound, never longer', async (t) => {
  for (const timeoutS of [1, 2, 3, 4, 5, 10, 25]) {
    const { tries, pauseS } = discoverSchedule(timeoutS);
    t.ok(tries >= 1 && pauseS >= 1, `${timeoutS} s: at least one DISCOVER`);
    t.ok(tries * pauseS <= timeoutS, `${timeoutS} s: ${tries} x ${pauseS} s fits the bound`);
    t.ok(tries * pauseS > timeoutS - pauseS, `${timeoutS} s: ${tries} x ${pauseS} s uses the bound`);
  }
});

t.test('first lease: one-shot, report only, identity and vendor class, the last address asked for', async (t) => {
  const argv = firstLeaseArgv({ ifname: 'ovc0123456789ab', identity, requested: '10.87.0.23', timeoutS: 10, hook: '/h', netns: undefined });
  t.equal(argv[0], 'udhcpc', 'runs in the current namespace');
  for (const f of ['-f', '-q', '-n']) t.ok(argv.includes(f), `${f}: foreground, quit once bound, exit without a lease`);
  t.notOk(argv.includes('-R'), 'never releases on exit');
  t.equal(after(argv, '-i'), 'ovc0123456789ab');
  t.equal(after(argv, '-s'), '/h');
  t.equal(after(argv, '-t'), '5');
  t.equal(after(argv, '-T'), '2');
  t.same(all(argv, '-x'), ['0x3d:01021122aabbcc'], 'client identifier, no hostname yet');
  t.equal(after(argv, '-V'), 'ovsvlan');
  t.equal(after(argv, '-r'), '10.87.0.23');
  t.notOk(firstLeaseArgv({ ifname: 'x', identity, requested: undefined, timeoutS: 10, hook: '/h', netns: undefined }).includes('-r'));
});

t.test('a lease given back: the same client asking for it, staying bound to be told to release', async (t) => {
  const argv = firstLeaseArgv({ ifname: 'x', identity, requested: '10.87.0.23', timeoutS: 5, hook: '/h', netns: '/run/netns/r', untilReleased: true });
  t.notOk(argv.includes('-q'), 'no -q: BusyBox 1.35 quits without releasing even with -R');
  t.ok(argv.includes('-n'), 'still gives up without a lease');
  t.equal(after(argv, '-r'), '10.87.0.23');
});

t.test('the hook\'s environment: report only unless applying, no NODE_OPTIONS of the daemon', async (t) => {
  const env = hookEnv({ node: '/n', hookModule: '/m.js', leaseFile: '/l', apply: false, gateway: 'none', deconfigFile: undefined });
  t.same(env, {
    NODE_OPTIONS: '', OVSVLAN_NODE: '/n', OVSVLAN_DHCP_HOOK: '/m.js', OVSVLAN_DHCP_LEASE_FILE: '/l',
    OVSVLAN_DHCP_APPLY: '0', OVSVLAN_DHCP_GATEWAY: 'none', OVSVLAN_DHCP_DECONFIG_FILE: '',
  });
  t.equal(hookEnv({ node: '/n', hookModule: '/m', leaseFile: '/l', apply: true, gateway: 'server', deconfigFile: '/d' }).OVSVLAN_DHCP_APPLY, '1');
});

t.test('a netns puts busybox nsenter --net=<file> before udhcpc (nsenter execs it in place)', async (t) => {
  const argv = firstLeaseArgv({ ifname: 'x', identity, requested: undefined, timeoutS: 3, hook: '/h', netns: '/run/netns/h1' });
  t.same(argv.slice(0, 4), ['nsenter', '--net=/run/netns/h1', 'busybox', 'udhcpc']);
});

t.test('renewal: long-running in the sandbox, asks for the address, sends the hostname, writes the pidfile', async (t) => {
  const argv = renewalArgv({
    sandboxKey: '/var/run/docker/netns/abc',
    ifname: 'eth0',
    address: '10.87.0.23',
    identity: { ...identity, hostname: 'web-1.example' },
    hook: '/h',
    pidFile: '/state/dhcp/ep1.pid',
  });
  t.same(argv.slice(0, 4), ['nsenter', '--net=/var/run/docker/netns/abc', 'busybox', 'udhcpc']);
  t.notOk(argv.includes('-q') || argv.includes('-n') || argv.includes('-R'), 'never quits, never releases on its own');
  t.equal(after(argv, '-i'), 'eth0');
  t.equal(after(argv, '-r'), '10.87.0.23');
  t.same(all(argv, '-x'), ['0x3d:01021122aabbcc', 'hostname:web-1.example']);
  t.equal(after(argv, '-p'), '/state/dhcp/ep1.pid');
});

t.test('a hostname that is not a DNS label run is not sent', async (t) => {
  const argv = renewalArgv({
    sandboxKey: '/n', ifname: 'eth0', address: '10.0.0.2', identity: { ...identity, hostname: 'a b;c' }, hook: '/h', pidFile: '/p',
  });
  t.same(all(argv, '-x'), ['0x3d:01021122aabbcc']);
});

t.test('a renewal client is recognised by udhcpc and its own pidfile in its command line', async (t) => {
  const argv = renewalArgv({ sandboxKey: '/n', ifname: 'eth0', address: '10.0.0.2', identity, hook: '/h', pidFile: '/s/ep1.pid' });
  // what /proc/<pid>/cmdline holds once nsenter has exec'd udhcpc
  const cmdline = `${['busybox', ...argv.slice(3)].join('\0')}\0`;
  t.ok(isRenewalCmdline(cmdline, '/s/ep1.pid'));
  t.notOk(isRenewalCmdline(cmdline, '/s/ep2.pid'), 'another endpoint\'s pidfile');
  t.notOk(isRenewalCmdline(['sleep', '-p', '/s/ep1.pid'].join('\0'), '/s/ep1.pid'), 'not udhcpc');
  t.notOk(isRenewalCmdline('', '/s/ep1.pid'), 'a kernel thread or a process gone');
});
