/**
 * The production build and the newcomer's start: `npm run build` makes dist/, `node dist/main.js`
 * serves from a new data folder (started from the build's database template), the end-to-end flows
 * pass against the built code, and `PORT=18181 npm start` keeps the demo's links on port 18181.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { freePort } from "../support/pgb.ts";

interface Started {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<number | null>;
}

async function start(command: string, args: string[], env: Record<string, string>, port: number): Promise<Started> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "info", ...env };
  for (const [name, value] of Object.entries(childEnv)) if (value === "") delete childEnv[name];
  // Its own process group, so that npm's children (tsx, node) get the signal too.
  const child = spawn(command, args, { env: childEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${command} ${args.join(" ")} exited ${child.exitCode}: ${output}`);
    const ready = await fetch(`${url}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await sleep(100);
  }
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      process.kill(-child.pid!, "SIGTERM");
      return exited;
    },
  };
}

/** What the demo's Buy button does, as a browser: GET /demo, submit its form, follow the redirect. */
async function buyOnDemo(url: string): Promise<{ location: string; checkout: Response }> {
  const page = await (await fetch(`${url}/demo`)).text();
  const orderId = /name="OrderId" value="(\d+)"/.exec(page)?.[1];
  assert.ok(orderId, "the demo page has an order form");
  const bought = await fetch(`${url}/demo/buy`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `OrderId=${orderId}&TotalPrice=15000&NationCode=KR&PayType=CARD`,
    redirect: "manual",
  });
  assert.equal(bought.status, 303, await bought.text());
  const location = bought.headers.get("location")!;
  return { location, checkout: await fetch(location) };
}

describe("production build", () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "pgb-built-"));
    dirs.push(dir);
    return dir;
  };
  before(() => {
    const build = spawnSync("npm", ["run", "build"], { encoding: "utf8" });
    assert.equal(build.status, 0, build.stdout + build.stderr);
  });
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("builds dist/main.js and a database template", () => {
    assert.ok(existsSync("dist/main.js"));
    assert.ok(existsSync("dist/pglite-template/PG_VERSION") && existsSync("dist/pglite-template.json"));
    assert.ok(!readdirSync("dist", { recursive: true }).some((f) => String(f).endsWith(".ts") && !String(f).endsWith(".d.ts")), "no TypeScript left to run");
  });

  it("node dist/main.js starts on a new data folder, serves the contract and the demo, and stops on SIGTERM", async () => {
    const port = await freePort();
    const dir = join(dataDir(), "data");
    const pgb = await start(process.execPath, ["dist/main.js"], { PORT: String(port), PGB_DATA_DIR: dir, DATABASE_URL: "", PGB_PUBLIC_URL: "" }, port);
    try {
      const ready = /"startupMs":(\d+)/.exec(pgb.output());
      console.log(`# built server ready on a new data folder in ${ready?.[1]} ms (timing is the benchmark's business; printed only)`);
      assert.ok(existsSync(join(dir, "PG_VERSION")), "the data folder was created");
      const doc = (await (await fetch(`${pgb.url}/openapi.json`)).json()) as { openapi: string };
      assert.equal(doc.openapi, "3.1.0");
      const { location, checkout } = await buyOnDemo(pgb.url);
      assert.ok(location.startsWith(`${pgb.url}/test-pg/checkout/`), location);
      assert.equal(checkout.status, 200);
    } finally {
      assert.equal(await pgb.stop(), 0, pgb.output().slice(-2000));
    }
  });

  it("PORT=18181 npm start: the demo's Buy lands on the checkout page on port 18181", async (t) => {
    const busy = await fetch("http://127.0.0.1:18181/").then(
      () => true,
      () => false,
    );
    if (busy) return t.skip("port 18181 is taken on this machine");
    const pgb = await start("npm", ["start"], { PORT: "18181", PGB_DATA_DIR: join(dataDir(), "data"), DATABASE_URL: "", PGB_PUBLIC_URL: "", HOST: "" }, 18181);
    try {
      const { location, checkout } = await buyOnDemo(pgb.url);
      assert.match(location, /^http:\/\/127\.0\.0\.1:18181\/test-pg\/checkout\//);
      assert.equal(checkout.status, 200);
      assert.match(await checkout.text(), /15000/);
    } finally {
      await pgb.stop();
    }
  });

  it("passes the end-to-end flows suite against the built code", () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PGB_TEST_BUILT: "1" };
    delete env.NODE_TEST_CONTEXT;
    const flows = readdirSync("test/flows")
      .filter((f) => f.endsWith(".test.ts"))
      .map((f) => join("test/flows", f));
    const run = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=dot", ...flows], { env, encoding: "utf8" });
    assert.equal(run.status, 0, run.stdout.slice(-3000) + run.stderr.slice(-3000));
  });
});
