// ovsvlan as a managed (v2) plugin on a simulated host: the plugin dir built offline by
// plugin/build.sh, then `docker plugin create` / `set` / `enable` on the host's private dockerd.
import { existsSync } from 'node:fs';
import { readFile, rm, symlink } from 'node:fs/promises';
import type { Host } from './host.js';
import { OVSVLAN_MAIN, REPO_ROOT, socketAnswers } from './plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, run, runOk } from './run.js';

/** Name given to `docker plugin create`; Docker stores it as `ovsvlan:latest`. */
export const PLUGIN = 'ovsvlan';
/** What `-d` and `--ipam-driver` must say: a managed plugin's drivers register under name:tag. */
export const DRIVER = 'ovsvlan:latest';

export interface PluginDir {
  dir: string;
  /** How long plugin/build.sh took (0 when a prebuilt dir was given). */
  buildMs: number;
  /** Size of rootfs/ (du), e.g. "139M". */
  size: string;
  /** Whether this build answers IpamDriver calls (the IPAM driver is in dist/). */
  hasIpam: boolean;
}

let built: Promise<PluginDir> | undefined;

/**
 * The plugin dir the tests use: OVSVLAN_TEST_PLUGIN_DIR when set (e.g. plugin/ after
 * `npm run plugin:build`), otherwise a fresh `plugin/build.sh` of the current dist/ into
 * /var/lib/<prefix>-docker-pluginbuild (scripts/cleanup-tests.sh removes it after a crash),
 * so a test never runs a stale rootfs and parallel runs do not share one. Built once per process.
 */
export function pluginDir(t?: { teardown(fn: () => unknown): void }): Promise<PluginDir> {
  built ??= (async () => {
    await ensureRunDir(); // owner.pid first: scripts/cleanup-tests.sh then leaves the build dir of this live run alone
    const given = process.env.OVSVLAN_TEST_PLUGIN_DIR;
    const dir = given ?? `/var/lib/${RUN_PREFIX}-docker-pluginbuild`;
    let buildMs = 0;
    if (!given) {
      if (!existsSync(OVSVLAN_MAIN)) throw new Error(`${OVSVLAN_MAIN} does not exist: run npm run build first`);
      t?.teardown(() => rm(dir, { recursive: true, force: true }));
      const t0 = Date.now();
      await runOk('bash', [`${REPO_ROOT}plugin/build.sh`, dir], { env: { OVSVLAN_PLUGIN_NO_TSC: '1' }, timeout: 300_000 });
      buildMs = Date.now() - t0;
    }
    if (!existsSync(`${dir}/config.json`) || !existsSync(`${dir}/rootfs/app/dist/main.js`)) {
      throw new Error(`${dir} is not a built plugin dir (config.json + rootfs/)`);
    }
    const size = (await runOk('du', ['-sh', `${dir}/rootfs`])).split(/\s/)[0] ?? '?';
    const routes = await readFile(`${dir}/rootfs/app/dist/protocol/routes.js`, 'utf8');
    return { dir, buildMs, size, hasIpam: routes.includes('/IpamDriver.RequestPool') };
  })();
  return built;
}

export interface Timed {
  ms: number;
}

/** Runs `docker ARGS` on the host, throws on failure, and says how long it took. */
export async function timedDocker(host: Host, args: readonly string[]): Promise<Timed> {
  const t0 = Date.now();
  await host.dockerOk(args, { timeout: 180_000 });
  return { ms: Date.now() - t0 };
}

/** `docker plugin set ovsvlan K=V …` (the plugin must be disabled). */
export async function setPlugin(host: Host, settings: Record<string, string>): Promise<void> {
  await host.dockerOk(['plugin', 'set', PLUGIN, ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

/** `{{.Enabled}}` of the plugin, or undefined when Docker does not know it. */
export async function pluginEnabled(host: Host): Promise<boolean | undefined> {
  const r = await host.docker(['plugin', 'inspect', '-f', '{{.Enabled}}', PLUGIN]);
  return r.exitCode === 0 ? r.stdout === 'true' : undefined;
}

/** One value of the plugin's env settings, as `docker plugin inspect` shows them. */
export async function pluginEnv(host: Host, name: string): Promise<string | undefined> {
  const env = JSON.parse(await host.dockerOk(['plugin', 'inspect', '-f', '{{json .Settings.Env}}', PLUGIN])) as string[];
  const hit = env.find((e) => e.startsWith(`${name}=`));
  return hit?.slice(name.length + 1);
}

/**
 * Whether the plugin's socket accepts connections. Seen from the host it is
 * `<pluginDir>/<64-hex plugin id>/ovsvlan.sock`, longer than the 108 bytes a Unix socket path may
 * have, so it is dialled through a short symlink to its directory.
 */
export async function pluginSocketAnswers(host: Host): Promise<boolean> {
  const id = await host.dockerOk(['plugin', 'inspect', '-f', '{{.Id}}', PLUGIN]);
  const link = `${RUN_DIR}/sock-${host.name}`;
  await rm(link, { force: true });
  await symlink(`${host.dockerd.pluginDir}/${id}`, link);
  try {
    return await socketAnswers(`${link}/ovsvlan.sock`);
  } finally {
    await rm(link, { force: true });
  }
}

/** PIDs of processes whose command line runs the plugin's entrypoint inside this host's dockerd. */
export async function pluginPids(host: Host): Promise<number[]> {
  const r = await run('pgrep', ['-f', '^node /app/dist/main.js daemon']);
  const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  const mine: number[] = [];
  for (const pid of pids) {
    // only ours: its network namespace is the host's
    const ns = await run('ip', ['netns', 'identify', String(pid)]);
    if (ns.stdout.split(/\s+/).includes(host.ns.name)) mine.push(pid);
  }
  return mine;
}

/**
 * The plugin dir made through the Dockerfile (plugin/build-docker.sh) with the host's dockerd:
 * the offline base ovsvlan-base:local, `docker build`, `docker export`. Into
 * /var/lib/<prefix>-docker-pluginbuild-df, removed at teardown.
 */
export async function pluginDirFromDockerfile(host: Host, t: { teardown(fn: () => unknown): void }): Promise<PluginDir> {
  const dir = `/var/lib/${RUN_PREFIX}-docker-pluginbuild-df`;
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  await runOk('bash', [`${REPO_ROOT}plugin/build-docker.sh`, dir], {
    env: { DOCKER_HOST: `unix://${host.dockerd.sock}`, DOCKER_CONFIG: `${RUN_DIR}/docker-cli-build-${host.name}` },
    timeout: 600_000,
  });
  const buildMs = Date.now() - t0;
  const size = (await runOk('du', ['-sh', `${dir}/rootfs`])).split(/\s/)[0] ?? '?';
  const routes = await readFile(`${dir}/rootfs/app/dist/protocol/routes.js`, 'utf8');
  return { dir, buildMs, size, hasIpam: routes.includes('/IpamDriver.RequestPool') };
}
