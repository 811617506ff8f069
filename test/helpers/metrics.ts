// ovsvlan's metrics endpoint as a scraper sees it: an HTTP GET (from inside a
// host's network namespace, whose loopback is the daemon's), and the samples
// of the Prometheus text format.
import { run } from './run.js';

export interface HttpAnswer {
  status: number;
  body: string;
}

const GET = `fetch(process.argv[1]).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })),
  (e) => { process.stderr.write(String(e.cause ?? e)); process.exit(1); });`;

/** GET `url` from inside `netns` (a node process there); status 0 and the error when nothing answers. */
export async function httpGet(netns: string, url: string): Promise<HttpAnswer> {
  const r = await run('ip', ['netns', 'exec', netns, process.execPath, '-e', GET, url], { timeout: 30_000 });
  if (r.exitCode !== 0) return { status: 0, body: r.stderr };
  return JSON.parse(r.stdout) as HttpAnswer;
}

/**
 * The value of the sample `name` whose labels are exactly `labels`, or
 * undefined when the text has none.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]);
    if (JSON.stringify(got.sort()) === want) return Number(m[3]);
  }
  return undefined;
}
