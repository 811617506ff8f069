// Giving back a lease no renewal client holds any more (dhcp_release=remove,
// the container removed): udhcpc sends DHCPRELEASE from the leased address,
// so it runs on the caller's interface in a throwaway netns where that
// address is put first; it asks for the lease again, stays bound (BusyBox
// 1.35's -q -R quits without releasing), is told to release (SIGUSR2), and
// quits once its hook reports the deconfig that follows the release.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { firstLeaseArgv } from './argv.js';
import { reportFiles } from './files.js';
import { plainAddress, readLeaseFile } from './lease.js';
import { addAddressIn, refuseOwnNetns } from './netns.js';
import type { ReleaseRequest } from './types.js';

export interface GiveBackDeps {
  /** where the hook's report files go (<state>/dhcp) */
  dir: string;
  hookScript: string;
  /** the hook's environment for a report-only client writing `leaseFile`, touching `deconfigFile` */
  env(leaseFile: string, deconfigFile: string): Record<string, string>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every 50 ms until it holds, `stop` holds, or `deadline` passes; true when `done` held. */
async function until(done: () => boolean, stop: () => boolean, deadline: number): Promise<boolean> {
  while (!done()) {
    if (stop() || Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * DhcpClient.releaseLease: true once the server was sent the release (the
 * lease came and the hook saw the deconfig after SIGUSR2); false when no
 * lease came within the bound. No process or file is left.
 */
export async function giveBack(deps: GiveBackDeps, req: ReleaseRequest): Promise<boolean> {
  refuseOwnNetns(req.netns);
  await addAddressIn(req.netns, req.ifname, req.address);
  await mkdir(deps.dir, { recursive: true, mode: 0o700 });
  const { lease: leaseFile, deconfig: deconfigFile } = reportFiles(deps.dir, 'release');
  const argv = firstLeaseArgv({
    ifname: req.ifname, identity: req.identity, requested: plainAddress(req.address), timeoutS: req.timeoutS,
    hook: deps.hookScript, netns: req.netns, untilReleased: true,
  });
  const deadline = Date.now() + req.timeoutS * 1000;
  const child = execa('busybox', argv, {
    env: deps.env(leaseFile, deconfigFile),
    timeout: req.timeoutS * 1000 + 2_000,
    forceKillAfterDelay: 1_000,
    reject: false,
    stdin: 'ignore',
  });
  let exited = false;
  void child.finally(() => {
    exited = true;
  });
  try {
    if (!(await until(() => readLeaseFile(leaseFile) !== undefined, () => exited, deadline))) return false;
    await rm(deconfigFile, { force: true });
    child.kill('SIGUSR2');
    return await until(() => existsSync(deconfigFile), () => exited, Date.now() + 5_000);
  } finally {
    if (!exited) child.kill('SIGTERM');
    await child;
    await rm(leaseFile, { force: true });
    await rm(deconfigFile, { force: true });
  }
}
