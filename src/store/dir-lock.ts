// One daemon per state directory. Two daemons on one directory would each
// save their own records over the other's, so `ovsvlan daemon` takes this
// lock before anything else and holds it until it exits; `ovsvlan status` and
// `doctor` only read and never take it.
//
// Node has no flock(), so the lock is a claim that the kernel ends for us: a
// Unix socket the daemon listens on, in `lock.d/` of the state directory,
// named `<pid>.<random>`. A claim is held while a connect() to it succeeds:
// when the daemon dies, even by SIGKILL, the kernel closes the socket and the
// claim reads as stale. This needs no PID arithmetic, so it also holds between
// PID namespaces (a managed plugin and a systemd service on one
// /var/lib/ovsvlan, or a plugin restarted in a new namespace, where PIDs repeat).
//
// Taking it: listen on a hidden name, rename it into place (a claim is only
// ever visible while it answers), then look at every other claim: one that
// answers means the directory is taken (ours is withdrawn), one that refuses
// is a dead daemon's and is removed. Of two daemons starting at once, the one
// that renamed later sees the other's claim, so at most one proceeds (both may
// give up: safe). No claim is ever taken over, so there is no takeover race.
//
// The lock's holder also owns what dead daemons left: temporary files
// `NAME.tmp-PID` are half-written saves, removed here (taken before the first
// save, so none is this daemon's own, even when a dead one had its PID).
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { causeText, ConfigError, quoted, StoreError } from '../errors.js';
import { listen, MAX_SOCKET_PATH } from '../listen.js';

const LOCK_DIR = 'lock.d';
const HIDDEN_MAX_AGE_MS = 60_000;
const ANSWER_WAIT_MS = 1_000;

export interface StateDirLock {
  /** The claim this daemon holds. */
  readonly claim: string;
  /** What dead daemons left that taking the lock removed (for the log once there is one). */
  readonly removed: { staleClaims: string[]; tempFiles: string[] };
  /** Withdraws the claim (at exit); idempotent. */
  release(): Promise<void>;
}

/** What a claim's holder says about itself to whoever connects. */
interface Holder {
  pid: number;
  pidNamespace: string;
  since: string;
}

/** Takes the state directory, or throws naming the daemon that holds it. */
export async function lockStateDir(dir: string): Promise<StateDirLock> {
  const claims = join(dir, LOCK_DIR);
  const name = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const claim = join(claims, name);
  const hidden = join(claims, `.${name}`);
  const longest = MAX_SOCKET_PATH - `/${LOCK_DIR}/.${'9'.repeat(7)}.${'f'.repeat(8)}`.length; // PIDs have up to 7 digits
  if (Buffer.byteLength(dir) > longest) {
    throw new ConfigError(`OVSVLAN_STATE_DIR: ${quoted(dir)} is too long for its lock socket (a path of at most ${longest} bytes)`);
  }
  await mkdir(claims, { recursive: true, mode: 0o700 }).catch((err: Error) => {
    throw new StoreError(`cannot use state directory ${dir}: ${causeText(err)}`, err);
  });
  const me: Holder = { pid: process.pid, pidNamespace: await pidNamespace(), since: new Date().toISOString() };
  const server = createServer((c) => c.end(`${JSON.stringify(me)}\n`));
  await listen(server, hidden).catch((err: Error) => {
    throw new StoreError(`cannot take state directory ${dir} (a Unix socket in ${claims}): ${err.message}`, err);
  });
  server.unref();
  const release = async (): Promise<void> => {
    await rm(claim, { force: true });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    await rename(hidden, claim);
    const staleClaims = await othersOrThrow(dir, claims, name, me);
    const tempFiles = await removeTempFiles(dir);
    return { claim, removed: { staleClaims, tempFiles }, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Looks at every other claim: throws when one answers, removes those that refuse. Returns the removed ones. */
async function othersOrThrow(dir: string, claims: string, mine: string, me: Holder): Promise<string[]> {
  const stale: string[] = [];
  for (const entry of await readdir(claims)) {
    if (entry === mine) continue;
    const path = join(claims, entry);
    if (entry.startsWith('.')) {
      // another daemon between listen and rename, for microseconds; older than a minute it died there
      const s = await stat(path).catch(() => undefined);
      if (s && Date.now() - s.mtimeMs > HIDDEN_MAX_AGE_MS) await rm(path, { force: true });
      continue;
    }
    const answer = await ask(path);
    if (answer === 'gone') continue;
    if (answer === 'stale') {
      await rm(path, { force: true });
      stale.push(entry);
      continue;
    }
    if (answer instanceof Error) {
      throw new StoreError(`cannot tell whether another ovsvlan daemon holds state directory ${dir} (${path}: ${answer.message}); stop it, or remove ${path} if no daemon runs`);
    }
    // a holder that accepted without a word may have been withdrawing: its claim is gone then
    if (answer === undefined && !(await stat(path).then(() => true, () => false))) continue;
    const pid = answer?.pid ?? Number(entry.split('.')[0]);
    const where = answer && answer.pidNamespace !== me.pidNamespace ? ' in another PID namespace (a managed plugin, or a container)' : '';
    throw new StoreError(`state directory ${dir} is in use by another ovsvlan daemon, PID ${pid}${where}` +
      `${answer ? `, running since ${answer.since}` : ''}: stop it first, or give this daemon its own OVSVLAN_STATE_DIR`);
  }
  return stale;
}

/**
 * Connects to a claim: 'stale' when nothing listens on it, 'gone' when it was
 * withdrawn meanwhile, what the holder says when it answers (undefined when it
 * accepts but says nothing within a second, or resets: alive a moment ago),
 * or the error when the connect failed otherwise (nothing can be concluded).
 */
function ask(path: string): Promise<Holder | undefined | 'stale' | 'gone' | Error> {
  return new Promise((resolve) => {
    const c = connect(path);
    let connected = false;
    let text = '';
    const done = (v: Holder | undefined | 'stale' | 'gone' | Error): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), ANSWER_WAIT_MS);
    c.setEncoding('utf8');
    c.on('connect', () => (connected = true));
    c.on('data', (d: string) => (text += d));
    c.on('end', () => done(parseHolder(text)));
    c.on('error', (err: NodeJS.ErrnoException) => {
      // once connected, the holder was alive: a reset is it closing (it may be withdrawing its claim)
      if (connected) return done(parseHolder(text));
      done(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'gone' : err);
    });
  });
}

function parseHolder(text: string): Holder | undefined {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.pidNamespace === 'string' && typeof h.since === 'string' ? h as Holder : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes every `NAME.tmp-PID` file: under the lock no other daemon writes
 * here, and this one has saved nothing yet, so they are half-written saves of
 * a dead one, whatever their PID (a managed plugin is PID 1 in its own
 * namespace at every start, so a dead one's PID is often ours).
 */
async function removeTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!/\.tmp-\d+$/.test(entry.name) || !entry.isFile()) continue;
    await rm(join(dir, entry.name), { force: true });
    removed.push(entry.name);
  }
  return removed;
}

async function pidNamespace(): Promise<string> {
  return readlink('/proc/self/ns/pid').catch(() => 'unknown');
}
