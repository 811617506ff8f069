// Reading the daemon's JSON log (pino, ISO `time`): when its first reconciliation finished, what
// errors it logged, and how long each CreateEndpoint took inside the daemon.
import { readFile } from 'node:fs/promises';

interface LogRecord {
  level?: number;
  time?: string;
  msg?: string;
  /** On 'endpoint created': CreateEndpoint's own duration in the daemon (lock wait included), and whether a spare served it. */
  ms?: number;
  spare?: boolean;
}

async function records(logFile: string): Promise<LogRecord[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as LogRecord];
    } catch {
      return []; // a line being written
    }
  });
}

/** Epoch ms of a record written at or after `since` (its ISO time stamp), or NaN. */
const timeOf = (r: LogRecord): number => Date.parse(r.time ?? '');

export interface FirstReconciliation {
  /** Epoch ms of the first `reconciled` line at or after `since`; undefined when none came in time. */
  at?: number;
  /** The first reconciliation failure logged meanwhile, if any. */
  failure?: string;
}

/**
 * Waits (up to `withinMs`) for the first `reconciled` line the daemon writes at or after `since`,
 * i.e. the end of the first successful reconciliation after a start.
 */
export async function firstReconciliation(logFile: string, since: number, withinMs = 60_000): Promise<FirstReconciliation> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const recent = (await records(logFile)).filter((r) => timeOf(r) >= since);
    const done = recent.find((r) => r.msg === 'reconciled');
    const failed = recent.find((r) => (r.level ?? 0) >= 50 && /reconciliation failed/.test(r.msg ?? ''));
    if (done) return { at: timeOf(done), ...(failed ? { failure: failed.msg } : {}) };
    if (Date.now() > deadline) return failed ? { failure: failed.msg } : {};
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The number of error lines (level ≥ 50) in the log, and the first one's message. */
export async function loggedErrors(logFile: string): Promise<{ count: number; first?: string }> {
  const errors = (await records(logFile)).filter((r) => (r.level ?? 0) >= 50);
  return { count: errors.length, ...(errors[0] ? { first: String(errors[0].msg).slice(0, 300) } : {}) };
}

/** One CreateEndpoint as the daemon logged it ('endpoint created'). */
export interface LoggedCreate {
  /** Its duration inside the daemon, lock wait included (ms). */
  ms: number;
  /** False when the network's pool had no spare: the daemon made and attached a pair, waiting for ovs-vswitchd. */
  spare: boolean;
}

/**
 * The 'endpoint created' lines logged from `since` to `until` (epoch ms), called after a window of
 * attaches; waits (up to 2 s) until `expected` of them are written.
 */
export async function loggedCreates(logFile: string, since: number, until: number, expected: number): Promise<LoggedCreate[]> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const found = (await records(logFile)).filter((r) => r.msg === 'endpoint created' && typeof r.ms === 'number'
      && timeOf(r) >= since && timeOf(r) <= until + 1);
    if (found.length >= expected || Date.now() > deadline) return found.map((r) => ({ ms: r.ms!, spare: r.spare === true }));
    await new Promise((r) => setTimeout(r, 50));
  }
}
