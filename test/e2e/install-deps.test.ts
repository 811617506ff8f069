// Issue 8, what to build 1: scripts/install-deps.sh installs only what is missing, judged by the
// programs on PATH, never replacing or shadowing an existing Docker or Open vSwitch. Each case runs
// its --dry-run (decides, prints, changes nothing) in a private mount namespace where some of this
// machine's programs are hidden (a non-executable file bind-mounted over them) and others are
// faked in a tmpfs on /usr/local/sbin, first on PATH. There apt-get, apt and dpkg (but its
// read-only -S, which the script asks) are stubs that refuse and say so: were --dry-run ever
// ignored, the case fails and the machine's packages stay as they are.
import { chmod, writeFile } from 'node:fs/promises';
import t from 'tap';
import { RUN_DIR, ensureRunDir, run, runOk, type RunResult } from '../helpers/run.js';

const SCRIPT = new URL('../../scripts/install-deps.sh', import.meta.url).pathname;
const OVS = ['ovs-vswitchd', 'ovsdb-server', 'ovsdb-tool', 'ovs-vsctl', 'ovs-appctl', 'ovs-ofctl'];
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What a stub of an installing tool writes before it exits 100. */
const REFUSED = 'install-deps test: refused, a dry run installs nothing:';
/** apt-get, apt and dpkg as the cases' hosts have them: dpkg -S (which package owns a file) is dpkg's own, the rest refused. */
const STUBS: Record<string, string> = {
  'apt-get': `echo "${REFUSED} apt-get $*" >&2; exit 100`,
  apt: `echo "${REFUSED} apt $*" >&2; exit 100`,
  dpkg: `case "$1" in -S|--search) exec /usr/bin/dpkg "$@";; esac; echo "${REFUSED} dpkg $*" >&2; exit 100`,
};

interface Host {
  /** Programs of this machine that the case's host does not have. */
  hide?: string[];
  /** Programs the case's host has in /usr/local/sbin (not from a Debian package): name → sh body. */
  fake?: Record<string, string>;
}

/**
 * `install-deps.sh --quickstart <args>` (--dry-run unless told) on a host made of this machine
 * minus `hide` plus `fake`, with the stubs above; throws when a stub was run.
 */
async function dryRun(host: Host, args: readonly string[] = ['--dry-run']): Promise<RunResult> {
  await ensureRunDir();
  const noexec = `${RUN_DIR}/install-deps-noexec`;
  await writeFile(noexec, '');
  await chmod(noexec, 0o644);
  const lines = ['set -e'];
  for (const name of host.hide ?? []) {
    const real = await runOk('bash', ['-c', `readlink -f "$(PATH=${PATH} command -v ${name})"`]);
    lines.push(`mount --bind ${noexec} ${real}`);
  }
  lines.push('mount -t tmpfs -o mode=0755 tmpfs /usr/local/sbin');
  for (const [name, body] of Object.entries({ ...STUBS, ...host.fake })) {
    lines.push(`cat >/usr/local/sbin/${name} <<'EOF'\n#!/bin/sh\n${body}\nEOF`, `chmod 755 /usr/local/sbin/${name}`);
  }
  lines.push(`exec bash ${SCRIPT} --quickstart ${args.join(' ')}`);
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', lines.join('\n')], { env: { PATH } });
  if (r.stderr.includes(REFUSED)) throw new Error(`install-deps tried to install in a dry run: ${r.stderr}`);
  return r;
}

t.test('install-deps --dry-run: this machine has everything the quick start needs', async (t) => {
  const r = await dryRun({});
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /dry run: nothing to install/);
});

t.test("install-deps: Debian's openvswitch-common alone (no ovs-vswitchd, no ovs-vsctl) is completed with openvswitch-switch", async (t) => {
  // openvswitch-common holds ovsdb-server, ovsdb-tool, ovs-appctl, ovs-ofctl: the same build as
  // openvswitch-switch, so adding the switch replaces nothing (it was refused as "another OVS")
  const r = await dryRun({ hide: ['ovs-vswitchd', 'ovs-vsctl'] });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /dry run: would install openvswitch-switch$/m);
});

t.test('install-deps: an Open vSwitch built from source is never completed with Debian packages', async (t) => {
  const r = await dryRun({ hide: OVS, fake: { 'ovs-vswitchd': 'exit 0', 'ovsdb-server': 'exit 0' } });
  t.equal(r.exitCode, 1, 'refused');
  t.match(r.stderr, /Open vSwitch found \(\/usr\/local\/sbin\/ovs-vswitchd, not Debian's\) but not: ovsdb-tool ovs-vsctl ovs-appctl ovs-ofctl/);
  t.match(r.stderr, /what to do: install those tools from the same Open vSwitch build/);
  t.notMatch(r.stdout, /would install/);
});

t.test('install-deps: a Docker not from Debian (its dockerd on PATH) is used, docker.io is never added', async (t) => {
  const ce = await dryRun({ hide: ['dockerd'], fake: { dockerd: 'exit 0' } });
  t.equal(ce.exitCode, 0, ce.stderr);
  t.match(ce.stdout, /dry run: nothing to install/);
  const none = await dryRun({ hide: ['dockerd'] });
  t.equal(none.exitCode, 0, none.stderr);
  t.match(none.stdout, /dry run: would install docker\.io$/m, 'without a dockerd, Debian\'s docker.io');
});

t.test('install-deps: Node.js older than package.json\'s engines (>= 20.3) is named, with what to do', async (t) => {
  const r = await dryRun({ fake: { node: 'case "$1" in --version) echo v20.2.0;; *) exit 1;; esac' } });
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /Node\.js >= 20\.3 needed, found v20\.2\.0 .*see https:\/\/nodejs\.org/);
});

t.test('install-deps: --record never takes the next flag for its file', async (t) => {
  const r = await dryRun({}, ['--record', '--dry-run']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /--record needs a file/);
});

t.test('install-deps and the quick start run with sh (dash) say to use bash, exit 2', async (t) => {
  for (const [script, name] of [[SCRIPT, 'install-deps'], [SCRIPT.replace('install-deps.sh', 'quickstart.sh'), 'quickstart']] as const) {
    const r = await run('sh', [script, '--help'], { env: { PATH } });
    t.equal(r.exitCode, 2, `sh ${name}`);
    t.match(r.stderr, new RegExp(`^${name}: run it with bash: bash `));
  }
});
