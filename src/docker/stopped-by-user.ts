// Whether the user stopped a container (`docker stop`, `docker kill`). Docker
// keeps this as HasBeenManuallyStopped in the container's config.v2.json under
// its root directory (DockerRootDir of `docker info`): set by a stop or kill
// while dockerd runs, not by dockerd stopping its containers at its own
// shutdown, cleared by the next successful start. It is what `unless-stopped`
// is decided by, but `docker inspect` does not show it, so it is read here
// from the file, read-only. The revive (reconcile/revive.ts) leaves such a
// container down whatever its restart policy.
//
// Anything unreadable (a remote dockerd, a root directory in another mount
// namespace, a format that changed) gives undefined: not known.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A full container ID, so that it cannot walk out of the containers directory. */
const FULL_ID = /^[0-9a-f]{64}$/;

/** HasBeenManuallyStopped of container `id` under Docker's root directory `rootDir`; undefined when not known. */
export async function stoppedByUser(rootDir: string, id: string): Promise<boolean | undefined> {
  if (!rootDir.startsWith('/') || !FULL_ID.test(id)) return undefined;
  try {
    const config = JSON.parse(await readFile(join(rootDir, 'containers', id, 'config.v2.json'), 'utf8')) as unknown;
    const flag = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)['HasBeenManuallyStopped'] : undefined;
    return typeof flag === 'boolean' ? flag : undefined;
  } catch {
    return undefined;
  }
}
