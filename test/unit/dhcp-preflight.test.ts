// What a DHCP network needs of the daemon (src/dhcp/preflight.ts), from a
// /proc/<pid>/status text and a PATH: each missing capability named with its
// use, the service install named as the way out, each missing program named
// with the package that has it; nothing when all are there.
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dhcpProblems, effectiveCaps } from '../../src/dhcp/preflight.js';

/** A status text with effective set `capEff` (hex), as the kernel writes it. */
const status = (capEff: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\nCapBnd:\t${capEff}\n`;
const ROOT = '000001ffffffffff';
/** root's set without CAP_SYS_ADMIN (bit 21) */
const NO_SYS_ADMIN = (0x1ffffffffffn & ~(1n << 21n)).toString(16).padStart(16, '0');
/** Docker's default plugin set plus CAP_NET_ADMIN: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_ADMIN NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP */
const MANAGED = '00000000a80435fb';

t.test('effective capabilities read from the status text', async (t) => {
  t.equal(effectiveCaps(status(ROOT)), 0x1ffffffffffn);
  t.equal(effectiveCaps('Name:\tx\n'), undefined, 'no CapEff line');
});

t.test('problems: capabilities and programs, each with its fix', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dhcp-preflight-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of ['busybox', 'nsenter']) {
    await writeFile(join(dir, name), '#!/bin/sh\n');
    await chmod(join(dir, name), 0o755);
  }
  t.same(dhcpProblems({ status: status(ROOT), path: `/nonexistent:${dir}` }), [], 'root with both programs: nothing');

  const managed = dhcpProblems({ status: status(MANAGED), path: dir });
  t.equal(managed.length, 2, 'the managed plugin\'s set: one capability missing, and the way out');
  t.match(managed[0], /no CAP_SYS_ADMIN, which entering a container's network namespace \(setns\)/);
  t.match(managed[1], /run ovsvlan as a service for DHCP networks/);
  t.match(dhcpProblems({ status: status(NO_SYS_ADMIN), path: dir }), [/CAP_SYS_ADMIN/, /service/]);
  t.match(dhcpProblems({ status: status('0000000000000000'), path: dir }), [/CAP_NET_ADMIN/, /CAP_NET_RAW/, /CAP_SYS_ADMIN/, /service/]);

  await chmod(join(dir, 'nsenter'), 0o644);
  t.same(dhcpProblems({ status: status(ROOT), path: dir }),
    ['nsenter is not on the daemon\'s PATH (it runs the renewal client in the container\'s network namespace): apt-get install util-linux'],
    'a file that is not executable is no program');
  t.match(dhcpProblems({ status: status(ROOT), path: '' }), [/^busybox is not on the daemon's PATH .*busybox-static$/, /^nsenter/]);
});
