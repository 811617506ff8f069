// `ovsvlan install-service`: not written yet.
import type { CommandLine } from '../config.js';
import type { Env } from './commands.js';

export async function runInstallService(_cl: CommandLine, _env: Env): Promise<number> {
  process.stderr.write('ovsvlan install-service: not implemented yet\n');
  return 2;
}
