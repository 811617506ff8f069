#!/usr/bin/env node
// Process entry: the only file that reads process.env or exits the process.
// The plugin socket is opened first, before the rest of the daemon is even
// loaded, so that dockerd's first dial (500 ms after it starts a managed
// plugin) finds it; requests wait until the daemon is ready.
import { readFileSync } from 'node:fs';
import { loadConfig, SETTINGS } from './config.js';
import { OvsvlanError } from './errors.js';
import { openSocket } from './protocol/socket.js';

const USAGE = `usage: ovsvlan daemon [flags]   run the Docker network plugin in the foreground
       ovsvlan version

settings (flag, or environment variable, default):
${SETTINGS.map((s) => `  ${s.flag.padEnd(16)} ${s.env.padEnd(22)} ${s.default}`).join('\n')}

SIGHUP reconciles now; SIGTERM stops the daemon (containers keep their network).`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'version' || command === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`ovsvlan ${pkg.version}\n`);
    return 0;
  }
  if (command !== 'daemon') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
  }
  const config = loadConfig(rest, process.env);
  const socket = await openSocket(config.socket);
  const { createLogger } = await import('./log.js');
  const { startDaemon } = await import('./daemon.js');
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const msg = err instanceof OvsvlanError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`ovsvlan: ${msg}\n`);
    process.exit(1);
  },
);
