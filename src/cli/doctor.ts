// `ovsvlan doctor`: not written yet.
import type { CommandLine } from '../config.js';
import type { Env } from './commands.js';

export async function runDoctor(_cl: CommandLine, _env: Env): Promise<number> {
  process.stderr.write('ovsvlan doctor: not implemented yet\n');
  return 2;
}
