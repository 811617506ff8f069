// `ovsvlan daemon`: takes the state directory (one daemon per directory: a
// second one stops here, naming the first, before it opens or writes
// anything), then opens the plugin socket, before the rest of the daemon is
// even loaded, so that dockerd's first dial (500 ms after it starts a managed
// plugin) finds it; requests wait until the daemon is ready. Under systemd
// (Type=notify) it then reports itself ready: Docker, ordered after ovsvlan,
// starts only once the socket answers.
// A start that fails after the socket is open closes it and removes the
// socket file (if still ours): Docker must not keep finding a dead plugin.
// The state directory's lock is held until the process ends.
// Signals are handled from the first moment: a SIGHUP (systemctl reload) or a
// SIGTERM that arrives while the daemon is still starting is acted on once it
// has started, never by the default action (which would kill it).
import { setFlagsFromString } from 'node:v8';
import type { Logger } from 'pino';
import { resolveConfig, type CommandLine, type Config } from '../config.js';
import type { Daemon } from '../daemon.js';
import { openSocket } from '../protocol/socket.js';
import { lockStateDir, type StateDirLock } from '../store/dir-lock.js';
import type { Env } from './commands.js';
import { notifySystemd } from './notify.js';

/**
 * Keeps V8's young generation at its initial size (two 1 MiB semi-spaces) instead of letting it grow
 * to 2 × 16 MiB: the first reconciliation with 1,000 endpoints allocates in a burst, the young
 * generation grew to its maximum then, and V8 keeps the pages it grew into (about 30 MB of RSS for
 * the daemon's life). Set at run time, so it holds however the daemon is started (the service
 * unit, the managed plugin, `node dist/main.js daemon`): V8 reads the growth factor each time it
 * would grow the young generation, whereas `--max-semi-space-size` counts only on node's command line.
 * Called once, before the daemon allocates anything of size.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

export async function runDaemon(cl: CommandLine, env: Env): Promise<number> {
  keepYoungGenerationSmall();
  const config = resolveConfig(cl.settings, env);
  let reconcileNow: (() => void) | undefined;
  let hupWhileStarting = false;
  let stopSignal: string | undefined;
  let stop: ((signal: string) => void) | undefined;
  const onHup = (): void => (reconcileNow ? reconcileNow() : void (hupWhileStarting = true));
  const onStop = (signal: string) => (): void => (stop ? stop(signal) : void (stopSignal ??= signal));
  process.on('SIGHUP', onHup);
  process.once('SIGTERM', onStop('SIGTERM'));
  process.once('SIGINT', onStop('SIGINT'));

  const stateLock = await lockStateDir(config.stateDir);
  try {
    const { daemon, log } = await start(config, env, stateLock);
    reconcileNow = () => void daemon.reconcile('SIGHUP');
    if (hupWhileStarting) reconcileNow();
    await new Promise<void>((resolve) => {
      stop = (signal) => {
        log.info({ signal }, 'shutting down; the data plane is left as it is');
        resolve();
      };
      if (stopSignal) stop(stopSignal);
    });
    await notifySystemd(env, 'STOPPING=1');
    await daemon.close();
  } finally {
    await stateLock.release();
  }
  process.off('SIGHUP', onHup);
  return 0;
}

/** Opens the socket and starts the daemon on it; on failure, closes the socket (removing its file) and throws. */
async function start(config: Config, env: Env, stateLock: StateDirLock): Promise<{ daemon: Daemon; log: Logger }> {
  const socket = await openSocket(config.socket);
  try {
    const notified = notifySystemd(env, 'READY=1');
    const { createLogger } = await import('../log.js');
    const { startDaemon } = await import('../daemon.js');
    const log = createLogger(config.logLevel);
    logRemoved(log, config.stateDir, stateLock.removed);
    const daemon = await startDaemon(config, log, socket);
    const notice = await notified;
    if (notice) log.warn(notice);
    return { daemon, log };
  } catch (err) {
    await socket.close();
    throw err;
  }
}

function logRemoved(log: Logger, stateDir: string, removed: StateDirLock['removed']): void {
  if (removed.tempFiles.length > 0) {
    log.warn({ stateDir, files: removed.tempFiles }, 'removed half-written temporary files a killed daemon left in the state directory');
  }
  if (removed.staleClaims.length > 0) log.info({ stateDir, claims: removed.staleClaims }, 'removed the state directory lock of a daemon that is gone');
}
