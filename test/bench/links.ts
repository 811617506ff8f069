// Links of the simulated host's netns in bulk, for filling bridges and cleaning up (not timed).
import { rm, writeFile } from 'node:fs/promises';
import { RUN_DIR, runOk } from '../helpers/run.js';

/** Runs `commands` (lines of `ip` syntax, e.g. `link add …`) in netns `ns` as one `ip -batch`, 500 a time. */
export async function ipBatch(ns: string, commands: readonly string[], force = false): Promise<void> {
  const file = `${RUN_DIR}/bench-ip.batch`;
  try {
    for (let i = 0; i < commands.length; i += 500) {
      await writeFile(file, `${commands.slice(i, i + 500).join('\n')}\n`);
      await runOk('ip', ['-n', ns, ...(force ? ['-force'] : []), '-batch', file]);
    }
  } finally {
    await rm(file, { force: true });
  }
}

/** Names of the veths in netns `ns`. */
export async function vethNames(ns: string): Promise<Set<string>> {
  const links = JSON.parse(await runOk('ip', ['-n', ns, '-j', 'link', 'show', 'type', 'veth'])) as Array<{ ifname: string }>;
  return new Set(links.map((l) => l.ifname));
}

/** Deletes the veths of netns `ns` not in `keep` (those a phase made and did not remove). */
export async function deleteVethsExcept(ns: string, keep: ReadonlySet<string>): Promise<void> {
  const extra = [...(await vethNames(ns))].filter((n) => !keep.has(n));
  await ipBatch(ns, extra.map((n) => `link del dev ${n}`), true);
}
