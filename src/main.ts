#!/usr/bin/env node
// Process entry: the only file that reads process.env or exits the process.
import { readFileSync } from 'node:fs';
import { loadConfig, SETTINGS } from './config.js';
import { startDaemon } from './daemon.js';
import { OvsvlanError } from './errors.js';
import { createLogger } from './log.js';

const USAGE = `usage: ovsvlan daemon [flags]   run the Docker network plugin in the foreground
       ovsvlan version

settings (flag, or environment variable, default):
${SETTINGS.map((s) => `  ${s.flag.padEnd(13)} ${s.env.padEnd(18)} ${s.default}`).join('\n')}`;

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
  const log = createLogger(config.logLevel);
  const daemon = await startDaemon(config, log);
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
