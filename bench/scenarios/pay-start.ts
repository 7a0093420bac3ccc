/**
 * Scenario 1: PayStart with the TEST PG on PostgreSQL beside the baseline and PGB's own SQL run bare,
 * in alternated rounds. Scenario 5: PayStart on the embedded database (PGlite).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { BenchContext } from "../context.ts";
import { summariseProfile } from "../cpu-profile.ts";
import { benchDatabase, cpuMs, fmt, load, median, startServer, type LoadResult, type Server } from "../lib.ts";

export async function scenarioPayStart(ctx: BenchContext): Promise<void> {
  const rounds = ctx.smoke ? 1 : Number(process.env.BENCH_ROUNDS ?? 5);
  const seconds = ctx.smoke ? 1 : Number(process.env.BENCH_ROUND_SECONDS ?? 5);
  ctx.log(`\n[1] PayStart with the TEST PG vs baseline (PostgreSQL, ${ctx.connections} connections): ${rounds} alternated rounds of ${seconds} s each, median`);
  const baseDb = await benchDatabase(ctx.adminUrl);
  const pgbDb = await benchDatabase(ctx.adminUrl);
  let baseline: Server | undefined;
  let pgb: Server | undefined;
  let bare: Server | undefined;
  try {
    baseline = await startServer("bench/baseline-server.ts", { DATABASE_URL: baseDb.url }, null);
    const profileDir = ctx.profile ? join("bench", "results", "profiles") : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: pgbDb.url, PGB_CONFIG: "bench/bench-config.json" },
      "/health/ready",
      profileDir ? { cpuProf: profileDir } : {},
    );
    // The same SQL with none of PGB's layers, on PGB's (migrated) schema.
    bare = await startServer("bench/bare-paystart-sql-server.ts", { DATABASE_URL: pgbDb.url }, null);
    const servers = { baseline, pgb, bare };
    const results: Record<keyof typeof servers, LoadResult[]> = { baseline: [], pgb: [], bare: [] };
    /** Server CPU per request (ms): steadier than requests/s on a machine others are using too. */
    const cpu: Record<keyof typeof servers, number[]> = { baseline: [], pgb: [], bare: [] };
    const order: Array<keyof typeof servers> = ["baseline", "pgb", "bare"];
    const run = (url: string, durationSeconds: number) =>
      load({ url, path: "/PGB/PayStart", connections: ctx.connections, durationSeconds, headers: ctx.headers, body: () => ctx.payStartBody() });
    for (let round = 0; round < rounds; round++) {
      // Each round starts with a different subject, so a burst from another process hits each in turn.
      const turn = [...order.slice(round % 3), ...order.slice(0, round % 3)];
      for (const subject of turn) {
        const url = servers[subject].url;
        if (ctx.warmup > 0) await run(url, Math.min(ctx.warmup, 1));
        const cpuBefore = cpuMs(servers[subject].process.pid);
        const result = await run(url, seconds);
        cpu[subject].push((cpuMs(servers[subject].process.pid) - cpuBefore) / result.total);
        results[subject].push(result);
      }
      const r = (s: keyof typeof servers) => results[s][round]!.requestsPerSecond;
      ctx.log(
        `    round ${round + 1}: baseline ${r("baseline").toFixed(0)}/s, PGB ${r("pgb").toFixed(0)}/s, PGB's SQL bare ${r("bare").toFixed(0)}/s → PGB ${(r("pgb") / r("baseline")).toFixed(2)}× baseline, ${(r("pgb") / r("bare")).toFixed(2)}× its SQL bare; server CPU per request ${cpu.baseline[round]!.toFixed(3)} / ${cpu.pgb[round]!.toFixed(3)} / ${cpu.bare[round]!.toFixed(3)} ms`,
      );
    }
    await pgb.stop();
    const ratios = results.pgb.map((m, i) => m.requestsPerSecond / results.baseline[i]!.requestsPerSecond);
    const bareRatios = results.pgb.map((m, i) => m.requestsPerSecond / results.bare[i]!.requestsPerSecond);
    const medianOf = (s: keyof typeof servers) => results[s].slice().sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(rounds / 2)]!;
    const base = medianOf("baseline");
    const mine = medianOf("pgb");
    const bareResult = medianOf("bare");
    const ratio = median(ratios);
    ctx.payStartReference.baseline = base;
    ctx.payStartReference.testPg = mine;
    ctx.log(`    median: baseline ${fmt(base)}`);
    ctx.log(`            PGB      ${fmt(mine)}`);
    ctx.log(`            bare SQL ${fmt(bareResult)}`);
    const cpuLine = `server CPU per request (median): baseline ${median(cpu.baseline).toFixed(3)} ms, PGB ${median(cpu.pgb).toFixed(3)} ms, PGB's SQL bare ${median(cpu.bare).toFixed(3)} ms`;
    ctx.log(`    ${cpuLine}`);
    ctx.note(`PayStart ${cpuLine}`);
    ctx.log(`    PGB ÷ baseline: median ${ratio.toFixed(2)}× of ${rounds} rounds (${ratios.map((x) => x.toFixed(2)).join(", ")}; target ≥ 0.75×)`);
    ctx.row({ scenario: "1 PayStart (TEST PG)", subject: "baseline (median round)", figures: fmt(base) });
    ctx.row({
      scenario: "1 PayStart (TEST PG)",
      subject: "PGB (median round)",
      figures: fmt(mine),
      ratio: `${ratio.toFixed(2)}× baseline, median of ${rounds} alternated rounds (${ratios.map((x) => x.toFixed(2)).join(", ")}); target ≥ 0.75×`,
    });
    ctx.row({
      scenario: "1 PayStart (TEST PG)",
      subject: "PGB's SQL alone (diagnostic, median round)",
      figures: fmt(bareResult),
      ratio: `${(bareResult.requestsPerSecond / base.requestsPerSecond).toFixed(2)}× baseline; PGB = ${median(bareRatios).toFixed(2)}× of it`,
    });
    const all = (s: keyof typeof servers) =>
      results[s].reduce((sum, x) => ({ non2xx: sum.non2xx + x.non2xx, errors: sum.errors + x.errors, total: sum.total + x.total }), {
        non2xx: 0,
        errors: 0,
        total: 0,
      });
    if (all("bare").non2xx > 0 || all("bare").errors > 0)
      ctx.fail(`bare PayStart SQL: ${all("bare").non2xx} non-2xx, ${all("bare").errors} errors (do its statements still match PGB's schema?)`);
    if (all("pgb").non2xx > 0 || all("pgb").errors > 0) ctx.fail(`PayStart: ${all("pgb").non2xx} non-2xx, ${all("pgb").errors} errors`);
    // The bare server writes to the same tables; its rows (checkout http://x/…) are left out of PGB's check.
    const client = new pg.Client({ connectionString: pgbDb.url });
    client.on("error", () => undefined);
    await client.connect();
    const { rows: bareRows } = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM payments WHERE pg_transaction_id LIKE 'tp\\_%' AND checkout_url LIKE 'http://x/%'",
    );
    await client.end();
    if (Number(bareRows[0]!.n) === 0 && all("bare").total > 0) ctx.fail("bare PayStart SQL wrote nothing");
    await ctx.checkPayStarts(pgbDb.url, all("pgb").total - ctx.connections * rounds * 2, "PayStart");
    if (profileDir) summariseProfile(profileDir, ctx.log);
  } finally {
    await baseline?.stop();
    await pgb?.stop();
    await bare?.stop();
    await baseDb.drop();
    await pgbDb.drop();
  }
}

export async function scenarioEmbedded(ctx: BenchContext): Promise<void> {
  ctx.log(`\n[5] PayStart on the embedded database (PGlite, ${ctx.connections} connections, ${ctx.duration} s)`);
  const dir = mkdtempSync(join(tmpdir(), "pgb-bench-"));
  let pgb: Server | undefined;
  try {
    pgb = await startServer("src/main.ts", { PGB_DATA_DIR: dir, PGB_CONFIG: "bench/bench-config.json", DATABASE_URL: "" }, "/health/ready");
    const mine = await ctx.measure(pgb.url, "/PGB/PayStart", () => ctx.payStartBody());
    ctx.log(`    PGB on PGlite: ${fmt(mine)}`);
    ctx.row({ scenario: "5 PayStart (embedded PGlite)", subject: "PGB", figures: fmt(mine) });
    if (mine.non2xx > 0 || mine.errors > 0) ctx.fail(`embedded PayStart: ${mine.non2xx} non-2xx, ${mine.errors} errors`);
  } finally {
    await pgb?.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}
