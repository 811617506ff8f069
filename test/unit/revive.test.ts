// The revive rule on the states dockerd 20.10 showed after a restart with
// ovsvlan stopped (see src/reconcile/revive.ts), and the background pass
// against a fake Docker: retries, patience, cancellation, one failure.
import t from 'tap';
import type { ContainerApi, StoppedContainer } from '../../src/reconcile/containers.js';
import { pluginMissing, pluginName, reviveReason, Reviver } from '../../src/reconcile/revive.js';
import { captureLogger } from '../helpers/log.js';

const NET = 'e455c69adb52aaaa';
const OURS = new Set([NET]);
const NOT_FOUND = 'failed to add endpoint: plugin "ovsvlan" not found';
const STALE_SOCKET = 'legacy plugin: Post "http://%2Frun%2Fdocker%2Fplugins%2Fovsvlan.sock/Plugin.Activate": '
  + 'dial unix /run/docker/plugins/ovsvlan.sock: connect: connection refused';

const container = (name: string, over: Partial<StoppedContainer> = {}): StoppedContainer => ({
  id: `${name}0123456789abcdef`, name, status: 'exited', error: NOT_FOUND, restartPolicy: 'always', networks: { v10: NET }, ...over,
});

t.test('the plugin name is the socket file name', async (t) => {
  t.equal(pluginName('/run/docker/plugins/ovsvlan.sock'), 'ovsvlan');
  t.equal(pluginName('/run/docker/plugins/ovs2/ovs2.sock'), 'ovs2');
});

t.test('errors that say this plugin was missing', async (t) => {
  t.ok(pluginMissing(NOT_FOUND, 'ovsvlan'), 'no socket');
  t.ok(pluginMissing(STALE_SOCKET, 'ovsvlan'), 'a socket left by a killed daemon');
  t.ok(pluginMissing('plugin "ovsvlan:latest" not found', 'ovsvlan'), 'a managed plugin');
  t.notOk(pluginMissing('failed to add endpoint: plugin "weave" not found', 'ovsvlan'), 'another plugin');
  t.notOk(pluginMissing('failed to add endpoint: plugin "ovsvlan2" not found', 'ovsvlan'), 'a plugin whose name starts like ours');
  t.notOk(pluginMissing('failed to create endpoint c1 on network v10: ovsdb: not connected', 'ovsvlan'), "ovsvlan's own refusal");
  t.notOk(pluginMissing('', 'ovsvlan'), 'a docker stop');
});

t.test('the rule, on what dockerd 20.10 showed', async (t) => {
  t.equal(reviveReason(container('ca'), OURS, 'ovsvlan'), 'v10', 'always, running when dockerd stopped');
  t.equal(reviveReason(container('ce', { restartPolicy: 'unless-stopped' }), OURS, 'ovsvlan'), 'v10', 'unless-stopped, running');
  t.equal(reviveReason(container('cf', { restartPolicy: 'on-failure' }), OURS, 'ovsvlan'), 'v10', 'on-failure, running');
  t.equal(reviveReason(container('ck', { error: STALE_SOCKET }), OURS, 'ovsvlan'), 'v10', 'stale socket');
  t.equal(reviveReason(container('cc', { restartPolicy: 'unless-stopped', error: '' }), OURS, 'ovsvlan'), undefined,
    'unless-stopped, stopped by the user: dockerd did not try, so no error');
  t.equal(reviveReason(container('cg', { restartPolicy: 'no' }), OURS, 'ovsvlan'), undefined, 'no restart policy');
  t.equal(reviveReason(container('cn', { restartPolicy: '' }), OURS, 'ovsvlan'), undefined, 'no restart policy (API default)');
  t.equal(reviveReason(container('cr', { status: 'running' }), OURS, 'ovsvlan'), undefined, 'running meanwhile');
  t.equal(reviveReason(container('cx', { networks: { other: 'ffff' } }), OURS, 'ovsvlan'), undefined, 'not on our network');
  t.equal(reviveReason(container('cm', { networks: { other: 'ffff', v10: NET } }), OURS, 'ovsvlan'), 'v10', 'one of its networks is ours');
});

/** A fake dockerd: answers `stoppedOn` after `failures` refusals; records starts. */
function fakeDocker(found: StoppedContainer[], failures = 0, failStart = new Set<string>()): ContainerApi & { asked: number; started: string[] } {
  const api = {
    asked: 0,
    started: [] as string[],
    async stoppedOn(ids: ReadonlySet<string>) {
      api.asked++;
      if (api.asked <= failures) throw new Error('connect ECONNREFUSED /var/run/docker.sock');
      return found.filter((c) => Object.values(c.networks).some((id) => ids.has(id)));
    },
    async start(id: string) {
      if (failStart.has(id)) throw new Error('(HTTP code 500) server error - failed to create endpoint');
      api.started.push(id);
    },
  };
  return api;
}

const reviver = (api: ContainerApi | undefined, patienceMs = 60_000): { r: Reviver; lines: ReturnType<typeof captureLogger>['lines'] } => {
  const { logger, lines } = captureLogger();
  const r = new Reviver({ api, plugin: 'ovsvlan', networkIds: () => [NET], log: logger, patienceMs, retryMs: { initial: 1, max: 4 } });
  return { r, lines };
};

t.test('waits for dockerd, then starts what the rule picks and nothing else', async (t) => {
  const a = container('a');
  const b = container('b', { restartPolicy: 'unless-stopped', error: '' });
  const api = fakeDocker([a, b], 3);
  const { r, lines } = reviver(api);
  const report = await r.start();
  t.equal(api.asked, 4, 'asked again until dockerd answered');
  t.same(api.started, [a.id], 'only the container dockerd gave up on');
  t.same(report, { started: ['a'], failed: [] });
  t.ok(lines.some((l) => l.msg.startsWith('started a: dockerd had given up on it')), 'each start is logged');
  t.equal(await r.start(), report, 'once per daemon: a second call returns the same pass');
  t.equal(api.asked, 4);
});

t.test('one start that fails does not stop the others', async (t) => {
  const [a, b] = [container('a'), container('b')];
  const api = fakeDocker([a, b], 0, new Set([a.id]));
  const { r, lines } = reviver(api);
  t.same(await r.start(), { started: ['b'], failed: ['a'] });
  t.ok(lines.some((l) => l.level === 50 && l.msg.startsWith('could not start a')), 'the failure is logged as an error');
});

t.test('gives up with a log line when dockerd never answers', async (t) => {
  const api = fakeDocker([container('a')], Infinity);
  const { r, lines } = reviver(api, 20);
  t.equal(await r.start(), undefined);
  t.same(api.started, []);
  t.ok(lines.some((l) => l.level === 40 && /dockerd did not answer for 0 s: containers it gave up on/.test(l.msg)));
});

t.test('close() cancels a pass waiting for dockerd', async (t) => {
  const api = fakeDocker([container('a')], Infinity);
  const { logger } = captureLogger();
  const r = new Reviver({ api, plugin: 'ovsvlan', networkIds: () => [NET], log: logger, retryMs: { initial: 60_000, max: 60_000 } });
  const pass = r.start();
  r.close();
  t.equal(await pass, undefined, 'resolves at once instead of sleeping a minute');
  t.same(api.started, []);
});

t.test('nothing to do: no Docker configured, or no network of ours', async (t) => {
  t.equal(await reviver(undefined).r.start(), undefined, 'OVSVLAN_DOCKER empty');
  const api = fakeDocker([container('a')]);
  const { logger } = captureLogger();
  const r = new Reviver({ api, plugin: 'ovsvlan', networkIds: () => [], log: logger });
  t.same(await r.start(), { started: [], failed: [] });
  t.equal(api.asked, 0, 'dockerd is not even asked');
});
