// `ovsvlan install-service`: installs ovsvlan as the systemd service
// ovsvlan.service for the installation this file runs from. Writes the unit
// (replacing an older one: it is ovsvlan's), writes the settings file only when
// there is none (an operator's settings are never overwritten), then runs
// `systemctl daemon-reload` and `systemctl enable [--now] ovsvlan`. Where
// systemd is not running it says so and prints the commands to run instead.
// Exit status: 0 done (or nothing to do here), 1 a step failed, 2 bad flags.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandLine } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Env } from './commands.js';
import {
  checkPath, DEFAULT_ENV_FILE, DEFAULT_UNIT_DIR, readUnitTemplate, renderSettingsFile, renderUnit, UNIT_NAME, unmentionedSettings,
} from './service-unit.js';

/** sd_booted(3): systemd is the service manager of this host. */
const SYSTEMD_RUNNING = '/run/systemd/system';

export async function runInstallService(cl: CommandLine, _env: Env): Promise<number> {
  const unitDir = stringFlag(cl, 'unit-dir') ?? DEFAULT_UNIT_DIR;
  const envFile = stringFlag(cl, 'settings-file') ?? DEFAULT_ENV_FILE;
  const start = cl.own['no-start'] !== true;
  let unit: string;
  try {
    if (!unitDir.startsWith('/')) throw new ConfigError(`--unit-dir "${unitDir}": must be an absolute path`);
    checkPath(envFile, '--settings-file');
    unit = renderUnit(await readUnitTemplate(), {
      node: process.execPath,
      main: fileURLToPath(new URL('../main.js', import.meta.url)),
      envFile,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`ovsvlan install-service: ${err.message}\n`);
    return 2;
  }
  if (cl.own['print'] === true) {
    process.stdout.write(unit);
    return 0;
  }

  const say = (line: string): boolean => process.stdout.write(`${line}\n`);
  const unitPath = join(unitDir, UNIT_NAME);
  try {
    say(`${await writeUnit(unitPath, unit)} ${unitPath}`);
    say(await writeSettings(envFile));
  } catch (err) {
    process.stderr.write(`ovsvlan install-service: ${(err as Error).message}${isDenied(err) ? ' (run it as root)' : ''}\n`);
    return 1;
  }

  const commands = [['daemon-reload'], ['enable', ...(start ? ['--now'] : []), UNIT_NAME]];
  if (!existsSync(SYSTEMD_RUNNING)) {
    say(`systemd is not running on this host (no ${SYSTEMD_RUNNING}): nothing enabled or started.`);
    say('On a host booted with systemd, run:');
    for (const args of commands) say(`  systemctl ${args.join(' ')}`);
    say('Without systemd, run `ovsvlan daemon` under your supervisor, started before dockerd.');
    return 0;
  }
  const { execa } = await import('execa');
  for (const args of commands) {
    const r = await execa('systemctl', args, { reject: false, stdin: 'ignore', timeout: 120_000 });
    if (r.exitCode !== 0) {
      process.stderr.write(`ovsvlan install-service: systemctl ${args.join(' ')} failed (${r.exitCode ?? r.signal}): `
        + `${String(r.stderr || r.stdout).trim()}\nsee: systemctl status ovsvlan; journalctl -u ovsvlan\n`);
      return 1;
    }
    say(`ran: systemctl ${args.join(' ')}`);
  }
  say(start
    ? 'ovsvlan.service is enabled and started (after an upgrade: systemctl restart ovsvlan; the data plane stays up)'
    : 'ovsvlan.service is enabled; it starts at boot, before docker.service (now: systemctl start ovsvlan)');
  return 0;
}

/** Writes the unit through a temporary file and a rename; says what changed. */
async function writeUnit(path: string, unit: string): Promise<string> {
  const before = await readFile(path, 'utf8').catch(() => undefined);
  if (before === unit) return 'unchanged:';
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, unit, { mode: 0o644 });
  await rename(`${path}.tmp`, path);
  return before === undefined ? 'wrote' : 'updated';
}

/** Writes the settings file unless one exists (`wx`: never overwritten, not even by a race). */
async function writeSettings(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, renderSettingsFile(path), { mode: 0o644, flag: 'wx' });
    return `wrote ${path} (every setting commented out with its default)`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const missing = unmentionedSettings(await readFile(path, 'utf8'));
  return `kept ${path} as it is (never overwritten)`
    + (missing.length > 0 ? `; settings it does not mention, at their defaults: ${missing.join(', ')}` : '');
}

function stringFlag(cl: CommandLine, name: string): string | undefined {
  const v = cl.own[name];
  return typeof v === 'string' ? v : undefined;
}

function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}
