// `ovsvlan status` as an operator uses it: after real `docker run`s it lists
// the network and both containers with their OVS ports, tags and addresses;
// a port deleted behind ovsvlan's back is reported as drift, with a non-zero
// exit status, and reconciliation makes the drift go away again.
import { mkdir, writeFile } from 'node:fs/promises';
import t from 'tap';
import { createHost } from '../helpers/host.js';
import { ovsvlanCli } from '../helpers/cli.js';
import { RUN_DIR, waitFor } from '../helpers/run.js';
import type { StatusReport } from '../../src/cli/report.js';

t.test('ovsvlan status', async (t) => {
  const host = await createHost('st', t);
  const plugin = await host.startPlugin();
  const status = async (): Promise<{ code: number; report: StatusReport }> => {
    const r = await ovsvlanCli(host, ['status', '--json']);
    return { code: r.exitCode, report: JSON.parse(r.stdout) as StatusReport };
  };

  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=870', '--subnet', '192.0.2.0/24', '--gateway', '192.0.2.1', 'st870']);
  await host.dockerOk(['run', '-d', '--name', 's1', '--net', 'st870', '--ip', '192.0.2.10', 'busybox:local', 'sleep', '3600']);
  await host.dockerOk(['run', '-d', '--name', 's2', '--net', 'st870', '--ip', '192.0.2.11', 'busybox:local', 'sleep', '3600']);

  await t.test('lists the network and its two containers, no drift', async (t) => {
    const { code, report } = await status();
    t.equal(code, 0, 'exit 0: no drift');
    t.same(report.drift, []);
    t.equal(report.networks.length, 1);
    t.match(report.networks[0], { name: 'st870', mode: 'vlan', vlan: 870, bridge: plugin.bridge, subnets: ['192.0.2.0/24'], gateway: '192.0.2.1', endpoints: 2 });
    const byName = new Map(report.endpoints.map((e) => [e.container, e]));
    for (const [name, ip] of [['s1', '192.0.2.10'], ['s2', '192.0.2.11']] as const) {
      const e = byName.get(name);
      t.ok(e, `${name} listed by its container name`);
      t.match(e, { bridge: plugin.bridge, tag: 870, addressV4: ip, mtu: 1500 });
      t.match(e?.port, /^ovh[0-9a-f]{12}$/);
      t.equal(await host.ovs.vsctl(['get', 'port', e?.port ?? '', 'tag']), '870', `${name}'s port is tagged 870 in OVS`);
    }
    const text = await ovsvlanCli(host, ['status']);
    t.equal(text.exitCode, 0);
    t.match(text.stdout, /^ {2}[0-9a-f]{12} +st870 +vlan +870 /m, 'the network by its Docker name');
    t.match(text.stdout, /s1 .*192\.0\.2\.10/);
    t.match(text.stdout, /DRIFT: none/);
  });

  await t.test('a port deleted behind ovsvlan\'s back is drift, exit 1', async (t) => {
    const s1 = (await status()).report.endpoints.find((e) => e.container === 's1');
    await host.ovs.vsctl(['del-port', s1?.port ?? '']);
    const { code, report } = await status();
    t.equal(code, 1, 'exit 1: drift');
    t.match(report.drift, [{ kind: 'port-missing', object: s1?.port }]);
    const text = await ovsvlanCli(host, ['status']);
    t.equal(text.exitCode, 1);
    t.match(text.stdout, /port-missing .*no OVS port/);
    // a port of ovsvlan's that no record wants is drift too
    await host.ovs.vsctl(['add-port', plugin.bridge, 'stx0', '--', 'set', 'interface', 'stx0', 'type=internal',
      '--', 'set', 'port', 'stx0', 'external_ids:ovsvlan-owner=ovsvlan']);
    t.match((await status()).report.drift, [{ kind: 'port-missing' }, { kind: 'port-orphan', object: 'stx0' }]);
  });

  await t.test('reconciliation repairs it; status is clean again', async (t) => {
    if (!plugin.pid) throw new Error('the daemon has no PID');
    process.kill(plugin.pid, 'SIGHUP');
    await waitFor('no drift after SIGHUP', async () => (await status()).code === 0, 20_000);
    const { report } = await status();
    t.same(report.drift, [], 'no drift');
    t.equal(report.endpoints.find((e) => e.container === 's1')?.tag, 870, 's1 back on its port, tag 870');
  });

  await t.test('no drift reported for calls in flight (docker run and rm while status runs)', async (t) => {
    const churn = (async () => {
      for (let i = 0; i < 3; i++) {
        const names = [0, 1, 2].map((j) => `burst${i}${j}`);
        await Promise.all(names.map((n) => host.dockerOk(['run', '-d', '--name', n, '--net', 'st870', 'busybox:local', 'sleep', '600'])));
        await host.dockerOk(['rm', '-f', ...names]);
      }
    })();
    const codes: number[] = [];
    let done = false;
    void churn.finally(() => (done = true));
    while (!done) codes.push((await status()).code);
    await churn;
    t.ok(codes.length > 0, `status ran ${codes.length} times during the churn`);
    t.same(codes.filter((c) => c !== 0), [], 'every status during the churn exits 0');
  });

  await t.test('unreadable OVS: exit 2 and says so', async (t) => {
    const r = await ovsvlanCli(host, ['status'], { OVSVLAN_OVSDB: 'unix:/nonexistent/db.sock' });
    t.equal(r.exitCode, 2);
    t.match(r.stdout, /cannot read ovs: OVSDB at unix:\/nonexistent\/db\.sock: no answer within 3 s \(last attempt: connect ENOENT \/nonexistent\/db\.sock\)/,
      'names the endpoint and why the last attempt failed');
    t.match(r.stderr, /^ovsvlan status: cannot read ovs: OVSDB at unix:\/nonexistent\/db\.sock: /, 'and says so on stderr');
    const json = await ovsvlanCli(host, ['status', '--json'], { OVSVLAN_OVSDB: 'unix:/nonexistent/db.sock' });
    t.equal(json.exitCode, 2);
    t.match((JSON.parse(json.stdout) as StatusReport).unreadable, [{ source: 'ovs' }], '--json stays one valid document');
    // unreadable records: said as such, and Docker, which answered, is not called silent
    const badDir = `${RUN_DIR}/status-bad-state`;
    await mkdir(badDir, { recursive: true });
    await writeFile(`${badDir}/state.json`, '{');
    const noState = await ovsvlanCli(host, ['status', '--json', '--state-dir', badDir]);
    t.equal(noState.exitCode, 2);
    t.same((JSON.parse(noState.stdout) as StatusReport).unreadable.map((u) => u.source), ['state'], 'only the records are unreadable');
  });

  await t.test('--help, bad flags', async (t) => {
    const h = await ovsvlanCli(host, ['status', '--help']);
    t.equal(h.exitCode, 0);
    t.match(h.stdout, /usage: ovsvlan status.*--json.*example:/s);
    // the example's jq picks fields an endpoint has (it named `address`, which none has)
    const picked = (/\{([^}]*)\}/.exec(h.stdout.split('example:')[1] ?? '')?.[1] ?? '').split(',').map((k) => k.trim()).filter(Boolean);
    const endpoint = (await status()).report.endpoints[0] ?? {};
    t.ok(picked.length > 0, `the example picks ${picked.join(', ')}`);
    t.same(picked.filter((k) => !(k in endpoint)), [], 'every field the example picks is in --json');
    const bad = await ovsvlanCli(host, ['status', '--state-dir', '--json']);
    t.equal(bad.exitCode, 2);
    t.match(bad.stderr, /--state-dir needs a value/);
    const twice = await ovsvlanCli(host, ['status', '--state-dir', '/a', '--state-dir=/b']);
    t.equal(twice.exitCode, 2, 'a flag given twice with two values: usage error');
    t.match(twice.stderr, /--state-dir is given twice \("\/a", then "\/b"\)/);
    const same = await ovsvlanCli(host, ['status', '--json', '--json', `--state-dir=${plugin.stateDir}`, '--state-dir', plugin.stateDir]);
    t.equal(same.exitCode, 0, 'the same value twice is no ambiguity');
    const noSettings = await ovsvlanCli(host, ['version', '--socket', '/x']);
    t.equal(noSettings.exitCode, 2);
    t.match(noSettings.stderr, /^ovsvlan version: unknown flag --socket; known flags: --help\n/, 'a command without settings lists none');
    const helpBogus = await ovsvlanCli(host, ['help', 'bogus']);
    t.equal(helpBogus.exitCode, 2, 'help on an unknown command: usage error');
    t.match(helpBogus.stderr, /unknown command "bogus"/);
    t.equal(helpBogus.stdout, '');
    const helpHelp = await ovsvlanCli(host, ['help', '--help']);
    t.equal(helpHelp.exitCode, 0, 'help --help: the main help');
    t.match(helpHelp.stdout, /^usage: ovsvlan COMMAND/);
    const group = await ovsvlanCli(host, ['ipam', '--help']);
    t.equal(group.exitCode, 0, 'the first word of a two-word command: its commands');
    t.match(group.stdout, /usage: ovsvlan ipam COMMAND.*ipam reclaim/s);
    const bare = await ovsvlanCli(host, ['ipam']);
    t.equal(bare.exitCode, 2);
    t.match(bare.stderr, /"ipam" is not a command.*ipam reclaim/s);
    const badSetting = await ovsvlanCli(host, ['status'], { OVSVLAN_METRICS: 'nope' });
    t.equal(badSetting.exitCode, 2, 'a bad setting is a usage error (2), not drift (1)');
    t.match(badSetting.stderr, /OVSVLAN_METRICS/);
  });
});
