#!/usr/bin/env node
// Process entry: the only file that reads process.env or exits the process.
// Finds the command, parses its flags (settings flags too where they apply),
// prints help on request, and runs it. Exit status 2 means a usage error
// (a bad flag or setting).
import { parseCommandLine } from './config.js';
import { ConfigError, OvsvlanError } from './errors.js';
import { COMMANDS, findCommand } from './cli/commands.js';
import { commandHelp, groupHelp, mainHelp } from './cli/help.js';

async function main(argv: string[]): Promise<number> {
  // a command of two words ("ipam reclaim") is named in the table with its space
  const [first, ...after] = argv;
  const twoWords = after[0] !== undefined && findCommand(`${first} ${after[0]}`) !== undefined;
  const name = twoWords ? `${first} ${after[0]}` : first;
  const rest = twoWords ? after.slice(1) : after;
  if (name === undefined || name === '--help' || name === '-h') return helpOn(mainHelp());
  if (name === 'help') return help(rest);
  if (name === '--version') return (await import('./cli/version.js')).runVersion();
  const command = findCommand(name);
  if (!command) {
    // the first word of two-word commands ("ipam"): its commands, on stdout when asked for with --help
    const group = COMMANDS.filter((c) => c.name.startsWith(`${name} `));
    if (group.length > 0 && (rest[0] === '--help' || rest[0] === '-h') && rest.length === 1) return helpOn(groupHelp(name, group));
    const what = group.length > 0 ? `"${[name, ...rest.slice(0, 1)].join(' ').slice(0, 60)}" is not a command` : `unknown command "${name.slice(0, 40)}"`;
    process.stderr.write(`ovsvlan: ${what}\n\n${group.length > 0 ? groupHelp(name, group) : mainHelp()}\n`);
    return 2;
  }
  let cl;
  try {
    cl = parseCommandLine(rest, command.flags, command.settings);
  } catch (err) {
    process.stderr.write(`ovsvlan ${name}: ${(err as Error).message}\n(see: ovsvlan ${name} --help)\n`);
    return 2;
  }
  if (cl.help) return helpOn(commandHelp(command));
  return command.run(cl, process.env);
}

/** `ovsvlan help [COMMAND]`: that command's help, or an error naming what is not a command. */
function help(topic: readonly string[]): number {
  if (topic.length === 0 || (topic.length === 1 && (topic[0] === '--help' || topic[0] === '-h'))) return helpOn(mainHelp());
  const command = findCommand(topic.slice(0, 2).join(' ')) ?? (topic.length === 1 ? findCommand(topic[0]) : undefined);
  if (command) return helpOn(commandHelp(command));
  const group = COMMANDS.filter((c) => c.name.startsWith(`${topic[0]} `));
  if (group.length > 0 && topic.length === 1) return helpOn(groupHelp(topic[0] ?? '', group));
  process.stderr.write(`ovsvlan help: unknown command "${topic.join(' ').slice(0, 40)}"\n\n${mainHelp()}\n`);
  return 2;
}

function helpOn(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
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
