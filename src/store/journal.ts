// Reading what the daemon saved: the snapshot `state.json` and the journal
// `state.journal` after it, one line per batch of changes:
//
//   <16 hex digits: SHA-256 of the JSON, cut short> <JSON {"seq":N,"changes":[…]}>\n
//
// Lines carry consecutive sequence numbers; the snapshot says which one it
// holds last, and lines up to it are skipped (a compaction writes the snapshot
// before it shortens the journal). A crash in the middle of an append leaves a
// last line that is cut short or fails its checksum: it was never answered
// for, so it is ignored (and cut off by the daemon before it appends). A bad
// line followed by a whole one, or a gap in the numbers, is damage: the state
// cannot be trusted, and loading fails.
//
// Read by the daemon at start (file-store.ts), and read only by `ovsvlan
// status`, `doctor` and the tests (readSavedState), while the daemon runs:
// the journal is read before the snapshot, so a compaction in between yields
// an older snapshot than the journal never (see FileStore.compact).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { causeText, StoreError } from '../errors.js';
import { applyChanges, type Change } from './changes.js';
import { checkState, emptyState, migrate, type State } from './records.js';

export const SNAPSHOT_FILE = 'state.json';
export const JOURNAL_FILE = 'state.journal';
const NEWLINE = 0x0a;

/** What was saved, and how the journal file ends. */
export interface Saved {
  state: State;
  /** The version of state.json as read (before migration); undefined when there is none. */
  snapshotVersion: number | undefined;
  /** Bytes of state.json. */
  snapshotBytes: number;
  /** Whether state.journal exists. */
  journalExists: boolean;
  /** Bytes of state.journal that are whole lines; what follows (a torn last line) is to be cut off. */
  journalBytes: number;
  /** Bytes of state.journal in all. */
  journalSize: number;
}

/** One journal line for the batch `seq`. */
export function encodeLine(seq: number, changes: readonly Change[]): string {
  const json = JSON.stringify({ seq, changes });
  return `${checksum(json)} ${json}\n`;
}

/**
 * The records as the daemon last saved them (snapshot plus journal), an empty
 * state when nothing was saved yet. Writes nothing. For `ovsvlan status`,
 * `doctor` and the tests.
 */
export async function readSavedState(dir: string): Promise<State> {
  return (await readSaved(dir)).state;
}

/** Reads the journal, then the snapshot, and replays the journal's lines after it. Throws StoreError when either cannot be trusted. */
export async function readSaved(dir: string): Promise<Saved> {
  const journalPath = join(dir, JOURNAL_FILE);
  const journal = await readOrUndefined(journalPath);
  const snapshotPath = join(dir, SNAPSHOT_FILE);
  const snapshot = await readOrUndefined(snapshotPath);
  let state = emptyState();
  let snapshotVersion: number | undefined;
  if (snapshot) {
    let doc: unknown;
    try {
      doc = JSON.parse(snapshot.toString('utf8'));
    } catch (err) {
      throw new StoreError(`${snapshotPath} is not valid JSON`, err);
    }
    snapshotVersion = (doc as { version?: unknown } | null)?.version as number | undefined;
    doc = migrate(doc);
    const problem = checkState(doc);
    if (problem) throw new StoreError(`${snapshotPath}: ${problem}`);
    state = doc as State;
  }
  const { batches, wholeBytes } = journal ? parseJournal(journal, state.seq, journalPath) : { batches: [], wholeBytes: 0 };
  for (const b of batches) {
    applyChanges(state, b.changes);
    state.seq = b.seq;
  }
  const problem = checkState(state);
  if (problem) throw new StoreError(`${journalPath} (replayed onto ${SNAPSHOT_FILE}): ${problem}`);
  return {
    state, snapshotVersion, snapshotBytes: snapshot?.length ?? 0,
    journalExists: journal !== undefined, journalBytes: wholeBytes, journalSize: journal?.length ?? 0,
  };
}

/** The batches after `afterSeq`, and where the whole lines end. */
function parseJournal(buf: Buffer, afterSeq: number, path: string): { batches: Array<{ seq: number; changes: Change[] }>; wholeBytes: number } {
  const batches: Array<{ seq: number; changes: Change[] }> = [];
  let offset = 0;
  let previous: number | undefined;
  for (let line = 1; ; line++) {
    const end = buf.indexOf(NEWLINE, offset);
    if (end < 0) break; // nothing, or a last line cut short
    const entry = decodeLine(buf.toString('utf8', offset, end));
    if (!entry) {
      if (wholeLineAfter(buf, end + 1)) throw new StoreError(`${path}: line ${line} is damaged, and whole lines follow it`);
      break; // the last line was torn by a crash in its append
    }
    if (previous !== undefined && entry.seq !== previous + 1) {
      throw new StoreError(`${path}: line ${line} has sequence number ${entry.seq} after ${previous}`);
    }
    if (entry.seq > afterSeq) {
      if (entry.seq !== afterSeq + batches.length + 1) {
        throw new StoreError(`${path}: line ${line} (sequence number ${entry.seq}) does not follow ${SNAPSHOT_FILE} (sequence number ${afterSeq})`);
      }
      batches.push(entry);
    }
    previous = entry.seq;
    offset = end + 1;
  }
  return { batches, wholeBytes: offset };
}

function decodeLine(line: string): { seq: number; changes: Change[] } | undefined {
  const space = line.indexOf(' ');
  const json = line.slice(space + 1);
  if (space < 0 || line.slice(0, space) !== checksum(json)) return undefined;
  try {
    const entry = JSON.parse(json) as { seq?: unknown; changes?: unknown };
    if (!Number.isSafeInteger(entry.seq) || !Array.isArray(entry.changes)) return undefined;
    return { seq: entry.seq as number, changes: entry.changes as Change[] };
  } catch {
    return undefined;
  }
}

function wholeLineAfter(buf: Buffer, from: number): boolean {
  for (let offset = from, end = buf.indexOf(NEWLINE, from); end >= 0; offset = end + 1, end = buf.indexOf(NEWLINE, offset)) {
    if (decodeLine(buf.toString('utf8', offset, end))) return true;
  }
  return false;
}

function checksum(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreError(`cannot read ${path}: ${causeText(err)}`, err);
  }
}
