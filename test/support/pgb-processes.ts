/**
 * Several PGB processes (`src/main.ts`) on one database, for the crash tests and the soak: started
 * on free ports with one config, each logging to its own file, killed and restarted the way an
 * operator's machine would. Readiness is waited for by a deadline, not a count of polls, so a busy
 * machine makes a start slow, not a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { demoTenant, freePort } from "./pgb.ts";
import { scratchDatabase, type ScratchDatabase } from "./scratch.ts";
import type { FakeHost } from "../workers/support.ts";

export interface PgbProcess {
  index: number;
  port: number;
  url: string;
  child: ChildProcess | undefined;
  /** Started and not (yet) being killed: traffic goes to it. */
  alive: boolean;
  kills: number;
}

/** How long one process may take to answer /health/ready. */
const READY_DEADLINE_MS = 180_000;

export class PgbProcesses {
  readonly all: PgbProcess[] = [];

  private constructor(
    /** The folder with the config file and the processes' logs. */
    readonly dir: string,
    readonly configPath: string,
    readonly databaseUrl: string,
  ) {}

  /** `count` processes (not started yet) on free ports. */
  static async create(count: number, options: { dir: string; configPath: string; databaseUrl: string }): Promise<PgbProcesses> {
    const set = new PgbProcesses(options.dir, options.configPath, options.databaseUrl);
    for (let index = 0; index < count; index++) {
      const port = await freePort();
      set.all.push({ index, port, url: `http://127.0.0.1:${port}`, child: undefined, alive: false, kills: 0 });
    }
    return set;
  }

  /** The first alone (it migrates a fresh database), then the others together. */
  async startAll(): Promise<void> {
    await this.start(this.all[0]!);
    await Promise.all(this.all.slice(1).map((p) => this.start(p)));
  }

  /** Starts (or restarts) a process; answers the milliseconds from spawn to ready. */
  async start(p: PgbProcess): Promise<number> {
    const started = Date.now();
    const log = openSync(this.logOf(p), "a");
    p.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        PGB_CONFIG: this.configPath,
        DATABASE_URL: this.databaseUrl,
        PORT: String(p.port),
        HOST: "127.0.0.1",
        PGB_PUBLIC_URL: p.url,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", log, log],
    });
    const exited = new Promise<void>((resolve) => p.child!.once("exit", () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    while (Date.now() - started < READY_DEADLINE_MS && !gone) {
      try {
        if ((await fetch(`${p.url}/health/ready`, { signal: AbortSignal.timeout(1_000) })).ok) {
          p.alive = true;
          return Date.now() - started;
        }
      } catch {
        // not up yet
      }
      await sleep(50);
    }
    throw new Error(`PGB process ${p.index} did not start${gone ? " (it exited)" : ""}; see ${this.logOf(p)}`);
  }

  /**
   * Sends `signal` and waits for the exit; answers the exit code. The process takes no traffic from
   * now on, or, with `inRotation`, until it has exited (a SIGTERM'd process still answers, SHUTTING_DOWN).
   */
  async stop(p: PgbProcess, signal: "SIGKILL" | "SIGTERM", options: { inRotation?: boolean } = {}): Promise<number | null> {
    if (options.inRotation !== true) p.alive = false;
    if (signal === "SIGKILL") p.kills++;
    const child = p.child!;
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve(child.exitCode)
        : new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    p.alive = false;
    return code;
  }

  /** A random live process (the first one if none is up). */
  live(): PgbProcess {
    const up = this.all.filter((p) => p.alive);
    return up[Math.floor(Math.random() * up.length)] ?? this.all[0]!;
  }

  get kills(): number {
    return this.all.reduce((n, p) => n + p.kills, 0);
  }

  killAll(): void {
    for (const p of this.all) p.child?.kill("SIGKILL");
  }

  logOf(p: PgbProcess): string {
    return join(this.dir, `pgb-${p.index}.log`);
  }
}

type WorkersSections = "notifications" | "webhooks" | "reconciler";
type WorkersOverrides = { pollIntervalMs?: number } & { [K in WorkersSections]?: Record<string, number> };

/**
 * Workers tuned for a run of seconds (the crash tests): quick polls, short back-offs, a reconciler that
 * looks at a payment after 1 s and a refund after 3 s. `overrides` replaces fields section by section.
 */
export function fastWorkers(overrides: WorkersOverrides = {}): Record<string, unknown> {
  const base: WorkersOverrides = {
    pollIntervalMs: 100,
    notifications: { timeoutMs: 1_000, backoffMs: 50, maxBackoffMs: 500, maxAttempts: 100 },
    webhooks: { staleAfterMs: 1_000, backoffMs: 100, maxBackoffMs: 500 },
    reconciler: { intervalMs: 200, paymentAfterMs: 1_000, refundAfterMs: 3_000, maxCheckIntervalMs: 1_000 },
  };
  const sections = ["notifications", "webhooks", "reconciler"] as const;
  return { ...base, ...overrides, ...Object.fromEntries(sections.map((k) => [k, { ...base[k], ...overrides[k] }])) };
}

/**
 * The config file every process of a set reads: the DEMO tenant notifying `notifyUrl`, each
 * process's own PGB_PUBLIC_URL, no demo host, and `workers` (PGB's defaults for what it leaves out).
 */
export function processConfig(notifyUrl: string, workers: Record<string, unknown>): Record<string, unknown> {
  return { publicUrl: "${PGB_PUBLIC_URL}", demoHost: false, tenants: { DEMO: demoTenant({ notifyUrl }) }, workers };
}

/**
 * What the crash tests and the soak set up alike: a scratch PostgreSQL database (and a pool on it for
 * the checks), the fake host up, the config written, and `count` PGB processes started on it (the
 * first alone: it migrates the new database). `close()` undoes all of it; a set-up that fails part
 * way undoes what it had done before rethrowing.
 */
export class ProcessBed {
  private constructor(
    readonly dir: string,
    readonly scratch: ScratchDatabase,
    readonly db: pg.Pool,
    readonly host: FakeHost,
    readonly procs: PgbProcesses,
  ) {}

  get dbUrl(): string {
    return this.scratch.url;
  }

  static async start(options: { adminUrl: string; name: string; count: number; host: FakeHost; workers: Record<string, unknown> }): Promise<ProcessBed> {
    const dir = mkdtempSync(join(tmpdir(), `${options.name.replace(/_/g, "-")}-`));
    const scratch = await scratchDatabase(options.adminUrl, options.name);
    const db = new pg.Pool({ connectionString: scratch.url, max: 4 });
    let procs: PgbProcesses | undefined;
    try {
      await options.host.up();
      const configPath = join(dir, "config.json");
      writeFileSync(configPath, JSON.stringify(processConfig(options.host.url, options.workers)));
      procs = await PgbProcesses.create(options.count, { dir, configPath, databaseUrl: scratch.url });
      const bed = new ProcessBed(dir, scratch, db, options.host, procs);
      await procs.startAll();
      return bed;
    } catch (error) {
      procs?.killAll();
      await options.host.down();
      await db.end();
      await scratch.drop();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.procs.killAll();
    await this.host.down();
    await this.db.end();
    await this.scratch.drop();
  }
}
