#!/usr/bin/env node
// Process entry: the only file that reads process.env or exits the process.
// Finds the command, parses its flags (settings flags too where they apply),
// prints help on request, and runs it. Exit status 2 means a usage error
// (a bad flag or setting).
import { parseCommandLine, SETTINGS } from './config.js';
import { ConfigError, OvsvlanError } from './errors.js';
import { findCommand } from './cli/commands.js';
import { commandHelp, mainHelp } from './cli/help.js';

async function main(argv: string[]): Promise<number> {
  // a command of two words ("ipam reclaim") is named in the table with its space
  const [first, ...after] = argv;
  const twoWords = after[0] !== undefined && findCommand(`${first} ${after[0]}`) !== undefined;
  const name = twoWords ? `${first} ${after[0]}` : first;
  const rest = twoWords ? after.slice(1) : after;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? findCommand(rest.slice(0, 2).join(' ')) ?? findCommand(rest[0]) : undefined;
    process.stdout.write(`${topic ? commandHelp(topic) : mainHelp()}\n`);
    return 0;
  }
  if (name === '--version') return (await import('./cli/version.js')).runVersion();
  const command = findCommand(name);
  if (!command) {
    process.stderr.write(`ovsvlan: unknown command "${name.slice(0, 40)}"\n\n${mainHelp()}\n`);
    return 2;
  }
  const settingFlags = new Set(SETTINGS.map((s) => s.flag));
  let cl;
  try {
    cl = parseCommandLine(rest, command.flags);
    const stray = [...cl.settings.keys()].find((f) => !command.settings && settingFlags.has(f));
    if (stray) throw new ConfigError(`${stray} is a daemon setting; "ovsvlan ${name}" takes none`);
  } catch (err) {
    process.stderr.write(`ovsvlan ${name}: ${(err as Error).message}\n(see: ovsvlan ${name} --help)\n`);
    return 2;
  }
  if (cl.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  return command.run(cl, process.env);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const msg = err instanceof OvsvlanError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`ovsvlan: ${msg}\n`);
    // a bad setting is a usage error (2): for status and doctor, 1 means drift or a failed check
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
