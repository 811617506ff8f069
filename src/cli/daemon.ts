// `ovsvlan daemon`: opens the plugin socket first, before the rest of the
// daemon is even loaded, so that dockerd's first dial (500 ms after it starts
// a managed plugin) finds it; requests wait until the daemon is ready. Under
// systemd (Type=notify) it then reports itself ready: Docker, ordered after
// ovsvlan, starts only once the socket answers.
// Signals are handled from the first moment: a SIGHUP (systemctl reload) or a
// SIGTERM that arrives while the daemon is still starting is acted on once it
// has started, never by the default action (which would kill it).
import { resolveConfig, type CommandLine } from '../config.js';
import { openSocket } from '../protocol/socket.js';
import type { Env } from './commands.js';
import { notifySystemd } from './notify.js';

export async function runDaemon(cl: CommandLine, env: Env): Promise<number> {
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

  const socket = await openSocket(config.socket);
  const notified = notifySystemd(env, 'READY=1');
  const { createLogger } = await import('../log.js');
  const { startDaemon } = await import('../daemon.js');
  const log = createLogger(config.logLevel);
  const daemon = await startDaemon(config, log, socket);
  const notice = await notified;
  if (notice) log.warn(notice);
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
  process.off('SIGHUP', onHup);
  return 0;
}
