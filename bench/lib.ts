/** Process, database and load helpers for the benchmark. Loopback only; every loop is bounded. */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import pg from "pg";
import { freePort, scratchDatabase, type ScratchDatabase } from "../test/support/scratch.ts";

export { freePort };

export interface Server {
  url: string;
  process: ChildProcess;
  /** Milliseconds from spawn to the first successful readiness probe. */
  startupMs: number;
  /**
   * CPU milliseconds (user + system) the process had used when it was found ready (Linux; undefined
   * elsewhere). Much steadier than the wall-clock figure on a shared, busy machine.
   */
  startupCpuMs: number | undefined;
  stop(): Promise<void>;
}

/** Spawns a server process and waits until `readyPath` answers 200 (or the process prints "ready"). */
export async function startServer(script: string, env: Record<string, string>, readyPath: string | null, options: { cpuProf?: string } = {}): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // A built script (dist/*.js) runs on plain Node; sources run through tsx.
  const args = [
    ...(script.endsWith(".js") ? [] : ["--import", "tsx"]),
    ...(options.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProf}`] : []),
    script,
  ];
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PORT: String(port), PGB_PUBLIC_URL: url, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${script} exited ${child.exitCode}: ${output.slice(-2000)}`);
    if (readyPath === null ? output.includes("ready") : await probe(`${url}${readyPath}`)) break;
    await sleep(readyPath === null ? 20 : 25);
  }
  const startupMs = performance.now() - started;
  const startupCpuMs = cpuMsOf(child.pid);
  if (Date.now() >= deadline) throw new Error(`${script} not ready after 60 s: ${output.slice(-2000)}`);
  // A server that picks its own port announces it as "ready <url>".
  const announced = /ready (http:\/\/\S+)/.exec(output)?.[1];
  return {
    url: announced ?? url,
    process: child,
    startupMs,
    startupCpuMs,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        // Its files (an embedded data folder) are removed next: wait until it is really gone.
        await Promise.race([exited, sleep(5_000)]);
      }
    },
  };
}

/** cpuMs, or undefined where there is no /proc. */
function cpuMsOf(pid: number | undefined): number | undefined {
  const ms = cpuMs(pid);
  return Number.isNaN(ms) ? undefined : ms;
}

async function probe(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** Whether the PostgreSQL at `adminUrl` answers (within 2 s). */
export async function hasPostgres(adminUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** A database of its own for one benchmark run, dropped afterwards. */
export function benchDatabase(adminUrl: string): Promise<ScratchDatabase> {
  return scratchDatabase(adminUrl, "pgb_bench");
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
}

export async function load(options: {
  url: string;
  path: string;
  connections: number;
  durationSeconds: number;
  headers: Record<string, string>;
  body: () => string;
  onResponse?: (status: number, body: string) => void;
}): Promise<LoadResult> {
  const result = await autocannon({
    url: `${options.url}${options.path}`,
    connections: options.connections,
    duration: options.durationSeconds,
    method: "POST",
    headers: options.headers,
    requests: [
      {
        method: "POST",
        path: options.path,
        setupRequest: (request: Record<string, unknown>) => ({ ...request, body: options.body() }),
        ...(options.onResponse ? { onResponse: (status: number, body: string) => options.onResponse!(status, body) } : {}),
      },
    ],
  } as unknown as autocannon.Options);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** One load run as printed and as written to the results table. */
export function fmt(r: LoadResult): string {
  return `${r.requestsPerSecond.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms (${r.total} requests, ${r.non2xx} non-2xx, ${r.errors} errors)`;
}

export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Percentile of a sorted list (nearest rank). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** CPU time (user + system, ms) a process has used so far, from /proc; NaN where there is none. */
export function cpuMs(pid: number | undefined): number {
  return cpuSplitMs(pid).total;
}

/** CPU time (ms) a process has used so far, in all and in the kernel (system time), from /proc; NaN where there is none. */
export function cpuSplitMs(pid: number | undefined): { total: number; kernel: number } {
  if (pid === undefined) return { total: NaN, kernel: NaN };
  try {
    return statCpuMs(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return { total: NaN, kernel: NaN };
  }
}

/** The CPU time (ms) in a /proc/<pid>/stat line: in all (utime + stime) and in the kernel (stime). */
function statCpuMs(stat: string): { total: number; kernel: number } {
  const fields = stat.split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat, counted from the state field (3) here; 100 ticks/s.
  const kernel = Number(fields[12]) * 10;
  return { total: Number(fields[11]) * 10 + kernel, kernel };
}

/** CPU time (user + system, ms) each PostgreSQL server process on this machine has used so far, by pid. */
export function postgresCpu(): Map<string, number> {
  const byPid = new Map<string, number>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return byPid; // no /proc: nothing to count
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone since the listing
    }
    if (!stat.includes(" (postgres) ")) continue;
    byPid.set(entry, statCpuMs(stat).total);
  }
  return byPid;
}

/**
 * PostgreSQL's CPU (ms) since `before` (postgresCpu, or postgresCpuOf with `now` from it too): what its
 * processes still running used since then, and all of what new ones used. A process that ended in
 * between is not counted (NaN without /proc).
 */
export function postgresCpuSince(before: Map<string, number>, now: Map<string, number> = postgresCpu()): number {
  if (now.size === 0) return NaN;
  let total = 0;
  for (const [pid, ms] of now) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** A TEST-PG card PayStart for the benchmark's tenant, as the host sends it. */
export function payStartBodyFor(orderId: number, price: number): string {
  return JSON.stringify({
    DBType: "BENCH",
    OrderId: orderId,
    PayType: "CARD",
    TotalPrice: String(price),
    JoinerId: 1,
    OrderDescription: null,
    RedirectUrl: "https://shop.example.com/done",
    NationCode: "KR",
  });
}

/**
 * CPU time (user + system, ms) of the PostgreSQL backends serving `database`, by pid: postgresCpu
 * without the server's shared processes (WAL writer, checkpointer, …) and without other databases'
 * backends, so that other work on a shared machine does not count. Backends are told apart by the
 * title PostgreSQL gives them ("postgres: … <user> <database> <client> <state>").
 */
export function postgresCpuOf(database: string): Map<string, number> {
  const all = postgresCpu();
  const mine = new Map<string, number>();
  for (const [pid, ms] of all) {
    let title: string;
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue; // gone since the listing
    }
    if (title.includes(` ${database} `)) mine.set(pid, ms);
  }
  return mine;
}

/** The fields of /proc/stat's first line: the whole machine's CPU time so far (ms, all cores). */
const MACHINE_FIELDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const;
type MachineCpu = Record<(typeof MACHINE_FIELDS)[number], number>;

/** The whole machine's CPU time so far, by kind (ms, all cores), from /proc/stat; NaN where there is none. */
function machineCpuMs(): MachineCpu {
  let ticks: number[] = [];
  try {
    // cpu  user nice system idle iowait irq softirq steal …, in ticks of 10 ms.
    ticks = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  } catch {
    // no /proc: every field NaN
  }
  return Object.fromEntries(MACHINE_FIELDS.map((field, i) => [field, (ticks[i] ?? NaN) * 10])) as MachineCpu;
}

/** A mark of the machine's CPU and of this process's (the benchmark's driver: load generator, fake host, browsers). */
export function machineMark(): { machine: MachineCpu; driver: NodeJS.CpuUsage } {
  return { machine: machineCpuMs(), driver: process.cpuUsage() };
}

/**
 * Since `mark`, as a figure: the driver's CPU per operation (ms), and how the machine spent the time
 * as shares of its cores: idle (of which waiting for I/O, such as commits waiting for the disk),
 * softirq (the kernel's network work that no process is charged for, loopback TCP included) and
 * stolen by the hypervisor. On this shared 2-core machine the driver competes with the subject; with
 * little idle left a latency says as much about the machine as about the subject.
 */
export function machineSince(mark: ReturnType<typeof machineMark>, operations: number): string {
  const { user, system } = process.cpuUsage(mark.driver);
  const driverMs = (user + system) / 1000 / operations;
  const now = machineCpuMs();
  const spent = (field: keyof MachineCpu) => now[field] - mark.machine[field];
  const total = MACHINE_FIELDS.reduce((sum, field) => sum + spent(field), 0);
  const pct = (...fields: Array<keyof MachineCpu>) => `${((fields.reduce((sum, field) => sum + spent(field), 0) / total) * 100).toFixed(0)} %`;
  return `the benchmark's driver ${driverMs.toFixed(2)} ms; machine idle ${pct("idle", "iowait")} (I/O wait ${pct("iowait")}), softirq ${pct("softirq")}, stolen ${pct("steal")}`;
}
