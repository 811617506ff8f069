// `ovsvlan version`: the version of the package this file was built from.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function runVersion(): number {
  process.stdout.write(`ovsvlan ${packageVersion()}\n`);
  return 0;
}
