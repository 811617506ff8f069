// The revive rule on the states dockerd 20.10 showed after a restart with
// ovsvlan stopped (see src/reconcile/revive.ts), which failures count as
// recent against ovsvlan's heartbeat, the heartbeat file itself, and the
// background pass against a fake Docker: retries, patience, cancellation,
// one failure, and when the heartbeat is marked.
import t from 'tap';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerApi, StoppedContainer } from '../../src/reconcile/containers.js';
import { Heartbeat, HEARTBEAT_FILE, type AliveMark } from '../../src/reconcile/heartbeat.js';
import { failedSince, gaveUpOn, MARGIN_MS, pluginMissing, pluginName, Reviver, type Times } from '../../src/reconcile/revive.js';
import { captureLogger } from '../helpers/log.js';
import { stoppedByUser } from '../../src/docker/stopped-by-user.js';

const NET = 'e455c69adb52aaaa';
const OURS = new Set([NET]);
const NOT_FOUND = 'failed to add endpoint: plugin "ovsvlan" not found';
const STALE_SOCKET = 'legacy plugin: Post "http://%2Frun%2Fdocker%2Fplugins%2Fovsvlan.sock/Plugin.Activate": '
  + 'dial unix /run/docker/plugins/ovsvlan.sock: connect: connection refused';

const HOUR = 3_600_000;
/** ovsvlan last ran at T; a week before, dockerd started; the containers stopped then. */
const T = Date.parse('2026-03-01T12:00:00Z');
const WEEK_AGO = T - 7 * 24 * HOUR;

const container = (name: string, over: Partial<StoppedContainer> = {}): StoppedContainer => ({
  id: `${name}0123456789abcdef`, name, status: 'exited', error: NOT_FOUND, finishedAt: WEEK_AGO, restartPolicy: 'always', networks: { v10: NET }, stoppedByUser: false, ...over,
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

t.test('which containers dockerd gave up on, on what dockerd 20.10 showed', async (t) => {
  t.equal(gaveUpOn(container('ca'), OURS, 'ovsvlan'), 'v10', 'always, running when dockerd stopped');
  t.equal(gaveUpOn(container('ce', { restartPolicy: 'unless-stopped' }), OURS, 'ovsvlan'), 'v10', 'unless-stopped, running');
  t.equal(gaveUpOn(container('cf', { restartPolicy: 'on-failure' }), OURS, 'ovsvlan'), 'v10', 'on-failure, running');
  t.equal(gaveUpOn(container('ck', { error: STALE_SOCKET }), OURS, 'ovsvlan'), 'v10', 'stale socket');
  t.equal(gaveUpOn(container('cc', { restartPolicy: 'unless-stopped', error: '' }), OURS, 'ovsvlan'), undefined,
    'unless-stopped, stopped by the user: dockerd did not try, so no error');
  t.equal(gaveUpOn(container('cg', { restartPolicy: 'no' }), OURS, 'ovsvlan'), undefined, 'no restart policy');
  t.equal(gaveUpOn(container('cn', { restartPolicy: '' }), OURS, 'ovsvlan'), undefined, 'no restart policy (API default)');
  t.equal(gaveUpOn(container('cr', { status: 'running' }), OURS, 'ovsvlan'), undefined, 'running meanwhile');
  t.equal(gaveUpOn(container('cx', { networks: { other: 'ffff' } }), OURS, 'ovsvlan'), undefined, 'not on our network');
  t.equal(gaveUpOn(container('cm', { networks: { other: 'ffff', v10: NET } }), OURS, 'ovsvlan'), 'v10', 'one of its networks is ours');
});

t.test('a failure counts only when it came after ovsvlan last ran', async (t) => {
  const times = (over: Partial<Times>): Times => ({ lastAlive: T, dockerdStartedAt: WEEK_AGO, ...over });
  t.equal(failedSince(container('boot'), times({ dockerdStartedAt: T + 60_000 })), 'dockerd-started',
    'the boot race: dockerd started after ovsvlan stopped, and tried every restart-policy container then');
  t.equal(failedSince(container('user-stopped', { finishedAt: T - 24 * HOUR }), times({ dockerdStartedAt: T + 60_000 })), 'dockerd-started',
    'an always container the user stopped a day ago: dockerd tried it at its start too');
  t.equal(failedSince(container('exited', { finishedAt: T + 60_000 }), times({})), 'stopped',
    'it exited by itself after ovsvlan stopped, and dockerd could not restart it');
  t.equal(failedSince(container('old'), times({})), undefined,
    'dockerd gave up on it a week ago, and ovsvlan ran since: left down');
  t.equal(failedSince(container('old'), times({ dockerdStartedAt: undefined })), undefined, 'dockerd start unknown, stopped long ago');
  t.equal(failedSince(container('created', { finishedAt: undefined, status: 'created' }), times({})), undefined,
    'a docker run that failed before ovsvlan last ran: never ran, no time marks it');
  t.equal(failedSince(container('old'), times({ lastAlive: undefined })), 'no-record', 'ovsvlan never ran here: every failure counts');
  t.equal(failedSince(container('edge'), times({ dockerdStartedAt: T - MARGIN_MS + 1 })), 'dockerd-started', 'within the margin');
  t.equal(failedSince(container('edge'), times({ dockerdStartedAt: T - MARGIN_MS - 1 })), undefined, 'beyond the margin');
});

t.test('stopped by the user: Docker\'s HasBeenManuallyStopped in config.v2.json, read-only', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'ovsvlan-docker-root-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const id = (c: string): string => c.repeat(64);
  for (const [c, config] of [['a', { HasBeenManuallyStopped: true }], ['b', { HasBeenManuallyStopped: false }], ['c', {}]] as const) {
    await mkdir(join(root, 'containers', id(c)), { recursive: true });
    await writeFile(join(root, 'containers', id(c), 'config.v2.json'), JSON.stringify({ ID: id(c), ...config }));
  }
  t.equal(await stoppedByUser(root, id('a')), true, 'docker stop or kill');
  t.equal(await stoppedByUser(root, id('b')), false);
  t.equal(await stoppedByUser(root, id('c')), undefined, 'no such field: not known');
  t.equal(await stoppedByUser(root, id('d')), undefined, 'no such file (another mount namespace, a remote dockerd)');
  t.equal(await stoppedByUser('', id('a')), undefined, 'no root directory given');
  t.equal(await stoppedByUser(root, '../../etc'), undefined, 'not a container ID');
});

t.test('the heartbeat file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-alive-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { logger } = captureLogger();
  t.equal((await Heartbeat.open(dir, logger)).previous, undefined, 'never ran: no mark, no state file');
  await writeFile(join(dir, 'state.json'), '{}');
  await utimes(join(dir, 'state.json'), WEEK_AGO / 1000, WEEK_AGO / 1000);
  t.equal((await Heartbeat.open(dir, logger)).previous, WEEK_AGO, 'no mark yet (first start of this version): the last save of state.json');

  const before = Date.now();
  const h = await Heartbeat.open(dir, logger);
  h.start();
  await h.stop();
  const marked = Date.parse((await readFile(join(dir, HEARTBEAT_FILE), 'utf8')).trim());
  t.ok(marked >= before && marked <= Date.now(), 'stop() marks now');
  t.equal(h.previous, WEEK_AGO, 'previous is what was there at open, not what this run writes');
  t.equal((await Heartbeat.open(dir, logger)).previous, marked, 'the next start reads it');
  await writeFile(join(dir, HEARTBEAT_FILE), 'garbage\n');
  t.equal((await Heartbeat.open(dir, logger)).previous, WEEK_AGO, 'an unreadable mark falls back to state.json');

  const idle = await Heartbeat.open(dir, logger);
  await idle.stop();
  t.equal(await readFile(join(dir, HEARTBEAT_FILE), 'utf8'), 'garbage\n', 'a run that never started marking leaves the mark alone');
});

/** A fake dockerd: answers `stoppedOn` after `failures` refusals; records starts. */
function fakeDocker(found: StoppedContainer[], opts: { failures?: number; failStart?: Set<string>; dockerdStartedAt?: number } = {}):
ContainerApi & { asked: number; started: string[] } {
  const api = {
    asked: 0,
    started: [] as string[],
    async stoppedOn(ids: ReadonlySet<string>) {
      api.asked++;
      if (api.asked <= (opts.failures ?? 0)) throw new Error('connect ECONNREFUSED /var/run/docker.sock');
      return found.filter((c) => Object.values(c.networks).some((id) => ids.has(id)));
    },
    dockerdStartedAt: async () => opts.dockerdStartedAt ?? T + 60_000,
    async start(id: string) {
      if (opts.failStart?.has(id)) throw new Error('(HTTP code 500) server error - failed to create endpoint');
      api.started.push(id);
    },
  };
  return api;
}

/** A heartbeat in memory: ovsvlan last ran at `previous`. */
function fakeAlive(previous: number | undefined = T): AliveMark & { starts: number; stops: number } {
  const mark = { previous, starts: 0, stops: 0, start: () => void mark.starts++, stop: async () => void mark.stops++ };
  return mark;
}

const reviver = (api: ContainerApi | undefined, opts: { patienceMs?: number; alive?: AliveMark; networks?: string[] } = {}) => {
  const { logger, lines } = captureLogger();
  const alive = opts.alive ?? fakeAlive();
  const r = new Reviver({ api, plugin: 'ovsvlan', networkIds: () => opts.networks ?? [NET], alive, log: logger,
    patienceMs: opts.patienceMs ?? 60_000, retryMs: { initial: 1, max: 4 } });
  return { r, lines };
};

t.test('waits for dockerd, then starts what the rule picks and nothing else; then marks the heartbeat', async (t) => {
  const a = container('a');
  const b = container('b', { restartPolicy: 'unless-stopped', error: '' });
  const api = fakeDocker([a, b], { failures: 3 });
  const alive = fakeAlive();
  const { r, lines } = reviver(api, { alive });
  const report = await r.start();
  t.equal(api.asked, 4, 'asked again until dockerd answered');
  t.same(api.started, [a.id], 'only the container dockerd gave up on');
  t.same(report, { started: ['a'], failed: [], left: [], stoppedByUser: [] });
  t.ok(lines.some((l) => l.msg.startsWith('started a: dockerd had given up on it')), 'each start is logged');
  t.equal(alive.starts, 1, 'the pass is done: the heartbeat is marked from now on');
  t.equal(await r.start(), report, 'once per daemon: a second call returns the same pass');
  t.equal(api.asked, 4);
  await r.close();
  t.equal(alive.stops, 1, 'close() marks it one last time');
});

t.test('ovsvlan restarted again later: what dockerd gave up on before its last run is left down', async (t) => {
  const old = container('old');
  const exited = container('exited', { finishedAt: T + 60_000 });
  const api = fakeDocker([old, exited], { dockerdStartedAt: WEEK_AGO });
  const { r, lines } = reviver(api);
  t.same(await r.start(), { started: ['exited'], failed: [], left: ['old'], stoppedByUser: [] });
  t.same(api.started, [exited.id]);
  t.ok(lines.some((l) => l.msg === 'left old down: dockerd gave up on it before ovsvlan last ran'), 'what is left is logged');
});

t.test('a container the user stopped stays stopped, whatever its restart policy', async (t) => {
  // dockerd, at its start, tried these too (always and on-failure ignore a docker stop) and gave up on them
  const stopped = container('stopped', { finishedAt: T - 24 * HOUR, stoppedByUser: true });
  const killed = container('killed', { restartPolicy: 'on-failure', finishedAt: T - HOUR, stoppedByUser: true });
  const running = container('running', { restartPolicy: 'on-failure' });
  const unknown = container('unknown', { stoppedByUser: undefined });
  const api = fakeDocker([stopped, killed, running, unknown]);
  const { r, lines } = reviver(api);
  t.same(await r.start(), { started: ['running', 'unknown'], failed: [], left: [], stoppedByUser: ['stopped', 'killed'] });
  t.same(api.started, [running.id, unknown.id], 'Docker\'s flag unreadable: started, as dockerd would');
  t.ok(lines.some((l) => l.msg === 'left stopped down: the user stopped it (docker stop or docker kill)'), 'what is left is logged');
});

t.test('one start that fails does not stop the others', async (t) => {
  const [a, b] = [container('a'), container('b')];
  const api = fakeDocker([a, b], { failStart: new Set([a.id]) });
  const { r, lines } = reviver(api);
  t.same(await r.start(), { started: ['b'], failed: ['a'], left: [], stoppedByUser: [] });
  t.ok(lines.some((l) => l.level === 50 && l.msg.startsWith('could not start a')), 'the failure is logged as an error');
});

t.test('gives up with a log line when dockerd never answers, and leaves the heartbeat alone', async (t) => {
  const api = fakeDocker([container('a')], { failures: Infinity });
  const alive = fakeAlive();
  const { r, lines } = reviver(api, { patienceMs: 20, alive });
  t.equal(await r.start(), undefined);
  t.same(api.started, []);
  t.ok(lines.some((l) => l.level === 40 && /dockerd did not answer for 0 s: containers it gave up on/.test(l.msg)));
  t.equal(alive.starts, 0, 'not marked: the next start looks at the same failures');
});

t.test('close() cancels a pass waiting for dockerd', async (t) => {
  const api = fakeDocker([container('a')], { failures: Infinity });
  const alive = fakeAlive();
  const { logger } = captureLogger();
  const r = new Reviver({ api, plugin: 'ovsvlan', networkIds: () => [NET], alive, log: logger, retryMs: { initial: 60_000, max: 60_000 } });
  const pass = r.start();
  await r.close();
  t.equal(await pass, undefined, 'resolves at once instead of sleeping a minute');
  t.same(api.started, []);
  t.equal(alive.starts, 0, 'a cancelled pass does not mark the heartbeat');
});

t.test('nothing to do: no Docker configured, or no network of ours; the heartbeat is marked all the same', async (t) => {
  const off = fakeAlive();
  t.same(await reviver(undefined, { alive: off }).r.start(), { started: [], failed: [], left: [], stoppedByUser: [] }, 'OVSVLAN_DOCKER empty');
  t.equal(off.starts, 1, 'revive off: ovsvlan ran, so failures from before are not for a later start');
  const api = fakeDocker([container('a')]);
  const none = fakeAlive();
  t.same(await reviver(api, { alive: none, networks: [] }).r.start(), { started: [], failed: [], left: [], stoppedByUser: [] });
  t.equal(api.asked, 0, 'dockerd is not even asked');
  t.equal(none.starts, 1);
});
