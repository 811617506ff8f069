// `ovsvlan daemon`: opens the plugin socket first, before the rest of the
// daemon is even loaded, so that dockerd's first dial (500 ms after it starts
// a managed plugin) finds it; requests wait until the daemon is ready.
import { resolveConfig, type CommandLine } from '../config.js';
import { openSocket } from '../protocol/socket.js';
import type { Env } from './commands.js';

export async function runDaemon(cl: CommandLine, env: Env): Promise<number> {
  const config = resolveConfig(cl.settings, env);
  const socket = await openSocket(config.socket);
  const { createLogger } = await import('../log.js');
  const { startDaemon } = await import('../daemon.js');
  const log = createLogger(config.logLevel);
  const daemon = await startDaemon(config, log, socket);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down; the data plane is left as it is');
      resolve();
    };
    process.on('SIGHUP', () => void daemon.reconcile('SIGHUP'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.close();
  return 0;
}
