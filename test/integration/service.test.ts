// ovsvlan as a service: systemd accepts the unit `ovsvlan install-service`
// renders; install-service writes the unit and a settings file it never
// overwrites, and says what to run where systemd is not running; a tarball
// from `npm pack`, installed with `npm install -g`, gives a working `ovsvlan`;
// and the README's "Production install" commands work as written in a fresh
// copy of the repository. Nothing is written outside this run's directory (the
// README's /etc paths are tmpfs in a private mount namespace): no systemctl,
// no global npm prefix.
import t from 'tap';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config.js';
import { OVSVLAN_MAIN, REPO_ROOT, socketAnswers } from '../helpers/plugin.js';
import { blockCommands } from '../helpers/readme.js';
import { ensureRunDir, run, runOk, stopPid, waitFor } from '../helpers/run.js';

const cli = (args: readonly string[]) => run(process.execPath, [OVSVLAN_MAIN, ...args], { cwd: REPO_ROOT });

/** A fresh directory under this run's directory, removed when `t` ends. */
async function scratch(t: { teardown(fn: () => unknown): void }, name: string): Promise<string> {
  const dir = join(await ensureRunDir(), name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `systemd-analyze verify` of one unit file: its complaints, empty when it has none (it exits 0 on some). */
async function verify(unitPath: string): Promise<string> {
  const r = await run('systemd-analyze', ['verify', unitPath]);
  return [r.stdout, r.stderr, r.exitCode === 0 ? '' : `exit status ${r.exitCode}`].filter(Boolean).join('\n');
}

const hasAnalyze = (await run('sh', ['-c', 'command -v systemd-analyze'])).exitCode === 0;

t.test('systemd-analyze verify accepts the unit install-service renders', { skip: hasAnalyze || process.env.CI ? false : 'systemd-analyze is not installed (Debian package systemd; scripts/install-deps.sh installs it)' }, async (t) => {
  const dir = await scratch(t, 'verify');
  const printed = await cli(['install-service', '--print']);
  t.equal(printed.exitCode, 0, printed.stderr);
  t.match(printed.stdout, new RegExp(`^ExecStart=${process.execPath} ${OVSVLAN_MAIN} daemon$`, 'm'));
  await writeFile(join(dir, 'ovsvlan.service'), `${printed.stdout}\n`);
  t.equal(await verify(join(dir, 'ovsvlan.service')), '', 'no complaint');

  // the check can fail: a mistyped key and a bad value are reported, though verify exits 0
  const broken = printed.stdout.replace(/^KillMode=.*$/m, 'KilMode=mixed').replace(/^Restart=.*$/m, 'Restart=sometimes');
  await mkdir(join(dir, 'broken'));
  await writeFile(join(dir, 'broken', 'ovsvlan.service'), broken);
  const complaints = await verify(join(dir, 'broken', 'ovsvlan.service'));
  t.match(complaints, /Unknown key 'KilMode'/);
  t.match(complaints, /restart specifier.*sometimes/);
});

t.test('install-service writes the unit and a settings file, never overwrites the settings, says what to run',
  { skip: existsSync('/run/systemd/system') ? 'systemd runs this host: install-service would run systemctl on it' : false }, async (t) => {
    const dir = await scratch(t, 'install');
    const unitDir = join(dir, 'units');
    const settings = join(dir, 'default', 'ovsvlan');
    const flags = ['--unit-dir', unitDir, `--settings-file=${settings}`];

    const first = await cli(['install-service', ...flags]);
    t.equal(first.exitCode, 0, first.stderr);
    t.match(first.stdout, `wrote ${unitDir}/ovsvlan.service`);
    t.match(first.stdout, `wrote ${settings}`);
    t.match(first.stdout, /systemd is not running on this host.*nothing enabled or started/);
    t.match(first.stdout, /^ {2}systemctl daemon-reload\n {2}systemctl enable --now ovsvlan\.service$/m);
    t.same(await readdir(unitDir), ['ovsvlan.service'], 'no temporary file left');
    const unit = await readFile(join(unitDir, 'ovsvlan.service'), 'utf8');
    t.equal(unit, (await cli(['install-service', '--print', '--settings-file', settings])).stdout + '\n', 'the unit --print shows');
    t.match(unit, `\nEnvironmentFile=-${settings}\n`);
    const written = await readFile(settings, 'utf8');
    for (const s of SETTINGS) t.match(written, `\n#${s.env}=${s.default}\n`, s.env);
    if (hasAnalyze) t.equal(await verify(join(unitDir, 'ovsvlan.service')), '', 'systemd-analyze verify accepts the written unit');

    const mine = 'OVSVLAN_BRIDGE=br-prod\nOVSVLAN_LOG_LEVEL=debug\n';
    await writeFile(settings, mine);
    const again = await cli(['install-service', ...flags, '--no-start']);
    t.equal(again.exitCode, 0, again.stderr);
    t.equal(await readFile(settings, 'utf8'), mine, 'the operator\'s settings are kept');
    t.match(again.stdout, `kept ${settings} as it is`);
    t.match(again.stdout, /settings it does not mention, at their defaults: OVSVLAN_SOCKET, /);
    t.match(again.stdout, `unchanged: ${unitDir}/ovsvlan.service`);
    t.match(again.stdout, /^ {2}systemctl enable ovsvlan\.service$/m);

    const bad = await cli(['install-service', '--unit-dir', 'relative/dir']);
    t.equal(bad.exitCode, 2);
    t.match(bad.stderr, /--unit-dir "relative\/dir": must be an absolute path/);
  });

t.test('a bad --unit-dir or --settings-file is refused naming the flag, before anything is written', async (t) => {
  for (const [flags, message] of [
    [['--unit-dir', 'relative/dir'], '--unit-dir "relative/dir": must be an absolute path'],
    [['--settings-file', 'default/ovsvlan', '--print'], '--settings-file "default/ovsvlan": must be an absolute path'],
    [['--settings-file=/etc/my settings'], '--settings-file "/etc/my settings": must be an absolute path without spaces'],
  ] as const) {
    const r = await cli(['install-service', ...flags]);
    t.equal(r.exitCode, 2, flags.join(' '));
    t.match(r.stderr, `ovsvlan install-service: ${message}`);
    t.equal(r.stdout, '', 'nothing written or printed');
  }
});

t.test('npm pack, then npm install -g of the tarball, gives a working ovsvlan', async (t) => {
  const dir = await scratch(t, 'npm');
  // npm's own variables (when the suite runs under `npm test`) must not steer these two commands
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const npm = (args: readonly string[]) => runOk('npm', [...args, '--no-audit', '--no-fund'], { cwd: REPO_ROOT, env, extendEnv: false, timeout: 600_000 });
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', dir])) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0]?.files.map((f) => f.path) ?? [];
  t.ok(files.includes('dist/main.js') && files.includes('scripts/ovsvlan.service') && files.includes('LICENSE'), 'the tarball holds the build, the unit and LICENSE');
  t.notOk(files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.map')), 'and no sources, tests or source maps');

  const prefix = join(dir, 'prefix');
  await npm(['install', '-g', '--prefer-offline', '--prefix', prefix, join(dir, packed[0]?.filename ?? '')]);
  const ovsvlan = join(prefix, 'bin', 'ovsvlan');
  t.equal(await runOk(ovsvlan, ['version']), `ovsvlan ${JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version}`);
  t.match(await runOk(ovsvlan, ['--help']), /^usage: ovsvlan COMMAND/);
  t.match(await runOk(ovsvlan, ['install-service', '--help']), /--settings-file VALUE/);
  t.match(await runOk(ovsvlan, ['install-service', '--print']),
    new RegExp(`^ExecStart=${process.execPath} ${prefix}/lib/node_modules/ovsvlan/dist/main\\.js daemon$`, 'm'), 'the unit runs the installed copy');
});

/**
 * A user's environment: none of npm's variables, and no node_modules/.bin on PATH (both are there when
 * the suite runs under `npm test` or `npx tap`; a `tsc` found there would hide a missing dev dependency).
 */
function userEnv(extra: Record<string, string>): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))) as Record<string, string>;
  const path = (env['PATH'] ?? '').split(':').filter((d) => d !== '' && !d.includes('node_modules')).join(':');
  return { ...env, PATH: path, ...extra };
}

/**
 * Copies the work tree's files that git tracks or would track (not ignored: no node_modules or dist)
 * to `dest`: what a fresh clone of this work tree, committed, would hold.
 */
async function freshCopy(dest: string): Promise<void> {
  const files = (await runOk('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT })).split('\0').filter((f) => f && existsSync(join(REPO_ROOT, f)));
  const list = join(dest, '..', 'files');
  await writeFile(list, `${files.join('\0')}\0`);
  await runOk('sh', ['-c', 'tar -C "$1" --null -T "$2" -cf - | tar -C "$3" -xf -', 'sh', REPO_ROOT, list, dest]);
}

const systemDirs = ['/etc/systemd/system', '/etc/default'];
t.test('the README\'s Production install commands work as written in a fresh clone',
  { skip: systemDirs.every((d) => existsSync(d)) ? false : `needs ${systemDirs.join(' and ')} to mount over` }, async (t) => {
    const dir = await scratch(t, 'readme-install');
    const clone = join(dir, 'ovsvlan');
    await mkdir(clone);
    await freshCopy(clone);
    t.notOk(existsSync(join(clone, 'node_modules')), 'the copy has no node_modules, as a fresh clone');
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const install = blockCommands(readme, 'Production install', 0);
    t.ok(install.some((c) => c.includes('npm pack')) && install.some((c) => c.startsWith('ovsvlan install-service')), install.join('; '));

    // as root in the clone, but with npm's global prefix here and the /etc directories install-service writes
    // bound to directories here, in a private mount namespace (where systemd's marker /run/systemd/system is
    // hidden too, so no systemctl runs)
    const prefix = join(dir, 'global');
    const etc = systemDirs.map((d) => [join(dir, 'etc', d.replaceAll('/', '_')), d] as const);
    for (const [here] of etc) await mkdir(here, { recursive: true });
    const inPrivateRoot = (commands: readonly string[]): string[] => ['unshare', '-m', '--propagation', 'private', 'bash', '-c',
      ['set -e', ...etc.map(([here, there]) => `mount --bind ${here} ${there}`),
        'if [ -d /run/systemd ]; then mount -t tmpfs ovsvlan-test /run/systemd; fi', ...commands].join('\n')];
    const script = inPrivateRoot([...install, 'echo "--- unit"', 'cat /etc/systemd/system/ovsvlan.service', 'echo "--- settings"', 'cat /etc/default/ovsvlan']);
    const env = userEnv({ npm_config_prefix: prefix, npm_config_prefer_offline: 'true', npm_config_audit: 'false',
      npm_config_fund: 'false' });
    env['PATH'] = `${prefix}/bin:${env['PATH'] ?? ''}`;
    const [cmd = 'unshare', ...args] = script;
    const r = await run(cmd, args, { cwd: clone, env, extendEnv: false, timeout: 900_000 });
    t.equal(r.exitCode, 0, r.exitCode === 0 ? 'the commands succeed as written' : `the commands fail: ${r.stderr.slice(-1500)}`);
    t.match(r.stdout, 'wrote /etc/systemd/system/ovsvlan.service');
    t.match(r.stdout, 'wrote /etc/default/ovsvlan');
    const unit = r.stdout.slice(r.stdout.indexOf('--- unit'));
    t.match(unit, new RegExp(`^ExecStart=${process.execPath} ${prefix}/lib/node_modules/ovsvlan/dist/main\\.js daemon$`, 'm'),
      'the unit runs the copy npm installed');
    t.match(unit, /^EnvironmentFile=-\/etc\/default\/ovsvlan$/m);

    await t.test('the SIGHUP command of docs/operations.md finds a daemon started as `ovsvlan daemon` and as `node …/main.js daemon`', async (t) => {
      const ops = await readFile(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
      const pattern = /`pgrep -a -f '([^']+)'`/.exec(ops)?.[1];
      t.ok(pattern, 'docs/operations.md gives the pgrep command');
      t.match(ops, `kill -HUP "$(pgrep -f -o '${pattern}')"`, 'the kill uses the same pattern');
      const starts: Array<[string, string[]]> = [[join(prefix, 'bin', 'ovsvlan'), ['daemon']], [process.execPath, [OVSVLAN_MAIN, 'daemon']]];
      for (const [i, [cmd, args]] of starts.entries()) {
        const sock = join(dir, `d${i}.sock`);
        const daemon = execa(cmd, args, { reject: false, stdio: 'ignore', env: { ...process.env, OVSVLAN_SOCKET: sock,
          OVSVLAN_STATE_DIR: join(dir, `state${i}`), OVSVLAN_OVSDB: `unix:${dir}/no-ovsdb.sock`, OVSVLAN_DOCKER: '', OVSVLAN_LOG_LEVEL: 'fatal' } });
        t.teardown(() => stopPid(daemon.pid));
        await waitFor(`${cmd} ${args.join(' ')} listening`, async () => socketAnswers(sock), 30_000);
        const listed = await run('pgrep', ['-a', '-f', pattern ?? '']);
        t.match(listed.stdout, new RegExp(`^${daemon.pid} `, 'm'), `${cmd} ${args.join(' ')}: pgrep lists its PID`);
        await stopPid(daemon.pid);
      }
    });

    await t.test('the README\'s Uninstall commands, as written (systemctl recorded, not run)', async (t) => {
      const uninstall = blockCommands(readme, 'Production install', 2);
      t.ok(uninstall.some((c) => c.startsWith('npm uninstall -g')), uninstall.join('; '));
      const fakeBin = join(dir, 'fake-bin');
      await mkdir(fakeBin);
      await writeFile(join(fakeBin, 'systemctl'), `#!/bin/sh\necho "$*" >> ${fakeBin}/calls\n`, { mode: 0o755 });
      const [cmd = 'unshare', ...args] = inPrivateRoot([...uninstall, 'ls -A /etc/systemd/system /etc/default']);
      const u = await run(cmd, args, { cwd: clone, env: { ...env, PATH: `${fakeBin}:${env['PATH'] ?? ''}` }, extendEnv: false, timeout: 300_000 });
      t.equal(u.exitCode, 0, u.exitCode === 0 ? 'the commands succeed as written' : `the commands fail: ${u.stderr.slice(-1500)}`);
      t.equal(u.stdout.includes('ovsvlan'), false, 'the unit and the settings file are gone');
      t.same((await readFile(join(fakeBin, 'calls'), 'utf8')).trim().split('\n'), ['disable --now ovsvlan', 'daemon-reload']);
      t.notOk(existsSync(join(prefix, 'bin', 'ovsvlan')), 'npm removed the ovsvlan command');
      t.notOk(existsSync(join(prefix, 'lib', 'node_modules', 'ovsvlan')), 'and the package');
    });
  });
