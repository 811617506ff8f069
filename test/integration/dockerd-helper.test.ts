// The Docker side of the test environment: a simulated host (netns + private OVS + private
// dockerd + busybox:local) starts, answers through its own socket, runs a container, stays
// out of the root namespace, and leaves nothing behind once destroyed.
import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHost } from '../helpers/host.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, pidAlive, runOk } from '../helpers/run.js';

const rootNet = async (): Promise<string> =>
  `${await runOk('ip', ['route'])}\n${await runOk('ip', ['-br', 'addr'])}`;

/** PIDs of processes whose command line mentions this run's prefix (dockerd, containerd, shims, OVS). */
async function processesOfRun(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    if (cmd.includes(RUN_PREFIX) && Number(pid) !== process.pid) found.push(`${pid}: ${cmd}`);
  }
  return found;
}

async function cgroupsOfRun(): Promise<string[]> {
  const found: string[] = [];
  for (const base of ['', ...(await readdir('/sys/fs/cgroup'))]) {
    const dir = `/sys/fs/cgroup/${base}`;
    for (const e of await readdir(dir).catch(() => [] as string[])) if (e.startsWith(`${RUN_PREFIX}-`)) found.push(`${dir}/${e}`);
  }
  return found;
}

t.test('a simulated host with its own dockerd', async (t) => {
  const before = await rootNet();
  const t0 = Date.now();
  const host = await createHost('d', t);
  t.comment(`createHost (netns + OVS + dockerd + busybox import): ${Date.now() - t0} ms`);
  const { dockerd } = host;
  const containerdPid = Number((await readFile(`${dockerd.execRoot}/containerd/containerd.pid`, 'utf8')).trim());

  t.test('dockerd runs in the host netns with its own plugin dir and OVS dir', async (t) => {
    t.equal(await runOk('ip', ['netns', 'identify', String(dockerd.pid)]), host.ns.name, 'dockerd is in the host netns');
    t.equal(Number((await readFile(`${dockerd.sock.replace(/\.sock$/, '.pid')}`, 'utf8')).trim()), dockerd.pid, 'pidfile = spawned PID');
    await writeFile(`${dockerd.pluginDir}/probe`, '');
    const seen = await runOk('nsenter', ['-t', String(dockerd.pid), '-m', 'ls', '/run/docker/plugins', '/run/openvswitch']);
    t.match(seen, /probe/, 'pluginDir is /run/docker/plugins inside dockerd');
    t.match(seen, /db\.sock/, "this host's OVS dir is /run/openvswitch inside dockerd");
    t.notOk(existsSync('/run/docker/plugins/probe'), 'not visible in the root mount ns');
    // dockerd 20.10 writes /etc/docker/key.json unless told otherwise (config file: deprecated-key-path)
    t.ok(existsSync(dockerd.sock.replace(/\.sock$/, '-key.json')), 'its libtrust key is in the run dir, not /etc/docker');
    const containerd = await runOk('nsenter', ['-t', String(dockerd.pid), '-m', 'ls', '-A', '/run/containerd']);
    t.notMatch(containerd, /containerd\.sock/, 'no system containerd socket visible: managed containerd');
    t.ok(pidAlive(containerdPid), 'managed containerd runs');
  });

  t.test('the API answers through its socket', async (t) => {
    const v = JSON.parse(await dockerd.dockerOk(['version', '--format', '{{json .}}'])) as {
      Client: { Version: string; ApiVersion: string }; Server: { Version: string; ApiVersion: string };
    };
    t.match(v.Server.Version, /^\d+\./, `server ${v.Server.Version}`);
    t.equal(v.Client.ApiVersion, v.Server.ApiVersion, `client ${v.Client.Version} negotiated API ${v.Client.ApiVersion}`);
    const info = await dockerd.dockerOk(['info', '--format', '{{.DockerRootDir}} {{.Driver}}']);
    t.match(info, `/var/lib/${RUN_PREFIX}-docker-d `, `own data-root (${info})`);
  });

  t.test('busybox:local runs with --net=none', async (t) => {
    const t1 = Date.now();
    const r = await host.docker(['run', '--rm', '--net=none', 'busybox:local', 'busybox', 'true']);
    t.equal(r.exitCode, 0, `docker run: ${r.stderr}`);
    t.comment(`docker run --rm --net=none busybox true: ${Date.now() - t1} ms`);
    const applets = ['sh', 'ping', 'nc', 'ip', 'sleep', 'cat', 'ls', 'ifconfig', 'route', 'wget', 'md5sum', 'stat', 'head'];
    const out = await host.dockerOk(['run', '--rm', '--net=none', 'busybox:local', 'sh', '-c', 'for a; do [ -x "/bin/$a" ] && echo $a; done', 'sh', ...applets]);
    t.same(out.split('\n'), applets, 'applets in /bin');
    t.equal(await host.dockerOk(['run', '--rm', '--net=none', 'busybox:local', 'ip', '-o', 'link']).then((s) => s.split('\n').length), 1, 'only lo');
  });

  t.test('bridge=none: no bridge network, no docker0', async (t) => {
    const nets = (await host.dockerOk(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).split('\n').sort();
    t.same(nets, ['host host', 'none null'], 'only host and none');
    t.notMatch(await host.ns.ip(['-br', 'link']), /docker0/, 'no docker0 in the host netns');
  });

  await t.test('destroy leaves nothing of the run', async (t) => {
    await host.dockerOk(['run', '-d', '--name', 'left', '--net=none', 'busybox:local', 'sleep', '600']);
    const t2 = Date.now();
    await host.destroy();
    t.comment(`destroy: ${Date.now() - t2} ms`);
    await host.destroy(); // idempotent
    t.notOk(pidAlive(dockerd.pid), 'dockerd gone');
    t.notOk(pidAlive(containerdPid), 'managed containerd gone');
    t.same(await processesOfRun(), [], 'no process of the run');
    const netns = (await runOk('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith(`${RUN_PREFIX}-`));
    t.same(netns, [], 'no netns of the run');
    const left = (await readdir(RUN_DIR).catch(() => [] as string[])).filter((f) => f !== 'owner.pid');
    t.same(left, [], `nothing left in ${RUN_DIR}`);
    t.same((await readdir('/var/lib')).filter((d) => d.startsWith(`${RUN_PREFIX}-`)), [], 'no data-root');
    t.same(await cgroupsOfRun(), [], 'no cgroup dir');
    t.equal(await rootNet(), before, 'root netns routes and addresses unchanged');
  });
});

t.test('a host that fails half-way is torn down by createHost itself', async (t) => {
  await ensureRunDir();
  // a file where dockerd's plugin dir must go: netns and OVS are up when startDockerd throws
  const blocker = `${RUN_DIR}/plugins-half`;
  await writeFile(blocker, '');
  t.teardown(() => rm(blocker, { force: true }));
  await t.rejects(createHost('half', t), /EEXIST|ENOTDIR/, 'createHost rejects');
  t.notOk((await runOk('ip', ['netns', 'list'])).includes(`${RUN_PREFIX}-half`), 'its netns is gone');
  t.notOk(existsSync(`${RUN_DIR}/ovs-half`), 'its OVS dir is gone');
  t.same((await processesOfRun()).filter((p) => p.includes('ovs-half')), [], 'its OVS daemons are stopped');
});
