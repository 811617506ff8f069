// Issue 8, "must show" 1: scripts/quickstart.sh on a machine where neither Docker nor Open vSwitch
// ever ran (no /etc/openvswitch, /var/lib/openvswitch, /run/openvswitch, /etc/docker,
// /var/lib/docker), inside a private mount and network namespace: it reaches "860 talks, 861
// isolated", and its `clean` leaves no process, bridge, port, veth, image or file it made. Then on a
// machine already running OVS and Docker: it uses them, and `clean` leaves them as they were.
import { readFile, rm } from 'node:fs/promises';
import t, { type Test as Tap } from 'tap';
import { createFreshRoot, HIDDEN, type FreshRoot } from '../helpers/fresh-root.js';
import { RUN_DIR, RUN_PREFIX, pidAlive, waitFor } from '../helpers/run.js';

const SCRIPT = new URL('../../scripts/quickstart.sh', import.meta.url).pathname;
const MANIFEST = '/var/lib/ovsvlan-quickstart/manifest';
const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

interface Made {
  pids: Map<string, number>;
  lines: string[];
}

/** Runs the quick start (or its clean) the way a user would: `bash scripts/quickstart.sh [clean]`. */
async function quickstart(root: FreshRoot, cgroupParent: string, args: string[] = []): Promise<{ out: string; exitCode: number }> {
  const env = { ...process.env, OVSVLAN_QS_CGROUP_PARENT: `/${cgroupParent}` } as Record<string, string>;
  const r = await root.run('bash', [SCRIPT, ...args], { env, timeout: 600_000 });
  return { out: `${r.stdout}\n${r.stderr}`, exitCode: r.exitCode };
}

/** A fresh root named NAME whose containers go to its own cgroup; its teardown runs the script's clean first. */
async function freshRoot(t: Tap, name: string): Promise<{ root: FreshRoot; cgroup: string }> {
  const cgroup = `${RUN_PREFIX}-docker-${name}`;
  const root: FreshRoot = await createFreshRoot(name, {
    cgroupParent: cgroup, t,
    beforeRemove: () => quickstart(root, cgroup, ['clean']),   // what a failed run left, by the script's own means
  });
  return { root, cgroup };
}

async function manifest(root: FreshRoot): Promise<Made> {
  const lines = (await root.runOk('cat', [MANIFEST])).split('\n');
  const pids = new Map<string, number>();
  for (const l of lines) {
    const [kind, name, pid] = l.split(' ');
    if (kind === 'pid' && name && pid) pids.set(name, Number(pid));
  }
  return { pids, lines };
}

/** `NAME TAG` of every OVS port ovsvlan marked as its own, sorted by tag. */
/** The tags of ovsvlan's ports; `role`: only its endpoints' (a network also keeps spare ports, issue 10). */
async function ovsvlanPorts(root: FreshRoot, role?: 'endpoint' | 'spare'): Promise<string[]> {
  const match = role ? `external_ids:ovsvlan-role=${role}` : 'external_ids:ovsvlan-owner=ovsvlan';
  const out = await root.runOk('ovs-vsctl', ['--format=csv', '--no-headings', '--columns=name,tag', 'find', 'Port', match]);
  return out.split('\n').filter(Boolean).map((l) => l.replace(/"/g, '').split(',')[1] ?? '').sort();
}

async function links(root: FreshRoot): Promise<string[]> {
  return (JSON.parse(await root.runOk('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

t.test('a fresh machine: the quick start installs nothing, starts OVS, Docker and ovsvlan, and clean removes it all', async (t) => {
  const { root, cgroup } = await freshRoot(t, 'qs');
  for (const [parent, names] of Object.entries(HIDDEN)) {
    for (const n of names) t.equal((await root.run('test', ['-e', `${parent}/${n}`])).exitCode, 1, `${parent}/${n} does not exist`);
  }
  const before = await root.listing();
  t.same(await links(root), ['lo'], 'the namespace holds only lo');

  const r = await quickstart(root, cgroup);
  t.equal(r.exitCode, 0, 'the quick start succeeds');
  if (r.exitCode !== 0) t.comment(r.out);
  t.match(r.out, /quick start: 860 talks, 861 isolated\./);
  t.match(r.out, /ovsdb-server: started/);
  t.match(r.out, /ovs-vswitchd: started/);
  t.match(r.out, /dockerd: started/);
  t.match(r.out, /ovsvlan: started/);
  t.notMatch(r.out, /install-deps: installing/, 'nothing to install on this machine');

  const made = await manifest(root);
  t.same([...made.pids.keys()], ['ovsdb-server', 'ovs-vswitchd', 'dockerd', 'ovsvlan'], 'the four processes it started are recorded');
  t.same(await ovsvlanPorts(root, 'endpoint'), ['860', '860', '861'], 'three endpoint ports, tagged 860, 860 and 861');
  t.notOk((await ovsvlanPorts(root, 'spare')).some((tag) => tag !== '860' && tag !== '861'), 'every spare port carries its network\'s tag');
  t.match(await root.runOk('docker', ['ps', '--format', '{{.Names}}']), /ovsvlan-qs-a1/);
  t.match(await root.runOk('ovs-vsctl', ['list-br']), /^ovsvlan-qs$/m, 'its own bridge');

  const c = await quickstart(root, cgroup, ['clean']);
  t.equal(c.exitCode, 0, 'clean succeeds');
  if (c.exitCode !== 0) t.comment(c.out);
  for (const [name, pid] of made.pids) {
    await waitFor(`${name} (${pid}) to be gone`, async () => !pidAlive(pid), 10_000).catch(() => undefined);
    t.notOk(pidAlive(pid), `${name} (pid ${pid}) is stopped`);
  }
  t.same(await root.processes(), [], 'no process left in the namespaces or the cgroup');
  t.same(await links(root), ['lo'], 'no bridge, port or veth left');
  t.same(await root.listing(), before, 'no file or dir left in /run, /tmp, /etc, /var/lib');
  const cgroupDirs = (await root.run('sh', ['-c', `ls -d /sys/fs/cgroup/${cgroup} /sys/fs/cgroup/*/${cgroup} 2>/dev/null`])).stdout;
  t.equal(cgroupDirs, '', 'no cgroup dir left');
  t.equal((await root.run('docker', ['version'])).exitCode === 0, false, 'no Docker answers any more');
});

/** Paths that belong to the machine's own Docker: it keeps its own state there, driven by the API. */
const dockersOwn = (p: string): boolean =>
  p.startsWith('/var/lib/docker/') || p === '/run/containerd' || p.startsWith('/run/containerd/') || (p.startsWith('/run/docker/') && !p.startsWith('/run/docker/plugins'));

t.test('a machine already running OVS and Docker: the quick start uses them, and clean leaves them as they were', async (t) => {
  const { root, cgroup } = await freshRoot(t, 'qsm');
  // the machine's own OVS, the way Debian lays it out, with a bridge of its own
  await root.runOk('mkdir', ['-p', '/var/lib/openvswitch', '/run/openvswitch']);
  await root.runOk('ovsdb-tool', ['create', '/var/lib/openvswitch/conf.db', SCHEMA]);
  await root.runOk('ovsdb-server', ['/var/lib/openvswitch/conf.db', '--remote=punix:/run/openvswitch/db.sock', '--pidfile',
    '-vconsole:off', '--log-file=/run/openvswitch/ovsdb-server.log', '--detach', '--no-chdir']);
  await root.runOk('ovs-vsctl', ['--no-wait', 'init']);
  await root.runOk('ovs-vswitchd', ['--pidfile', '-vconsole:off', '--log-file=/run/openvswitch/ovs-vswitchd.log', '--detach', '--no-chdir']);
  await root.runOk('ovs-vsctl', ['--timeout=20', 'add-br', 'br-mine', '--', 'set', 'bridge', 'br-mine', 'datapath_type=netdev']);
  const ovsPids = [Number(await root.runOk('cat', ['/run/openvswitch/ovsdb-server.pid'])), Number(await root.runOk('cat', ['/run/openvswitch/ovs-vswitchd.pid']))];
  // and its own Docker, with defaults but for what keeps it off the machine's network and cgroups
  const dockerd = root.spawnDaemon('dockerd', ['--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
    `--cgroup-parent=/${cgroup}`], `${RUN_DIR}/fresh-qsm-dockerd.log`);
  t.teardown(() => rm(`${RUN_DIR}/fresh-qsm-dockerd.log`, { force: true }));   // in RUN_DIR of this (the host's) /run
  await waitFor('dockerd', async () => (await root.run('docker', ['version'])).exitCode === 0, 60_000);
  await root.runOk('docker', ['volume', 'create', 'mine']);
  const before = await root.listing();

  const r = await quickstart(root, cgroup);
  t.equal(r.exitCode, 0, 'the quick start succeeds');
  if (r.exitCode !== 0) t.comment(r.out);
  t.match(r.out, /quick start: 860 talks, 861 isolated\./);
  t.match(r.out, /ovsdb-server: already running/);
  t.match(r.out, /ovs-vswitchd: already running/);
  t.match(r.out, /dockerd: already running/);
  const made = await manifest(root);
  t.same([...made.pids.keys()], ['ovsvlan'], 'only the ovsvlan daemon was started');

  // its ovsvlan daemon dies (or the host reboots): clean starts it again, or Docker would wait
  // for the plugin at every removal (minutes, silent)
  const daemon = made.pids.get('ovsvlan');
  if (!daemon) throw new Error('no ovsvlan pid in the manifest');
  process.kill(daemon, 'SIGKILL');
  await waitFor('ovsvlan to be gone', async () => !pidAlive(daemon), 10_000);
  const c = await quickstart(root, cgroup, ['clean']);
  t.equal(c.exitCode, 0, 'clean succeeds');
  if (c.exitCode !== 0) t.comment(c.out);
  t.match(c.out, /started its ovsvlan daemon again \(pid \d+\): Docker needs it to remove its networks/);
  t.ok([...ovsPids, dockerd].every(pidAlive), "the machine's OVS and dockerd still run");
  t.equal(await root.runOk('ovs-vsctl', ['list-br']), 'br-mine', 'its bridge is the only one left');
  t.same(await ovsvlanPorts(root), [], 'no ovsvlan port left');
  t.equal(await root.runOk('docker', ['ps', '-aq']), '', 'no container left');
  t.equal(await root.runOk('docker', ['network', 'ls', '-q', '--filter', 'type=custom']), '', 'no network left');
  t.equal(await root.runOk('docker', ['images', '-q']), '', 'no image left');
  t.equal(await root.runOk('docker', ['volume', 'ls', '-q']), 'mine', 'its volume is still there');
  t.same((await root.listing()).filter((p) => !dockersOwn(p)), before.filter((p) => !dockersOwn(p)),
    'no file or dir added or removed outside Docker\'s own dirs');
  const others = [];
  for (const p of await root.processes()) {
    const comm = (await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')).trim();
    if (![...ovsPids, dockerd].includes(p) && comm !== 'containerd' && comm !== '') others.push(`${p} ${comm}`);
  }
  t.same(others, [], "no process but the machine's OVS, dockerd and dockerd's containerd");
});

t.test('a run stopped halfway, then run again: it finishes, clean --help only helps, and clean leaves nothing', async (t) => {
  const { root, cgroup } = await freshRoot(t, 'qsi');
  const before = await root.listing();
  // a first run ended by SIGTERM to its process group (a closed terminal) once it has started dockerd
  const log = `${RUN_DIR}/fresh-qsi-stopped.log`;
  t.teardown(() => rm(log, { force: true }));
  const stopped = root.spawnDaemon('env', [`OVSVLAN_QS_CGROUP_PARENT=/${cgroup}`, 'bash', SCRIPT], log);
  await waitFor('the first run to start dockerd', async () => /^pid dockerd /m.test((await root.run('cat', [MANIFEST])).stdout), 300_000);
  process.kill(-stopped, 'SIGTERM');
  await waitFor('the first run to end', async () => !pidAlive(stopped), 30_000);
  t.notMatch(await readFile(log, 'utf8'), /860 talks/, 'the first run was stopped before its end');

  const r = await quickstart(root, cgroup);
  t.equal(r.exitCode, 0, 'run again, the quick start succeeds');
  if (r.exitCode !== 0) t.comment(r.out);
  t.match(r.out, /quick start: 860 talks, 861 isolated\./);
  t.match(r.out, /dockerd: already running/, 'it uses the dockerd the first run started');

  const help = await quickstart(root, cgroup, ['clean', '--help']);
  t.equal(help.exitCode, 0, 'clean --help succeeds');
  t.match(help.out, /Usage: bash scripts\/quickstart\.sh \[clean \| --help\]/);
  t.notMatch(help.out, /BASH_VERSION|set -E/, 'the help is the comment block, without code');
  t.match(await root.runOk('docker', ['ps', '--format', '{{.Names}}']), /ovsvlan-qs-a1/, 'clean --help removed nothing');
  const extra = await quickstart(root, cgroup, ['clean', 'now']);
  t.equal(extra.exitCode, 2, 'an unknown argument is refused');
  t.match(extra.out, /unknown argument\(s\) "clean now"; usage: bash scripts\/quickstart\.sh \[clean\]/);
  t.equal((await root.run('test', ['-f', MANIFEST])).exitCode, 0, 'and removed nothing');

  const c = await quickstart(root, cgroup, ['clean']);
  t.equal(c.exitCode, 0, 'clean succeeds');
  if (c.exitCode !== 0) t.comment(c.out);
  t.same(await root.processes(), [], 'no process left: those of the stopped run are stopped too');
  t.same(await links(root), ['lo'], 'no bridge, port or veth left');
  t.same(await root.listing(), before, 'no file or dir left in /run, /tmp, /etc, /var/lib (/run/containerd, made by a container of the second run, too)');
});

t.test('a machine running Docker but not OVS, rebooted after the quick start: clean, run at once, removes it all', async (t) => {
  const { root, cgroup } = await freshRoot(t, 'qsr');
  const dockerd = root.spawnDaemon('dockerd', ['--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
    `--cgroup-parent=/${cgroup}`], `${RUN_DIR}/fresh-qsr-dockerd.log`);
  t.teardown(() => rm(`${RUN_DIR}/fresh-qsr-dockerd.log`, { force: true }));
  await waitFor('dockerd', async () => (await root.run('docker', ['version'])).exitCode === 0, 60_000);

  const r = await quickstart(root, cgroup);
  t.equal(r.exitCode, 0, 'the quick start succeeds');
  if (r.exitCode !== 0) t.comment(r.out);
  const made = await manifest(root);
  t.same([...made.pids.keys()], ['ovsdb-server', 'ovs-vswitchd', 'ovsvlan'], 'it started OVS and ovsvlan, not Docker');
  // what a reboot leaves: the machine's Docker back with the quick start's networks, and none of
  // the quick start's processes (they would not come back)
  for (const pid of made.pids.values()) process.kill(pid, 'SIGKILL');
  await waitFor('its processes to be gone', async () => [...made.pids.values()].every((p) => !pidAlive(p)), 10_000);

  const c = await quickstart(root, cgroup, ['clean']);
  t.equal(c.exitCode, 0, 'clean succeeds at once');
  if (c.exitCode !== 0) t.comment(c.out);
  t.match(c.out, /started its Open vSwitch again/);
  t.match(c.out, /started its ovsvlan daemon again/);
  t.notMatch(c.out, /plugin "ovsvlan" not found/, 'Docker found the plugin');
  t.ok(pidAlive(dockerd), "the machine's dockerd still runs");
  t.equal(await root.runOk('docker', ['network', 'ls', '-q', '--filter', 'type=custom']), '', 'no network left');
  t.equal(await root.runOk('docker', ['ps', '-aq']), '', 'no container left');
  t.equal((await root.run('test', ['-e', '/var/lib/ovsvlan-quickstart'])).exitCode, 1, 'its dir is gone');
  const others = [];
  for (const p of await root.processes()) {
    const comm = (await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')).trim();
    if (p !== dockerd && comm !== 'containerd' && comm !== '') others.push(`${p} ${comm}`);
  }
  t.same(others, [], "no process but the machine's dockerd and its containerd");
  t.same(await links(root), ['lo'], 'no bridge, port or veth left');
});

t.test('every process of the quick start killed (dockerd, its containers, OVS, ovsvlan): clean removes its bridge, ports and veths', async (t) => {
  const { root, cgroup } = await freshRoot(t, 'qsk');
  const before = await root.listing();
  const r = await quickstart(root, cgroup);
  t.equal(r.exitCode, 0, 'the quick start succeeds');
  if (r.exitCode !== 0) t.comment(r.out);
  const pids = await root.processes();
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await waitFor('every process to be gone', async () => pids.every((p) => !pidAlive(p)), 20_000);
  t.not((await links(root)).length, 1, 'the links ovs-vswitchd and ovsvlan made outlive them');

  const c = await quickstart(root, cgroup, ['clean']);
  t.equal(c.exitCode, 0, 'clean succeeds');
  if (c.exitCode !== 0) t.comment(c.out);
  t.match(c.out, /started its Open vSwitch again/);
  t.same(await links(root), ['lo'], 'no bridge, port or veth left');
  t.same(await root.processes(), [], 'no process left');
  t.same(await root.listing(), before, 'no file or dir left in /run, /tmp, /etc, /var/lib (the sockets of the killed shims too)');
});
