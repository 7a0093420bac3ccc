/**
 * `pgb`, run as a user runs it (a child process of bin/pgb.mjs, `npx pgb` once), against a database
 * a real PGB has written to: help everywhere, exit codes, --json, and what each command does.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { CommanderError } from "commander";
import { buildApp } from "../../src/app.ts";
import { buildProgram } from "../../src/cli/program.ts";
import { parseFileConfig } from "../../src/config/config.ts";
import { refuseRoutesBeyondCapabilities } from "../../src/config/route-capabilities.ts";
import { CONNECTOR_FACTORIES } from "../../src/connectors/registry.ts";
import { openDatabase, type DatabaseHandle } from "../../src/storage/database.ts";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { demoTenant, freePort, hostPost, payStartBody, TEST_PG_SECRET, type TestPgb } from "../support/pgb.ts";
import { scratchDatabase } from "../support/scratch.ts";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function pgb(args: string[], env: Record<string, string>): Run {
  const run = spawnSync(process.execPath, ["bin/pgb.mjs", ...args], { env: { ...process.env, ...env, LOG_LEVEL: "silent" }, encoding: "utf8" });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const json = (run: Run) => JSON.parse(run.stdout) as Record<string, any>;

describe("pgb --help", () => {
  it("runs through npx and prints help with exit 0", () => {
    const run = spawnSync("npx", ["pgb", "--help"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: pgb \[options\] \[command\]/);
    for (const command of ["config", "migrate", "payment", "sync", "notifications", "export", "operator"])
      assert.match(run.stdout, new RegExp(`\\n  ${command}\\b`));
  });

  it("has --help on every command", async () => {
    const paths = [
      ["config"],
      ["config", "check"],
      ["migrate"],
      ["payment"],
      ["payment", "show"],
      ["sync"],
      ["notifications"],
      ["notifications", "replay"],
      ["export"],
      ["operator"],
      ["operator", "create"],
    ];
    // Each in-process (a process each would take seconds), then one as a child process for real.
    for (const path of paths) {
      let printed = "";
      const program = buildProgram();
      for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)])
        command.configureOutput({ writeOut: (text) => (printed += text) });
      await assert.rejects(
        program.parseAsync(["node", "pgb", ...path, "--help"]),
        (e: CommanderError) => e.code === "commander.helpDisplayed" && e.exitCode === 0,
      );
      assert.match(printed, new RegExp(`^Usage: pgb ${path.join(" ")}`), path.join(" "));
    }
    const run = pgb(["export", "--help"], {});
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: pgb export \[options\] <what>/);
    assert.match(run.stdout, /--format <format> +csv \| jsonl/);
  });

  it("exits 2 on bad usage", () => {
    assert.equal(pgb(["frobnicate"], {}).status, 2);
    assert.equal(pgb(["payment", "show", "DEMO", "abc"], {}).status, 2);
  });
});

describe("pgb config check", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgb-cli-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prints what each tenant sells where, as text and as JSON", () => {
    const text = pgb(["config", "check"], { PGB_CONFIG: "config/pgb.example.json", PGB_PUBLIC_URL: "" });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /pgb\.example\.json: valid/);
    assert.match(text.stdout, /DEMO\n {2}TEST +CARD, VIRTUAL_ACCOUNT, TRANSFER, MOBILE_PHONE, EASY_PAY, PAYPAL in every supported nation/);
    const report = json(pgb(["--json", "config", "check"], { PGB_CONFIG: "config/pgb.example.json" }));
    assert.equal(report.valid, true);
    assert.equal(report.tenants.DEMO.offers[0].pg, "TEST");
  });

  it("refuses exactly the routes the server refuses to start with, and a config that does not parse", () => {
    const file = join(dir, "toss-for-cards.json");
    const toss = { secretKey: "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R", clientKey: "test_ck_D5GePWvyJnrK0W0k6q8gLzN97Eoq" };
    // TOSS settles only in KRW: a route sending it cards from every nation stops the server.
    const config = {
      publicUrl: "https://pgb.example.com",
      tenants: {
        SHOP: demoTenant({
          routes: [
            { nationCode: "*", payType: "CARD", pg: "TOSS" },
            { nationCode: "*", payType: "*", pg: "TEST" },
          ],
          pgs: { TEST: { webhookSecret: TEST_PG_SECRET }, TOSS: toss },
        }),
      },
    };
    writeFileSync(file, JSON.stringify(config));
    const report = pgb(["--json", "config", "check", "--config", file], {});
    assert.equal(report.status, 2, report.stderr);
    const serverRefusal = (() => {
      try {
        refuseRoutesBeyondCapabilities(parseFileConfig(config, {}).tenants, (pg) => CONNECTOR_FACTORIES.find((f) => f.pg === pg)?.capabilities);
      } catch (error) {
        return (error as Error).message;
      }
      return undefined;
    })();
    assert.equal(serverRefusal, "config tenants.SHOP.routes[0] (*/CARD → TOSS): TOSS settles only in KRW, and nation * also reaches JPY");
    assert.deepEqual(json(report).tenants.SHOP.problems, [serverRefusal]);
    const text = pgb(["config", "check", "--config", file], {});
    assert.equal(text.status, 2);
    assert.match(text.stdout, /INVALID/);
    assert.ok(text.stdout.includes(`problem: ${serverRefusal}`), text.stdout);

    writeFileSync(file, JSON.stringify({ publicUrl: "not a url", tenants: {} }));
    const bad = pgb(["config", "check", "--config", file], {});
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /config\.publicUrl/);
  });

  it("accepts routes the server starts with, and warns of the pay types a `*` route sends a PG that lacks them", () => {
    const file = join(dir, "toss-in-korea.json");
    const toss = { secretKey: "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R", clientKey: "test_ck_D5GePWvyJnrK0W0k6q8gLzN97Eoq" };
    const config = {
      publicUrl: "https://pgb.example.com",
      tenants: {
        SHOP: demoTenant({
          routes: [
            { nationCode: "KR", payType: "*", pg: "TOSS" },
            { nationCode: "*", payType: "*", pg: "TEST" },
          ],
          pgs: { TEST: { webhookSecret: TEST_PG_SECRET }, TOSS: toss },
        }),
      },
    };
    writeFileSync(file, JSON.stringify(config));
    assert.doesNotThrow(() =>
      refuseRoutesBeyondCapabilities(parseFileConfig(config, {}).tenants, (pg) => CONNECTOR_FACTORIES.find((f) => f.pg === pg)?.capabilities),
    );
    const report = pgb(["--json", "config", "check", "--config", file], {});
    assert.equal(report.status, 0, report.stderr);
    const shop = json(report).tenants.SHOP;
    assert.deepEqual(shop.problems, []);
    assert.deepEqual(shop.warnings, [
      "routes send KR/PAYPAL to TOSS: TOSS does not take PayType PAYPAL (it takes CARD, EASY_PAY, VIRTUAL_ACCOUNT, TRANSFER, MOBILE_PHONE)",
    ]);
    const offers = shop.offers as Array<{ pg: string; nations: string[]; payTypes: string[] }>;
    assert.deepEqual(
      offers.find((o) => o.pg === "TOSS"),
      { pg: "TOSS", payTypes: ["CARD", "VIRTUAL_ACCOUNT", "TRANSFER", "MOBILE_PHONE", "EASY_PAY"], nations: ["KR"] },
    );
    assert.match(pgb(["config", "check", "--config", file], {}).stdout, /valid[\s\S]*warning: routes send KR\/PAYPAL to TOSS/);
  });
});

for (const backend of backends()) {
  describe(`pgb against a PGB database on ${backend}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "pgb-cli-"));
    const configFile = join(dir, "pgb.json");
    let env: Record<string, string>;
    let drop: (() => Promise<void>) | undefined;
    let paid: number;
    let ready: number;
    let deadId: string;

    before(async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const fileConfig = { publicUrl: url, tenants: { DEMO: demoTenant() } };
      writeFileSync(configFile, JSON.stringify(fileConfig));
      let database: DatabaseHandle;
      if (backend === "pglite") {
        env = { PGB_CONFIG: configFile, PGB_DATA_DIR: join(dir, "data"), DATABASE_URL: "" };
        database = await openDatabase({ kind: "pglite", dataDir: join(dir, "data") });
      } else {
        const scratch = await scratchDatabase(process.env.TEST_DATABASE_URL!);
        drop = scratch.drop;
        env = { PGB_CONFIG: configFile, DATABASE_URL: scratch.url };
        database = await openDatabase({ kind: "postgres", url: scratch.url });
      }
      // A real PGB writes the data: a paid order partly refunded, an open checkout, a DEAD notification.
      const app = await buildApp({ config: parseFileConfig(fileConfig, {}), database });
      await app.app.listen({ port, host: "127.0.0.1" });
      const server = { ...app, url } as unknown as TestPgb;
      paid = (await paidOrder(server)).orderId;
      const cancel = await hostPost(server, "/PGB/PartialCancel", {
        DBType: "DEMO",
        OrderId: paid,
        RefundPrice: "5000",
        CurrentTotalPrice: "15000",
        ModifedTotalPrice: "10000",
        JoinerId: 42,
        NationCode: "KR",
      });
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      const open = payStartBody();
      assert.equal((await hostPost(server, "/PGB/PayStart", open)).status, 200);
      ready = Number(open.OrderId);
      const first = await database.db.selectFrom("notifications").select("id").where("order_id", "=", paid).orderBy("seq").executeTakeFirstOrThrow();
      deadId = first.id;
      await database.db.updateTable("notifications").set({ status: "DEAD" }).where("id", "=", deadId).execute();
      await app.app.close();
      await database.close();
    });
    after(async () => {
      await drop?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it("migrate: up to date on a PGB database", () => {
      const run = pgb(["--json", "migrate"], env);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(json(run).applied, []);
    });

    it("payment show: the order's state and amounts; exit 1 for an unknown order", () => {
      const run = pgb(["--json", "payment", "show", "DEMO", String(paid)], env);
      assert.equal(run.status, 0, run.stderr);
      const view = json(run);
      assert.equal(view.Status, "PARTIALLY_CANCELLED");
      assert.deepEqual([view.PaidPrice, view.CancelledPrice, view.RemainingPrice], ["15000", "5000", "10000"]);
      const text = pgb(["payment", "show", "DEMO", String(paid)], env);
      assert.match(text.stdout, /PARTIALLY_CANCELLED via TEST/);
      assert.match(text.stdout, /PAID → PARTIALLY_CANCELLED/);
      const missing = pgb(["payment", "show", "DEMO", "999999"], env);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /ORDER_NOT_FOUND/);
    });

    it("notifications replay: a DEAD notification back to PENDING; usage errors exit 2", () => {
      const run = pgb(["--json", "notifications", "replay", "DEMO", "--id", deadId], env);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(json(run).replayed, [deadId]);
      assert.deepEqual(json(pgb(["--json", "notifications", "replay", "DEMO", "--order", String(paid)], env)).replayed, []);
      assert.equal(pgb(["notifications", "replay", "DEMO"], env).status, 2);
      assert.equal(pgb(["notifications", "replay", "DEMO", "--id", "msg_nosuch"], env).status, 1);
    });

    it("sync: asks the TEST PG about an open checkout", () => {
      const run = pgb(["--json", "sync", "DEMO", String(ready)], env);
      assert.equal(run.status, 0, run.stderr);
      const result = json(run);
      assert.equal(result.Status, "READY");
      assert.equal(result.Checks.length, 1);
      assert.equal(pgb(["sync", "DEMO", "999999"], env).status, 1);
    });

    it("operator create: a console operator from PGB_OPERATOR_PASSWORD; bad input exits 2", () => {
      const run = pgb(["--json", "operator", "create", "--username", "opsfinance", "--role", "finance", "--tenants", "DEMO"], {
        ...env,
        PGB_OPERATOR_PASSWORD: "correct horse battery",
      });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(json(run), { username: "opsfinance", role: "finance", tenants: ["DEMO"] });
      assert.equal(pgb(["operator", "create", "--username", "x", "--role", "emperor"], { ...env, PGB_OPERATOR_PASSWORD: "correct horse battery" }).status, 2);
      assert.equal(pgb(["operator", "create", "--username", "y"], { ...env, PGB_OPERATOR_PASSWORD: "short" }).status, 2);
    });

    it("export: payments and refunds as CSV and JSON lines, filtered, with nothing but rows when piped", () => {
      const range = ["--from", "2000-01-01", "--to", "2100-01-01"];
      const csv = pgb(["export", "payments", ...range, "--format", "csv"], env);
      assert.equal(csv.status, 0, csv.stderr);
      assert.equal(csv.stderr, "", "no progress bar when stderr is not a terminal");
      const lines = csv.stdout.trim().split("\n");
      assert.equal(
        lines[0],
        "PaymentId,DBType,OrderId,JoinerId,Status,PGType,PayType,NationCode,Currency,TotalPrice,RefundedPrice,PGTransactionId,CreatedAt,PaidAt",
      );
      assert.equal(lines.length, 3);
      assert.ok(
        lines.some((l) => l.includes(`,DEMO,${paid},42,PARTIALLY_CANCELLED,TEST,CARD,KR,KRW,15000,5000,`)),
        csv.stdout,
      );

      const refunds = pgb(["export", "refunds", ...range, "--format", "jsonl"], env)
        .stdout.trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(refunds.length, 1);
      assert.equal(refunds[0]!.RefundPrice, "5000");
      assert.equal(refunds[0]!.OrderId, paid);

      assert.equal(
        pgb(["export", "payments", ...range, "--tenant", "OTHER"], env)
          .stdout.trim()
          .split("\n").length,
        1,
        "header only",
      );
      assert.equal(pgb(["export", "payments", "--from", "2000-01-01", "--to", "2000-01-02", "--format", "jsonl"], env).stdout, "");
      const out = join(dir, "out.jsonl");
      assert.equal(pgb(["export", "payments", ...range, "--format", "jsonl", "-o", out], env).status, 0);
      assert.equal(readFileSync(out, "utf8").trim().split("\n").length, 2);
      assert.equal(pgb(["export", "payments", ...range, "--format", "xml"], env).status, 2);
      assert.equal(pgb(["export", "everything", ...range], env).status, 2);
    });
  });
}
