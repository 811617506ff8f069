// Issue 8, item 3: the boot-order race. With ovsvlan down while dockerd
// restarts, dockerd gives up for good on the restart-policy containers of
// ovsvlan networks (`plugin "ovsvlan" not found`). Once ovsvlan starts again it
// starts them itself (src/reconcile/revive.ts): an `always` container the user
// had stopped too, as dockerd would; an `unless-stopped` one the user stopped
// stays stopped. Only failures since ovsvlan last ran count: once a run of
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
  // a restart policy too, so that only "the user stopped it" keeps it down
  await run(host, 'bravo', '--restart=unless-stopped', '--ip', '192.0.2.11');
  await host.dockerOk(['stop', 'bravo']);
  // under `always`, dockerd starts a container the user stopped when dockerd itself starts: so does ovsvlan
  await run(host, 'charlie', '--restart=always', '--ip', '192.0.2.12');
  await host.dockerOk(['stop', 'charlie']);

  await plugin.stop();
  // dockerd serves its API only after it gave up on alpha and charlie (about 15 s each looking for the plugin)
  await host.dockerd.restart(180_000);

  await t.test('dockerd gave up on alpha and charlie; bravo was not even tried', async (t) => {
    for (const name of ['alpha', 'charlie']) {
      const s = await stateOf(host, name);
      t.equal(s.status, 'exited', `${name} is down`);
      t.match(s.error, /plugin "ovsvlan" not found/, `${name}: dockerd could not find the plugin`);
    }
    const b = await stateOf(host, 'bravo');
    t.equal(b.status, 'exited');
    t.equal(b.error, '', 'bravo: no error, dockerd did not try to start it');
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
    t.match(log, /"msg":"left charlie down: dockerd gave up on it before ovsvlan last ran"/);
    t.match(log, /"started":0,"failed":0,"left":2,.*"msg":"revive done"/);
    for (const name of ['alpha', 'charlie']) t.equal((await stateOf(host, name)).status, 'exited', `${name} is still down`);
  });

  await t.test('dockerd restarted with ovsvlan stopped again: alpha and charlie are back with traffic, bravo stays stopped', async (t) => {
    await host.plugin?.stop();
    await host.dockerd.restart(180_000);
    t.match((await stateOf(host, 'alpha')).error, /plugin "ovsvlan" not found/, 'dockerd gave up on alpha again');
    const started = Date.now();
    const log = await startAndRevive(host, plugin.logFile);
    for (const name of ['alpha', 'charlie']) {
      await waitFor(`${name} running`, async () => (await stateOf(host, name)).running, Math.max(0, 30_000 - (Date.now() - started)));
    }
    t.pass('alpha and charlie run again within 30 s of ovsvlan starting');
    t.ok(await ping(host, 'alpha', '192.0.2.12'), 'alpha -> charlie on VLAN 870');
    t.ok(await ping(host, 'charlie', '192.0.2.10'), 'charlie -> alpha');
    t.match(log, /"container":"alpha".*"network":"v870".*"msg":"started alpha: dockerd had given up on it/, 'the start is logged with its network');
    // charlie stopped minutes ago: only dockerd's start time (read from /proc) says its failure is recent
    t.match(log, /"container":"charlie".*"recent":"dockerd-started".*"msg":"started charlie: dockerd had given up on it/,
      'charlie, stopped by the user under `always`, is started as dockerd would have');
    t.notMatch(log, /"container":"bravo"/, 'bravo was not touched');
    const b = await stateOf(host, 'bravo');
    t.equal(b.status, 'exited', 'bravo, stopped by the user under unless-stopped, is still stopped');
    t.notOk(b.running);
  });
});
