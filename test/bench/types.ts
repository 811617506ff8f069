// What the benchmark's phases hand to the report.

/** One measured window: `attach.length` attaches and their detaches while the bridge held `ports` ports. */
export interface Window {
  ports: number;
  /** Whole attach as this series does it, ms per sample. */
  attach: number[];
  /** Whole detach, ms per sample. */
  detach: number[];
  /** Parts of the attach and the detach by name (e.g. `CreateEndpoint+Join`), ms per sample. */
  parts: Record<string, number[]>;
}

export type SeriesKey = 'ovsvlan' | 'ovs-docker' | 'bridge';

/** One way of attaching a container's interface, measured at each level of ports on its bridge. */
export interface Series {
  key: SeriesKey;
  /** Short name for tables and the plot legend. */
  label: string;
  /** What one attach and one detach are, in words. */
  attachIs: string;
  detachIs: string;
  windows: Window[];
}

/** The size of a run: `BENCH_PORTS` and friends. */
export interface Scale {
  /** Levels of ports on the bridge at which windows are measured (10, 100, 1,000 by default). */
  levels: number[];
  /** Attaches (and detaches) measured per level. */
  window: number;
  /** `docker run --rm` runs per network kind. */
  runs: number;
  /** Containers of the concurrent `docker run -d`. */
  concurrent: number;
}
