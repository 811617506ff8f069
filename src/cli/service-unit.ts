// The systemd unit and settings file of `ovsvlan install-service`, as text
// (pure). The unit is scripts/ovsvlan.service with two lines rendered for one
// installation: ExecStart (absolute node and dist/main.js, so that a git
// checkout, an `npm install -g` and a node outside systemd's PATH all work)
// and EnvironmentFile. The settings file lists every OVSVLAN_* setting of
// SETTINGS, commented out with its default and doc, so it cannot fall behind.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { SETTINGS } from '../config.js';

export const UNIT_NAME = 'ovsvlan.service';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_ENV_FILE = '/etc/default/ovsvlan';

/** The unit as shipped in the package. */
export function readUnitTemplate(): Promise<string> {
  return readFile(new URL(`../../scripts/${UNIT_NAME}`, import.meta.url), 'utf8');
}

export interface UnitPaths {
  /** Absolute path of the node binary that runs ovsvlan. */
  readonly node: string;
  /** Absolute path of dist/main.js. */
  readonly main: string;
  /** Settings file the unit reads (optional at start: "-"). */
  readonly envFile: string;
}

/** The unit for one installation: the template with its ExecStart and EnvironmentFile lines rendered. */
export function renderUnit(template: string, p: UnitPaths): string {
  for (const path of [p.node, p.main, p.envFile]) checkPath(path);
  const lines = {
    ExecStart: `${execArg(p.node)} ${execArg(p.main)} daemon`,
    EnvironmentFile: `-${p.envFile.replaceAll('%', '%%')}`,
  };
  let out = `# Written by \`ovsvlan install-service\` for this installation; run it again\n`
    + `# after moving node or ovsvlan (the template is scripts/${UNIT_NAME} in the package).\n${template}`;
  for (const [key, value] of Object.entries(lines)) {
    const re = new RegExp(`^${key}=.*$`, 'gm');
    const found = template.match(re)?.length ?? 0;
    if (found !== 1) throw new Error(`${UNIT_NAME} template: expected one ${key}= line, found ${found}`);
    out = out.replace(re, () => `${key}=${value}`);
  }
  return out;
}

/** The settings file: every setting commented out, with its doc and default. */
export function renderSettingsFile(envFile: string): string {
  const head = [
    `# ${envFile}: settings of ${UNIT_NAME}, read at each start.`,
    '# One VARIABLE=value per line; uncomment a line to change its default, then',
    '#   systemctl restart ovsvlan',
    '# (the data plane stays up). `ovsvlan daemon --help` describes the same settings.',
    '# Written by `ovsvlan install-service`, which never overwrites it.',
  ];
  const body = SETTINGS.flatMap((s) => ['', `# ${s.doc} (${s.flag})`, `#${s.env}=${s.default}`]);
  return `${[...head, ...body].join('\n')}\n`;
}

/** Settings of this version that an existing settings file does not mention (after an upgrade). */
export function unmentionedSettings(settingsText: string): string[] {
  return SETTINGS.map((s) => s.env).filter((env) => !new RegExp(`^\\s*#?\\s*${env}=`, 'm').test(settingsText));
}

/** Unit file lines hold these paths: absolute, and nothing that would end or split a line. `what` names it in the error. */
export function checkPath(path: string, what = ''): void {
  if (!path.startsWith('/') || /[\s"'\\]/.test(path)) {
    throw new ConfigError(`${what ? `${what} ` : ''}"${path}": must be an absolute path without spaces, quotes or backslashes`);
  }
}

/** One word of an Exec line: "%" is a specifier and "$" a variable to systemd. */
function execArg(path: string): string {
  return path.replaceAll('%', '%%').replaceAll('$', () => '$$');
}
