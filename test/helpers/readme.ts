// The README against the code (pure): every setting with its variable, flag
// and default, and every network option, must be documented, and the tables
// must name nothing the code does not have; and the commands of a code block,
// for tests that run them as written.
import { SETTINGS } from '../../src/config.js';
import { DOCKER_MTU_OPTION, NETWORK_OPTIONS } from '../../src/driver/options.js';

/** Cells of the table rows whose first cell is a code span, e.g. "| `OVSVLAN_SOCKET` | `--socket` | … |". */
function rows(text: string): string[][] {
  return text.split('\n').filter((l) => /^\|\s*`/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

/** What the README gets wrong about the code; empty when it matches. */
export function readmeProblems(readme: string): string[] {
  const problems: string[] = [];
  const settingRows = new Map(rows(readme).filter((r) => /^`OVSVLAN_/.test(r[0] ?? '')).map((r) => [(r[0] ?? '').replace(/`/g, ''), r]));
  for (const s of SETTINGS) {
    const row = settingRows.get(s.env);
    if (!row) {
      problems.push(`setting ${s.env} (${s.flag}) is not in the README's settings table`);
      continue;
    }
    if (row[1] !== `\`${s.flag}\``) problems.push(`${s.env}: the README gives the flag ${row[1]}, the code ${s.flag}`);
    const documented = row[2] ?? '';
    const defaultOk = s.default === '' ? /^empty/.test(documented) : documented === `\`${s.default}\``;
    if (!defaultOk) problems.push(`${s.env}: the README gives the default ${documented}, the code "${s.default}"`);
  }
  for (const env of settingRows.keys()) {
    if (!SETTINGS.some((s) => s.env === env)) problems.push(`the README documents ${env}, which the code does not have`);
  }
  const optionSection = readme.slice(readme.indexOf('## Network options'), readme.indexOf('## Addresses'));
  const documented = new Set(rows(optionSection).flatMap((r) => [...(r[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '')));
  for (const o of NETWORK_OPTIONS) {
    if (!documented.has(o.name)) problems.push(`network option ${o.name} is not in the README's network option tables`);
  }
  const known = new Set([...NETWORK_OPTIONS.map((o) => o.name), DOCKER_MTU_OPTION]);
  for (const name of documented) {
    if (!known.has(name)) problems.push(`the README documents the network option ${name}, which the code does not have`);
  }
  return problems;
}

/**
 * The commands of the `index`-th fenced code block under the heading `heading`
 * (up to the next heading of that level or above), as a user would type them:
 * one per line, with a trailing `# comment` removed and blank lines left out.
 */
export function blockCommands(markdown: string, heading: string, index = 0): string[] {
  const blocks: string[][] = [];
  let level = 0; // of the heading while inside its section, else 0
  let fence: string[] | undefined;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      if (fence && level > 0) blocks.push(fence);
      fence = fence ? undefined : [];
      continue;
    }
    const h = fence ? null : /^(#+)\s+(.*)$/.exec(line);
    if (h) {
      const depth = h[1]?.length ?? 0;
      if (h[2] === heading) level = depth;
      else if (depth <= level) level = 0;
    } else if (fence && level > 0) {
      const command = line.replace(/\s+#\s.*$/, '').trim();
      if (command !== '') fence.push(command);
    }
  }
  const block = blocks[index];
  if (!block) throw new Error(`no code block ${index} under "${heading}"`);
  return block;
}

/** The section of docs/testing.md that names the test files of each folder. */
export const TESTING_SECTIONS: Readonly<Record<string, string>> = {
  unit: 'The unit tests',
  integration: 'The integration tests',
  e2e: 'The end-to-end tests',
};

/**
 * Test files (`folder/name.test.ts`) that docs/testing.md does not name in its
 * folder's table (a row starting with the file name as a code span), and rows
 * that name a file that does not exist; empty when it matches.
 */
export function testingProblems(testingMd: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  const named = new Map<string, Set<string>>();
  let folder: string | undefined;
  for (const line of testingMd.split('\n')) {
    const heading = /^##\s+(.*)$/.exec(line)?.[1];
    if (heading !== undefined) folder = Object.keys(TESTING_SECTIONS).find((f) => TESTING_SECTIONS[f] === heading);
    const file = /^\|\s*`([^`]+\.test\.ts)`/.exec(line)?.[1];
    if (folder && file) named.set(folder, (named.get(folder) ?? new Set()).add(file));
  }
  for (const path of files) {
    const [dir = '', name = ''] = path.split('/');
    const section = TESTING_SECTIONS[dir];
    if (section && !named.get(dir)?.has(name)) problems.push(`test/${path} is not in docs/testing.md's "${section}" table`);
  }
  for (const [dir, names] of named) {
    for (const name of names) if (!files.includes(`${dir}/${name}`)) problems.push(`docs/testing.md names test/${dir}/${name}, which does not exist`);
  }
  return problems;
}
