// Help texts, printed on stdout with exit status 0: `ovsvlan --help` and
// `ovsvlan CMD --help` (purpose, every flag, an example).
import { SETTINGS } from '../config.js';
import { COMMANDS, type Command } from './commands.js';

/** `ovsvlan --help`: every command with its summary. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: ovsvlan COMMAND [flags]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    '`ovsvlan COMMAND --help` (or `ovsvlan help COMMAND`) tells more about one command;',
    '`ovsvlan --version` prints the version.',
  ].join('\n');
}

/** The commands under a first word (`ovsvlan ipam`). */
export function groupHelp(word: string, group: readonly Command[]): string {
  const width = Math.max(...group.map((c) => c.name.length));
  return [
    `usage: ovsvlan ${word} COMMAND [flags]`,
    '',
    'commands:',
    ...group.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `\`ovsvlan ${group[0]?.name ?? word} --help\` tells more.`,
  ].join('\n');
}

/** `ovsvlan CMD --help`: usage, purpose, every flag (settings too where they apply), an example. */
export function commandHelp(c: Command): string {
  const flagLines = Object.entries(c.flags).map(([name, f]) => [`--${name}${f.type === 'string' ? ' VALUE' : ''}`, f.help]);
  const lines = [`usage: ovsvlan ${c.name}${c.settings || flagLines.length > 0 ? ' [flags]' : ''}`, '', c.summary, '', c.description, ''];
  if (flagLines.length > 0) {
    lines.push('flags:', ...table(flagLines), '');
  }
  if (c.settings) {
    lines.push('settings (flag, or environment variable; flags win), with their defaults:',
      ...table(SETTINGS.flatMap((s) => [[`${s.flag} VALUE`, `${s.env}, default "${s.default}"`], ['', s.doc]])), '');
  }
  lines.push('  -h, --help  this text', '', 'example:', `  ${c.example}`);
  return lines.join('\n');
}

function table(rows: string[][]): string[] {
  const width = Math.max(...rows.map((r) => (r[0] ?? '').length));
  return rows.map(([a = '', b = '']) => `  ${a.padEnd(width)}  ${b}`);
}
