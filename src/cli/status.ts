// `ovsvlan status`: not written yet.
import type { CommandLine } from '../config.js';
import type { Env } from './commands.js';

export async function runStatus(_cl: CommandLine, _env: Env): Promise<number> {
  process.stderr.write('ovsvlan status: not implemented yet\n');
  return 2;
}
