// The state directory belongs to one daemon (issue 9, defects 8, 9, 10): a
// second daemon on it stops at start naming the first's PID and leaves no
// socket; the lock of a daemon killed with SIGKILL is taken over; the
// half-written temp files a killed daemon left are removed at start; a start
// that fails after the plugin socket is open removes the socket file, and a
// socket file is only ever removed while it is still the daemon's own.
// Real daemons from dist/, OVSDB and Docker never reached (as in notify.test.ts).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { OVSVLAN_MAIN, REPO_ROOT, socketAnswers } from '../helpers/plugin.js';
import { RUN_DIR, ensureRunDir, pidAlive, run, waitFor } from '../helpers/run.js';
import { openSocket } from '../../src/protocol/socket.js';

interface Spawned {
  readonly pid: number;
  /** stdout (the JSON log) and stderr so far */
  output(): string;
  /** The last lines of it, for a failure message. */
  tail(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

await ensureRunDir();
const DIR = `${RUN_DIR}/state-dir`;
await mkdir(DIR, { recursive: true });
t.teardown(() => rm(DIR, { recursive: true, force: true }));
const started: Spawned[] = [];
t.teardown(() => {
  for (const d of started) if (pidAlive(d.pid)) process.kill(d.pid, 'SIGKILL');
});

function daemon(stateDir: string, socket: string): Spawned {
  const child = spawn(process.execPath, [OVSVLAN_MAIN, 'daemon'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OVSVLAN_SOCKET: socket, OVSVLAN_STATE_DIR: stateDir, OVSVLAN_OVSDB: `unix:${DIR}/no-ovsdb.sock`,
      OVSVLAN_DOCKER: '', OVSVLAN_DATAPATH: 'netdev', OVSVLAN_LOG_LEVEL: 'info' },
  });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  if (child.pid === undefined) throw new Error('cannot spawn the daemon');
  const d = { pid: child.pid, output: () => text, tail: () => text.trimEnd().split('\n').slice(-8).join('\n'), exited };
  started.push(d);
  return d;
}

async function listening(d: Spawned, socket: string): Promise<void> {
  await waitFor(`the daemon ${d.pid} on ${socket}`, async () => (await socketAnswers(socket)) || undefined, 15_000)
    .catch((err: Error) => { throw new Error(`${err.message}; last output:\n${d.tail()}`); });
}

/** The daemon's first output line that matches (the socket listens before the log is set up). */
async function logged(d: Spawned, pattern: RegExp): Promise<string> {
  const find = (): string | undefined => d.output().split('\n').find((l) => pattern.test(l));
  return waitFor(`"${pattern.source}" in the output of daemon ${d.pid}`, async () => find(), 10_000)
    .catch((err: Error) => { throw new Error(`${err.message}; last output:\n${d.tail()}`); });
}

/** Exit status within 15 s, or a failure with the output. */
async function exitOf(d: Spawned): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`daemon ${d.pid} still runs; last output:\n${d.tail()}`)), 15_000); });
  try {
    return await Promise.race([d.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A socket file nothing listens on, as a daemon killed by SIGKILL leaves it. */
async function staleSocket(path: string): Promise<void> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(`${path}.making`, r));
  await rename(`${path}.making`, path);
  await new Promise<void>((r) => s.close(() => r()));
}

t.test('a second daemon on one state directory stops at start, naming the first; a killed one\'s lock is taken over', async (t) => {
  const state = `${DIR}/one`;
  const a = daemon(state, `${DIR}/a.sock`);
  await listening(a, `${DIR}/a.sock`);

  const b = daemon(state, `${DIR}/b.sock`);
  t.not((await exitOf(b)).code, 0, 'the second daemon exits with an error');
  t.match(b.output(), new RegExp(`state directory ${state} is in use by another ovsvlan daemon, PID ${a.pid}, running since`), 'its error names the PID holding the directory');
  t.notOk(existsSync(`${DIR}/b.sock`), 'it leaves no socket file');

  const c = daemon(state, `${DIR}/a.sock`);
  t.not((await exitOf(c)).code, 0, 'a second daemon given the first one\'s socket exits too');
  t.match(c.output(), new RegExp(`PID ${a.pid}`));
  t.ok(await socketAnswers(`${DIR}/a.sock`), 'and the first daemon\'s socket still answers');

  process.kill(a.pid, 'SIGKILL');
  await a.exited;
  const d = daemon(state, `${DIR}/d.sock`);
  await listening(d, `${DIR}/d.sock`);
  await logged(d, /removed the state directory lock of a daemon that is gone/);
  t.pass('the SIGKILLed daemon\'s lock is stale: taken over, with a log line');
  process.kill(d.pid, 'SIGTERM');
  t.equal((await exitOf(d)).code, 0, 'SIGTERM: exit 0');
  t.notOk(existsSync(`${DIR}/d.sock`), 'a clean stop removes the socket file');
  t.same(await readdir(`${state}/lock.d`), [], 'and withdraws the lock');
});

t.test('half-written temp files a killed daemon left are removed at start, nothing else', async (t) => {
  const state = `${DIR}/tmpfiles`;
  await mkdir(state, { recursive: true });
  const saved = '{"version":4,"seq":0,"networks":{},"endpoints":{},"pools":{}}\n';
  await writeFile(`${state}/state.json`, saved);
  // a PID that is surely gone: a process that ran and exited
  const gone = (await run('sh', ['-c', 'echo $$'])).stdout;
  await writeFile(`${state}/state.json.tmp-${gone}`, '{"version":4,"netw');
  await writeFile(`${state}/state.journal.tmp-${gone}`, '0123456789abcdef {"seq":1,"chan');
  await writeFile(`${state}/alive.tmp-${gone}`, '2024-');
  await writeFile(`${state}/notes.tmp`, 'not ours to remove');
  const d = daemon(state, `${DIR}/t.sock`);
  await listening(d, `${DIR}/t.sock`);
  t.same((await readdir(state)).filter((f) => f.includes('.tmp')), ['notes.tmp'], 'the temp files are gone, another file stays');
  const line = await logged(d, /removed half-written temporary files a killed daemon left/);
  t.match(line, `state.json.tmp-${gone}`, 'a log line names them');
  t.equal(await readFile(`${state}/state.json`, 'utf8'), saved, 'the saved state is untouched');
  process.kill(d.pid, 'SIGTERM');
  await exitOf(d);
});

t.test('a start that fails after the socket is open removes the socket file', async (t) => {
  const state = `${DIR}/broken`;
  await mkdir(state, { recursive: true });
  await writeFile(`${state}/state.json`, '{"version":3,"networks":{"n1":{"id":"n1"}},"endpoints":{},"pools":{}}\n');
  const sock = `${DIR}/f.sock`;
  await staleSocket(sock); // what a killed daemon left: the new one replaces it, then fails
  t.ok(existsSync(sock) && !(await socketAnswers(sock)), 'a stale socket file is there before');
  const d = daemon(state, sock);
  t.equal((await exitOf(d)).code, 1, 'the daemon fails at start');
  t.match(d.output(), /networks\.n1 lacks mode, bridge, mtu or remotes/, 'saying why');
  t.notOk(existsSync(sock), 'no socket file is left for Docker to find');
  t.same(await readdir(`${state}/lock.d`), [], 'the lock is withdrawn');
});

t.test('a state directory or socket path too long for a Unix socket is refused at start (Node would cut it silently)', async (t) => {
  const long = `${DIR}/${'d'.repeat(100)}`;
  const d = daemon(long, `${DIR}/l.sock`);
  t.equal((await exitOf(d)).code, 2, 'a bad setting: exit 2');
  t.match(d.output(), /OVSVLAN_STATE_DIR: ".*"… is too long for its lock socket \(a path of at most 82 bytes\)/);
  const e = daemon(`${DIR}/short`, `${DIR}/${'s'.repeat(100)}.sock`);
  t.equal((await exitOf(e)).code, 2);
  t.match(e.output(), /OVSVLAN_SOCKET: ".*"… is too long for a Unix socket/);
  t.same(await readdir(`${DIR}/short/lock.d`), [], 'and the state directory is released');
});

t.test('closing removes the socket file only while it is still ours', async (t) => {
  const sock = `${DIR}/mine.sock`;
  const mine = await openSocket(sock);
  // another daemon put its own socket there since (renamed into place, as openSocket does)
  const theirs: Server = createServer((c) => c.end());
  await new Promise<void>((r) => theirs.listen(`${DIR}/.theirs`, r));
  t.teardown(() => new Promise<void>((r) => theirs.close(() => r())));
  await rename(`${DIR}/.theirs`, sock);
  await mine.close();
  t.ok(await socketAnswers(sock), 'the other daemon\'s socket is left alone');

  const again = await openSocket(`${DIR}/again.sock`);
  await again.close();
  t.notOk(existsSync(`${DIR}/again.sock`), 'our own socket file is removed');
});
