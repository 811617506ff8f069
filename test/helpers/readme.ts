// The README's tables against the code (pure): every setting with its
// variable, flag and default, and every network option, must be documented,
// and the tables must name nothing the code does not have.
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
