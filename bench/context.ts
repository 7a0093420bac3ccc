/**
 * What every scenario of `npm run bench` shares: the run's settings, one order-id sequence (order ids
 * are unique across the run), the load helper with its warm-up, and where figures, notes and failures
 * go. `bench/run.ts` makes one and prints or writes what the scenarios reported.
 */
import pg from "pg";
import { load, payStartBodyFor, type LoadResult } from "./lib.ts";

export interface Row {
  scenario: string;
  subject: string;
  figures: string;
  ratio?: string;
}

export interface BenchSettings {
  /** PostgreSQL the scratch databases are created on. */
  adminUrl: string;
  /** `--smoke`: a second or two per scenario. */
  smoke: boolean;
  /** `--profile`: CPU-profile PGB during scenarios 1, 3 and 3c. */
  profile: boolean;
  /** Seconds of load per measurement, after `warmup` seconds. */
  duration: number;
  warmup: number;
  connections: number;
  /** The host's headers on a PGB API call (JSON, the tenant's key). */
  headers: Record<string, string>;
}

export interface BenchContext extends BenchSettings {
  log(line: string): void;
  row(row: Row): void;
  /** What a scenario drove is not right: the run fails. */
  fail(message: string): void;
  note(message: string): void;
  nextOrderId(): number;
  /** The first of `count` consecutive new order ids. */
  reserveOrderIds(count: number): number;
  /** A TEST-PG card PayStart of 15,000 with the next order id. */
  payStartBody(): string;
  /** Warm-up, then `duration` seconds of POSTs to `path` from `connections` connections. */
  measure(url: string, path: string, body: () => string, onResponse?: (status: number, body: string) => void): Promise<LoadResult>;
  /** Every payment PGB created in a PayStart scenario must be READY with a checkout, none lost. */
  checkPayStarts(databaseUrl: string, expectedAtLeast: number, label: string): Promise<void>;
  /** Scenario 1's median rounds, for the ratios of the scenarios after it (absent when it did not run). */
  payStartReference: { baseline?: LoadResult; testPg?: LoadResult };
}

/** A context whose reports collect in `rows`, `notes` and `failures`. */
export function createContext(settings: BenchSettings): BenchContext & { rows: Row[]; notes: string[]; failures: string[] } {
  const rows: Row[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  let orderSeq = 1;
  const ctx = {
    ...settings,
    rows,
    notes,
    failures,
    payStartReference: {},
    log(line: string) {
      process.stdout.write(`${line}\n`);
    },
    row(row: Row) {
      rows.push(row);
    },
    fail(message: string) {
      failures.push(message);
    },
    note(message: string) {
      notes.push(message);
    },
    nextOrderId: () => orderSeq++,
    reserveOrderIds(count: number) {
      const first = orderSeq;
      orderSeq += count;
      return first;
    },
    payStartBody: () => payStartBodyFor(orderSeq++, 15000),
    async measure(url: string, path: string, body: () => string, onResponse?: (status: number, body: string) => void) {
      const common = { url, path, connections: settings.connections, headers: settings.headers, body };
      if (settings.warmup > 0) await load({ ...common, durationSeconds: settings.warmup });
      return load({ ...common, durationSeconds: settings.duration, ...(onResponse ? { onResponse } : {}) });
    },
    async checkPayStarts(databaseUrl: string, expectedAtLeast: number, label: string) {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      const { rows: counts } = await client.query<{ status: string; n: string }>(
        "SELECT status, count(*)::text AS n FROM payments WHERE checkout_url IS NULL OR checkout_url NOT LIKE 'http://x/%' GROUP BY status",
      );
      await client.end();
      const ready = Number(counts.find((c) => c.status === "READY")?.n ?? 0);
      const other = counts.filter((c) => c.status !== "READY");
      if (ready < expectedAtLeast || other.length > 0)
        failures.push(`${label}: expected ≥ ${expectedAtLeast} READY payments and nothing else, found ${JSON.stringify(counts)}`);
    },
  };
  return ctx;
}
