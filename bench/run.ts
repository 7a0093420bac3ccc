/**
 * `npm run bench`: PGB's own cost, measured beside a baseline in the same run (issue 6).
 *
 *   npm run bench                 full run (~10 s per scenario), writes bench/results/<date>.md
 *   npm run bench -- --smoke      1–2 s per scenario, writes nothing (part of npm test)
 *   npm run bench -- --profile    also CPU-profiles PGB during scenarios 1, 3 and 3c
 *
 * PostgreSQL from BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); each run
 * uses scratch databases it drops. Without PostgreSQL only the embedded scenarios run. Every scenario
 * checks what it drove (payments in the expected state, balances exact) and the run fails loudly if not.
 */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createContext, type Row } from "./context.ts";
import { benchDatabase, hasPostgres } from "./lib.ts";
import { scenarioCancelStorm } from "./scenarios/cancel-storm.ts";
import { scenarioCustomerPays } from "./scenarios/customer-pays.ts";
import { scenarioEmbedded, scenarioPayStart } from "./scenarios/pay-start.ts";
import { scenarioRoundTrips } from "./scenarios/round-trips.ts";
import { scenarioPayPal, scenarioStripe } from "./scenarios/simulators.ts";
import { scenarioStartup } from "./scenarios/start-up.ts";
import { scenarioWebhookToHost } from "./scenarios/webhook-to-host.ts";

const args = new Set(process.argv.slice(2));
const SMOKE = args.has("--smoke");
/** `--only 1,4` runs just those scenarios. */
const ONLY = (() => {
  const i = process.argv.indexOf("--only");
  return i < 0 ? undefined : new Set(process.argv[i + 1]!.split(","));
})();
const wanted = (n: string) => ONLY === undefined || ONLY.has(n);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const KEY = "bench-key";

const ctx = createContext({
  adminUrl: ADMIN_URL,
  smoke: SMOKE,
  profile: args.has("--profile"),
  duration: SMOKE ? 1 : Number(process.env.BENCH_SECONDS ?? 10),
  warmup: SMOKE ? 0.5 : 3,
  connections: Number(process.env.BENCH_CONNECTIONS ?? 16),
  headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${KEY}` },
});
const { log, rows, notes, failures } = ctx;
const tableRow = (r: Row) => `| ${r.scenario} | ${r.subject} | ${r.figures} | ${r.ratio ?? ""} |`;

async function main(): Promise<void> {
  const started = Date.now();
  const postgres = await hasPostgres(ADMIN_URL);
  log(
    `PGB benchmark ${SMOKE ? "(smoke)" : ""} — Node ${process.version}, ${cpus().length} cores, PostgreSQL ${postgres ? "at BENCH_DATABASE_URL" : "not reachable: embedded scenarios only"}`,
  );
  let pgVersion = "none";
  if (postgres) {
    const probeDb = await benchDatabase(ADMIN_URL);
    pgVersion = probeDb.version;
    await probeDb.drop();
    if (wanted("1")) await scenarioPayStart(ctx);
    if (wanted("2")) await scenarioStripe(ctx);
    if (wanted("2") || wanted("2b")) await scenarioPayPal(ctx);
    if (wanted("3")) await scenarioWebhookToHost(ctx);
    if (wanted("3c")) await scenarioCustomerPays(ctx);
    if (wanted("4")) await scenarioCancelStorm(ctx);
    if (wanted("7")) await scenarioRoundTrips(ctx);
  } else {
    notes.push("PostgreSQL was not reachable: scenarios 1–4 skipped.");
  }
  if (wanted("5")) await scenarioEmbedded(ctx);
  if (wanted("6")) await scenarioStartup(ctx, postgres);

  log("\n| scenario | subject | figures | ratio |\n|---|---|---|---|");
  for (const r of rows) log(tableRow(r));
  for (const n of notes) log(`note: ${n}`);
  // Only a full run writes the results file: a partial one would overwrite it with some scenarios.
  if (!SMOKE && ONLY === undefined) {
    const date = new Date().toISOString().slice(0, 10);
    const file = join("bench", "results", `${date}.md`);
    const header = `# PGB benchmark ${date}\n\nNode ${process.version}, PostgreSQL ${pgVersion}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${ctx.connections} connections, ${ctx.duration} s per scenario after ${ctx.warmup} s warm-up.\n\n`;
    const table = `| scenario | subject | figures | ratio |\n|---|---|---|---|\n${rows.map(tableRow).join("\n")}\n`;
    writeFileSync(
      file,
      header +
        table +
        (notes.length ? `\n${notes.map((n) => `- ${n}`).join("\n")}\n` : "") +
        (failures.length ? `\nFAILED:\n${failures.map((f) => `- ${f}`).join("\n")}\n` : ""),
    );
    log(`\nwritten ${file}`);
  }
  log(`\nbenchmark took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (failures.length > 0) {
    log(`\nBENCHMARK FAILED — what it drove is not right:\n${failures.map((f) => `  - ${f}`).join("\n")}`);
    process.exit(1);
  }
  log("correctness checks: all passed");
}

await main();
await sleep(0);
