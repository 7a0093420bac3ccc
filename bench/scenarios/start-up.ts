/**
 * Scenario 6: start-up to ready of the built server (dist/, built first if missing or older than
 * src/) and of `npm start` (tsx): embedded and PostgreSQL, new and existing data, and a restart while
 * another PGB on the same database is under load.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext } from "../context.ts";
import { benchDatabase, load, median, startServer } from "../lib.ts";

function newestMtime(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name);
    return Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }, 0);
}

/** `withPostgres`: also the PostgreSQL starts (ctx.adminUrl answers). */
export async function scenarioStartup(ctx: BenchContext, withPostgres: boolean): Promise<void> {
  ctx.log("\n[6] Start-up: process start → /health/ready (median of 3; CPU = the server's user + system time when ready)");
  if (!existsSync("dist/main.js") || newestMtime("src") > statSync("dist/main.js").mtimeMs) {
    // A dist/ older than the source would time a different PGB (or fail on a migration it lacks).
    ctx.log("    building dist/ first (npm run build): missing or older than src/");
    const build = spawnSync("npm", ["run", "build"], { stdio: "ignore" });
    if (build.status !== 0) throw new Error("npm run build failed");
  }
  interface Start {
    ms: number;
    cpuMs: number | undefined;
  }
  const record = (label: string, starts: Start[], target: number) => {
    const ms = median(starts.map((s) => s.ms));
    const cpus = starts.flatMap((s) => (s.cpuMs === undefined ? [] : [s.cpuMs]));
    const cpu = cpus.length > 0 ? `, CPU ${median(cpus).toFixed(0)} ms` : "";
    ctx.log(`    ${label}: ${ms.toFixed(0)} ms${cpu} (target < ${target} ms; runs ${starts.map((s) => s.ms.toFixed(0)).join(", ")})`);
    ctx.row({ scenario: "6 Start-up", subject: label, figures: `${ms.toFixed(0)} ms${cpu}`, ratio: `target < ${target} ms` });
    return ms;
  };
  const once = async (script: string, env: Record<string, string>): Promise<Start> => {
    const s = await startServer(script, { PGB_CONFIG: "bench/bench-config.json", ...env }, "/health/ready");
    await s.stop();
    return { ms: s.startupMs, cpuMs: s.startupCpuMs };
  };
  const dirs: string[] = [];
  const freshDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "pgb-bench-start-"));
    dirs.push(dir);
    return dir;
  };
  const embedded = (dir: string) => ({ PGB_DATA_DIR: dir, DATABASE_URL: "" });
  try {
    const builtNew: Start[] = [];
    const builtExisting: Start[] = [];
    const tsxNew: Start[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = freshDir();
      builtNew.push(await once("dist/main.js", embedded(dir)));
      builtExisting.push(await once("dist/main.js", embedded(dir)));
      tsxNew.push(await once("src/main.ts", embedded(freshDir())));
    }
    record("built, embedded, new data folder", builtNew, 1500);
    record("built, embedded, existing data folder", builtExisting, 1500);
    record("npm start (tsx), embedded, new data folder", tsxNew, 3000);
    if (withPostgres) {
      const db = await benchDatabase(ctx.adminUrl);
      try {
        record("built, PostgreSQL, new database", [await once("dist/main.js", { DATABASE_URL: db.url })], 1000);
        const idleMs = record(
          "built, PostgreSQL, migrated database",
          [
            await once("dist/main.js", { DATABASE_URL: db.url }),
            await once("dist/main.js", { DATABASE_URL: db.url }),
            await once("dist/main.js", { DATABASE_URL: db.url }),
          ],
          1000,
        );
        record(
          "npm start (tsx), PostgreSQL, migrated database",
          [
            await once("src/main.ts", { DATABASE_URL: db.url }),
            await once("src/main.ts", { DATABASE_URL: db.url }),
            await once("src/main.ts", { DATABASE_URL: db.url }),
          ],
          3000,
        );
        // A restart while the machine is busy: another PGB on the same database takes PayStarts flat out.
        const busy = await startServer("dist/main.js", { DATABASE_URL: db.url, PGB_CONFIG: "bench/bench-config.json" }, "/health/ready");
        try {
          let loading = true;
          const loader = (async () => {
            while (loading)
              await load({
                url: busy.url,
                path: "/PGB/PayStart",
                connections: ctx.connections,
                durationSeconds: 1,
                headers: ctx.headers,
                body: () => ctx.payStartBody(),
              });
          })();
          await sleep(1_000);
          const s = await startServer("dist/main.js", { DATABASE_URL: db.url, PGB_CONFIG: "bench/bench-config.json" }, "/health/ready");
          loading = false;
          await loader;
          await s.stop();
          const ratio = s.startupMs / idleMs;
          ctx.log(
            `    built, PostgreSQL, migrated database, another PGB under load: ${s.startupMs.toFixed(0)} ms, ${ratio.toFixed(2)}× the idle start (target ≤ 2×)`,
          );
          ctx.row({
            scenario: "6 Start-up",
            subject: "built, PostgreSQL, restart under load",
            figures: `${s.startupMs.toFixed(0)} ms`,
            ratio: `${ratio.toFixed(2)}× idle`,
          });
        } finally {
          await busy.stop();
        }
      } finally {
        await db.drop();
      }
    }
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}
