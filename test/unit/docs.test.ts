// The README's settings and network option tables follow the code: a setting
// or an option added, renamed or given another default in the code fails here
// until the README says so too. And docs/testing.md names every test file.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { readmeProblems, TESTING_SECTIONS, testingProblems } from '../helpers/readme.js';
import { SETTINGS } from '../../src/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('the real README matches the code', async (t) => {
  t.same(readmeProblems(README), []);
});

t.test('the check fails when a setting is removed from the README', async (t) => {
  const without = README.split('\n').filter((l) => !l.startsWith('| `OVSVLAN_LEASE_GRACE`')).join('\n');
  t.not(without, README, 'the row was there');
  t.same(readmeProblems(without), ['setting OVSVLAN_LEASE_GRACE (--lease-grace) is not in the README\'s settings table']);
});

t.test('the check fails on another default, an unknown setting, a missing or unknown option', async (t) => {
  t.match(readmeProblems(README.replace('| `--bridge` | `ovs0` |', '| `--bridge` | `br0` |')),
    [/OVSVLAN_BRIDGE: the README gives the default `br0`, the code "ovs0"/]);
  t.match(readmeProblems(README.replace('| `OVSVLAN_LOG_LEVEL`', '| `OVSVLAN_NOPE` | `--nope` | `x` | x |\n| `OVSVLAN_LOG_LEVEL`')),
    [/documents OVSVLAN_NOPE, which the code does not have/]);
  t.match(readmeProblems(README.split('\n').filter((l) => !l.startsWith('| `native_vlan`')).join('\n')),
    [/network option native_vlan is not in the README/]);
});

t.test('the managed plugin\'s config.json declares every setting', async (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../../config.json', import.meta.url), 'utf8')) as { env: Array<{ name: string }> };
  const declared = new Set(manifest.env.map((e) => e.name));
  t.same(SETTINGS.map((s) => s.env).filter((env) => !declared.has(env)), [], 'every OVSVLAN_* setting has an env entry');
});

t.test('docs/testing.md names every test file in its folder\'s table', async (t) => {
  const testing = readFileSync(new URL('../../docs/testing.md', import.meta.url), 'utf8');
  const files = Object.keys(TESTING_SECTIONS).flatMap((dir) => readdirSync(new URL(`../${dir}/`, import.meta.url))
    .filter((f) => f.endsWith('.test.ts')).map((f) => `${dir}/${f}`));
  t.ok(files.includes('unit/docs.test.ts') && files.some((f) => f.startsWith('e2e/')), 'the test files were found');
  t.same(testingProblems(testing, files), []);

  // the check can fail (shown on the files it names, so that a file added meanwhile does not change the answer):
  // a row removed, a file it does not know, a row naming a file that is gone
  const problems = testingProblems(testing, files);
  const named = files.filter((f) => !problems.some((p) => p.startsWith(`test/${f} `)));
  const without = testing.split('\n').filter((l) => !l.startsWith('| `revive.test.ts`')).join('\n');
  t.not(without, testing, 'the row was there');
  t.same(testingProblems(without, named), ['test/unit/revive.test.ts is not in docs/testing.md\'s "The unit tests" table']);
  t.same(testingProblems(testing, [...named, 'e2e/new.test.ts']), ['test/e2e/new.test.ts is not in docs/testing.md\'s "The end-to-end tests" table']);
  t.same(testingProblems(testing, named.filter((f) => f !== 'e2e/vlan.test.ts')), ['docs/testing.md names test/e2e/vlan.test.ts, which does not exist']);
});
