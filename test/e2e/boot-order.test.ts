// Issue 8, item 3: the boot-order race. With ovsvlan down while dockerd
// restarts, dockerd gives up for good on the restart-policy containers of
// ovsvlan networks (`plugin "ovsvlan" not found`). Once ovsvlan starts again it
// starts them itself (src/reconcile/revive.ts), and a container the user
// stopped stays stopped.
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

t.test('containers dockerd gave up on while ovsvlan was down are started when it starts', async (t) => {
  const host = await createHost('b', t);
  const plugin = await host.startPlugin();
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=870', '--subnet', '192.0.2.0/24', '--gateway', '192.0.2.1', 'v870']);
  await run(host, 'alpha', '--restart=always', '--ip', '192.0.2.10');
  // a restart policy too, so that only "the user stopped it" keeps it down
  await run(host, 'bravo', '--restart=unless-stopped', '--ip', '192.0.2.11');
  await host.dockerOk(['stop', 'bravo']);

  await plugin.stop();
  // dockerd serves its API only after it gave up on `alpha` (about 15 s per container looking for the plugin)
  await host.dockerd.restart(180_000);

  await t.test('dockerd gave up on alpha; bravo was not even tried', async (t) => {
    const a = await stateOf(host, 'alpha');
    t.equal(a.status, 'exited', 'alpha is down');
    t.match(a.error, /plugin "ovsvlan" not found/, 'alpha: dockerd could not find the plugin');
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

  await t.test('ovsvlan started normally: alpha is back with traffic, bravo stays stopped', async (t) => {
    const logStart = (await readFile(plugin.logFile, 'utf8')).length;
    await host.startPlugin();
    await waitFor('alpha running', async () => (await stateOf(host, 'alpha')).running, 30_000);
    t.pass('alpha runs again within 30 s of ovsvlan starting');
    t.ok(await ping(host, 'alpha', '192.0.2.20'), 'alpha -> peer on VLAN 870');
    t.ok(await ping(host, 'peer', '192.0.2.10'), 'peer -> alpha');
    const log = await waitFor('the revive pass to end', async () => {
      const text = (await readFile(plugin.logFile, 'utf8')).slice(logStart);
      return text.includes('"msg":"revive done"') && text;
    });
    t.match(log, /"container":"alpha".*"network":"v870".*"msg":"started alpha: dockerd had given up on it/, 'the start is logged with its network');
    t.notMatch(log, /"container":"bravo"/, 'bravo was not touched');
    const b = await stateOf(host, 'bravo');
    t.equal(b.status, 'exited', 'bravo, stopped by the user, is still stopped');
    t.notOk(b.running);
  });
});
