// Issue 8, item 3: the boot-order race. With ovsvlan down while dockerd
// restarts, dockerd gives up for good on the restart-policy containers of
// ovsvlan networks (`plugin "ovsvlan" not found`). Once ovsvlan starts again it
// starts them itself (src/reconcile/revive.ts), whatever their policy (always,
// unless-stopped, on-failure); a container the user stopped stays stopped,
// also under `always`, which dockerd itself tried again; one without a restart
// policy stays down. Only failures since ovsvlan last ran count: once a run of
// ovsvlan has gone by (here one with the revive off), what dockerd gave up on
// before it stays down at later starts.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { waitFor } from '../helpers/run.js';
import { ping } from '../helpers/traffic.js';

/** `docker inspect`'s State of a container: status, running, and the error of its last start. */
async function stateOf(host: Host, container: string): Promise<{ status: string; running: boolean; error: string }> {
  const out = await host.dockerOk(['inspect', '-f', '{{json .State}}', container]);
  const s = JSON.parse(out) as { Status: string; Running: boolean; Error: string };
  return { status: s.Status, running: s.Running, error: s.Error };
}

/** The containers, by what should become of them. */
const BACK = ['alpha', 'delta', 'echo'];
const USER_STOPPED = ['bravo', 'charlie'];

const run = (host: Host, name: string, ...extra: string[]): Promise<string> =>
  host.dockerOk(['run', '-d', '--stop-timeout', '1', '--name', name, '--net', 'v870', ...extra, 'busybox:local', 'sleep', '3600']);

/** Starts ovsvlan normally (stopping the one running) and returns its log from this start to the end of its revive pass. */
async function startAndRevive(host: Host, logFile: string): Promise<string> {
  const logStart = (await readFile(logFile, 'utf8')).length;
  await host.startPlugin();
  return waitFor('the revive pass to end', async () => {
    const text = (await readFile(logFile, 'utf8')).slice(logStart);
    return text.includes('"msg":"revive done"') && text;
  }, 60_000);
}

t.test('containers dockerd gave up on while ovsvlan was down are started when it starts', async (t) => {
  const host = await createHost('b', t);
  const plugin = await host.startPlugin();
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=870', '--subnet', '192.0.2.0/24', '--gateway', '192.0.2.1', 'v870']);
  await run(host, 'alpha', '--restart=always', '--ip', '192.0.2.10');
  await run(host, 'delta', '--restart=on-failure', '--ip', '192.0.2.13');
  await run(host, 'echo', '--restart=unless-stopped', '--ip', '192.0.2.14');
  await run(host, 'foxtrot', '--restart=no', '--ip', '192.0.2.15');
  // stopped by the user: dockerd does not try unless-stopped (bravo), but does try always (charlie) at its start
  await run(host, 'bravo', '--restart=unless-stopped', '--ip', '192.0.2.11');
  await run(host, 'charlie', '--restart=always', '--ip', '192.0.2.12');
  await host.dockerOk(['stop', 'bravo', 'charlie']);

  await plugin.stop();
  // dockerd serves its API only after it gave up on alpha, charlie, delta and echo (about 15 s each looking for the plugin)
  await host.dockerd.restart(300_000);

  await t.test('dockerd gave up on alpha, charlie, delta and echo; bravo and foxtrot were not even tried', async (t) => {
    for (const name of [...BACK, 'charlie']) {
      const s = await stateOf(host, name);
      t.equal(s.status, 'exited', `${name} is down`);
      t.match(s.error, /plugin "ovsvlan" not found/, `${name}: dockerd could not find the plugin`);
    }
    for (const name of ['bravo', 'foxtrot']) {
      const s = await stateOf(host, name);
      t.equal(s.status, 'exited');
      t.equal(s.error, '', `${name}: no error, dockerd did not try to start it`);
    }
  });

  await t.test('control: with the revive off (OVSVLAN_DOCKER=), ovsvlan serves but alpha stays down', async (t) => {
    await host.startPlugin({ env: { OVSVLAN_DOCKER: '' } });
    // requests wait for the first reconciliation: once this runs, the daemon is fully up
    await run(host, 'peer', '--ip', '192.0.2.20');
    const a = await stateOf(host, 'alpha');
    t.equal(a.status, 'exited', 'alpha is still down: dockerd never tries again by itself');
    t.match(a.error, /plugin "ovsvlan" not found/);
  });

  await t.test('ovsvlan started again later: what dockerd gave up on before its previous run stays down', async (t) => {
    const log = await startAndRevive(host, plugin.logFile);
    t.match(log, /"container":"alpha".*"msg":"left alpha down: dockerd gave up on it before ovsvlan last ran"/);
    t.match(log, /"msg":"left charlie down: the user stopped it \(docker stop or docker kill\)"/);
    t.match(log, /"started":0,"failed":0,"left":3,"stoppedByUser":1,.*"msg":"revive done"/);
    for (const name of [...BACK, 'charlie']) t.equal((await stateOf(host, name)).status, 'exited', `${name} is still down`);
  });

  await t.test('dockerd restarted with ovsvlan stopped again: alpha, delta and echo are back with traffic; what the user stopped stays stopped', async (t) => {
    await host.plugin?.stop();
    await host.dockerd.restart(300_000);
    t.match((await stateOf(host, 'alpha')).error, /plugin "ovsvlan" not found/, 'dockerd gave up on alpha again');
    t.match((await stateOf(host, 'charlie')).error, /plugin "ovsvlan" not found/, 'and on charlie, which the user had stopped');
    const started = Date.now();
    const log = await startAndRevive(host, plugin.logFile);
    for (const name of BACK) {
      await waitFor(`${name} running`, async () => (await stateOf(host, name)).running, Math.max(0, 30_000 - (Date.now() - started)));
    }
    t.pass('alpha (always), delta (on-failure) and echo (unless-stopped) run again within 30 s of ovsvlan starting');
    t.ok(await ping(host, 'alpha', '192.0.2.13'), 'alpha -> delta on VLAN 870');
    t.ok(await ping(host, 'delta', '192.0.2.14'), 'delta -> echo');
    t.ok(await ping(host, 'echo', '192.0.2.10'), 'echo -> alpha');
    t.match(log, /"container":"alpha".*"network":"v870".*"msg":"started alpha: dockerd had given up on it/, 'the start is logged with its network');
    t.match(log, /"container":"charlie".*"msg":"left charlie down: the user stopped it/, 'charlie, stopped by the user under `always`, is left down');
    t.notMatch(log, /"container":"(bravo|foxtrot)"/, 'bravo and foxtrot were not touched');
    for (const name of [...USER_STOPPED, 'foxtrot']) {
      const s = await stateOf(host, name);
      t.equal(s.status, 'exited', `${name} is still stopped`);
      t.notOk(s.running);
    }
  });

  await t.test('ovsvlan restarted twice with dockerd up: nothing is started or stopped, traffic goes on', async (t) => {
    const before = await Promise.all([...BACK, ...USER_STOPPED, 'foxtrot'].map((n) => stateOf(host, n)));
    await startAndRevive(host, plugin.logFile);
    await startAndRevive(host, plugin.logFile);
    const after = await Promise.all([...BACK, ...USER_STOPPED, 'foxtrot'].map((n) => stateOf(host, n)));
    t.same(after.map((s) => s.running), before.map((s) => s.running));
    t.ok(await ping(host, 'alpha', '192.0.2.14'), 'alpha -> echo');
  });
});
