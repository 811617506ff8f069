// The embedded store: one JSON document, replaced atomically and durably
// (write a temp file, fsync it, rename over the old one, fsync the directory).
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { checkState, emptyState, migrate, type State } from './records.js';
import type { Store } from './store.js';

const FILE = 'state.json';

export class FileStore implements Store {
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
  }

  get path(): string {
    return join(this.#dir, FILE);
  }

  async load(): Promise<State> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw new StoreError(`cannot read ${this.path}`, err);
    }
    let doc: unknown;
    try {
      doc = migrate(JSON.parse(text));
    } catch (err) {
      throw new StoreError(`${this.path} is not valid JSON`, err);
    }
    const problem = checkState(doc);
    if (problem) throw new StoreError(`${this.path}: ${problem}`);
    return doc as State;
  }

  async save(state: State): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const f = await open(tmp, 'w', 0o600);
      try {
        await f.writeFile(`${JSON.stringify(state, null, 1)}\n`);
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.path);
      const d = await open(this.#dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StoreError(`cannot save ${this.path}`, err);
    }
  }
}
