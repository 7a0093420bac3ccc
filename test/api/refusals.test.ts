/**
 * Issue 9, "refusing what is not ours", attacked the way an anonymous caller would: oversized and
 * forged webhook bodies, floods from one address, NUL characters, hostile request ids, slow bodies,
 * minted TEST checkout ids and cross-site form posts.
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import { createLogger } from "../../src/logging.ts";
import { startWorkers } from "../../src/workers/index.ts";
import { backends } from "../support/backends.ts";
import { openCheckout, submitCheckoutForm } from "../support/checkout.ts";
import { freePort, hostGet, hostPost, OTHER_KEY, payStartBody, startPgb, TEST_PG_SECRET, type TestPgb } from "../support/pgb.ts";

async function rowCount(pgb: TestPgb): Promise<number> {
  const row = await pgb.database.db
    .selectFrom("pg_webhooks")
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

function forgedHeaders(ip?: string): Record<string, string> {
  return {
    "content-type": "application/json",
    "webhook-id": "evt_forged",
    "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
    "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ...(ip ? { "x-forwarded-for": ip } : {}),
  };
}

for (const backend of backends()) {
  describe(`webhook intake refuses what is not a PG's on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => {
      await pgb.close();
    });

    it("answers 20 forged 1 MB bodies 413 without storing anything (the TEST PG never sends more than 16 KiB)", async () => {
      const before = await rowCount(pgb);
      const megabyte = JSON.stringify({ id: "evt_x", pad: "x".repeat(1024 * 1024) });
      for (let i = 0; i < 20; i++) {
        const response = await fetch(`${pgb.url}/PGBReturn/test/webhook/DEMO`, { method: "POST", headers: forgedHeaders(), body: megabyte });
        assert.equal(response.status, 413);
        assert.equal(((await response.json()) as { received: boolean }).received, false);
      }
      assert.equal(await rowCount(pgb), before);
    });

    it("keeps only a short excerpt, the SHA-256 and the size of each forged body it stores as REJECTED", async () => {
      const body = JSON.stringify({ id: "evt_forged", type: "payment.updated", pad: "y".repeat(15_000) });
      const bytes = Buffer.byteLength(body);
      const sha = createHash("sha256").update(body).digest("hex");
      for (let i = 0; i < 20; i++) {
        const response = await fetch(`${pgb.url}/PGBReturn/test/webhook/DEMO`, { method: "POST", headers: forgedHeaders(), body });
        assert.equal(response.status, 400);
      }
      const rows = await sql<{ body: string; body_sha256: string; body_bytes: number }>`
        SELECT body, body_sha256, body_bytes FROM pg_webhooks WHERE status = 'REJECTED' AND body_sha256 = ${sha}`.execute(pgb.database.db);
      assert.equal(rows.rows.length, 20);
      for (const row of rows.rows) {
        assert.ok(row.body.length <= 512, `excerpt of ${row.body.length} characters`);
        assert.ok(body.startsWith(row.body));
        assert.equal(Number(row.body_bytes), bytes);
      }
    });

    it("stores a forged body holding a NUL byte as REJECTED instead of failing with 500", async () => {
      const body = Buffer.concat([Buffer.from('{"id":"evt_nul","x":"'), Buffer.from([0]), Buffer.from('"}')]);
      const response = await fetch(`${pgb.url}/PGBReturn/test/webhook/DEMO`, { method: "POST", headers: forgedHeaders(), body });
      assert.equal(response.status, 400);
      const sha = createHash("sha256").update(body).digest("hex");
      const stored = await sql<{ n: string }>`SELECT count(*)::text AS n FROM pg_webhooks WHERE body_sha256 = ${sha}`.execute(pgb.database.db);
      assert.equal(stored.rows[0]!.n, "1");
    });

    it("answers 404 to a webhook for a PG PGB does not know, reading at most 1 KiB of it", async () => {
      const response = await fetch(`${pgb.url}/PGBReturn/nosuchpg/webhook/DEMO`, { method: "POST", headers: forgedHeaders(), body: "z".repeat(4096) });
      assert.equal(response.status, 413);
      const small = await fetch(`${pgb.url}/PGBReturn/nosuchpg/webhook/DEMO`, { method: "POST", headers: forgedHeaders(), body: "{}" });
      assert.equal(small.status, 404);
    });

    it("purges REJECTED and ignored webhooks older than the retention (7 days by default) on the retrier's tick, and keeps the rest", async () => {
      const db = pgb.database.db;
      const insert = (event: string, status: string, ageDays: number, action: string | null) =>
        sql`INSERT INTO pg_webhooks (pg, tenant, event_id, status, headers, body, action, received_at)
            VALUES ('TEST', 'DEMO', ${event}, ${status}, '{}'::jsonb, 'x', ${action}::jsonb, now() - ${ageDays} * interval '1 day')`.execute(db);
      const tag = `ret-${Date.now()}`;
      await insert(`${tag}-rejected-old`, "REJECTED", 8, null);
      await insert(`${tag}-rejected-recent`, "REJECTED", 6, null);
      await insert(`${tag}-ignored-old`, "PROCESSED", 8, JSON.stringify({ kind: "ignored", eventId: "e", reason: "r" }));
      await insert(`${tag}-processed-old`, "PROCESSED", 30, JSON.stringify({ kind: "payment", eventId: "e" }));
      const workers = await startWorkers(pgb, { pollIntervalMs: 20, disable: ["notifications", "reconciler"] });
      try {
        let left: string[] = [];
        for (let i = 0; i < 100; i++) {
          left = (await db.selectFrom("pg_webhooks").select("event_id").where("event_id", "like", `${tag}-%`).execute()).map((r) => r.event_id).sort();
          if (left.length === 2) break;
          await sleep(20);
        }
        assert.deepEqual(left, [`${tag}-processed-old`, `${tag}-rejected-recent`]);
      } finally {
        await workers.stop();
      }
    });
  });

  describe(`webhook rate limit per source address and tenant on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend, { config: { http: { webhookRateLimit: { max: 5, windowMs: 60_000 } } } });
    });
    after(async () => {
      await pgb.close();
    });

    it("answers 429 past the limit for one address and tenant, while another address or tenant is still heard", async () => {
      const post = (tenant: string, ip: string) =>
        fetch(`${pgb.url}/PGBReturn/test/webhook/${tenant}`, { method: "POST", headers: forgedHeaders(ip), body: "{}" });
      const before = await rowCount(pgb);
      for (let i = 0; i < 5; i++) assert.equal((await post("DEMO", "203.0.113.7")).status, 400);
      const limited = await post("DEMO", "203.0.113.7");
      assert.equal(limited.status, 429);
      assert.ok(limited.headers.get("retry-after"), "tells the sender when to retry");
      assert.match(((await limited.json()) as { error: string }).error, /too many webhooks from this address for this tenant/);
      assert.equal((await post("DEMO", "203.0.113.8")).status, 400);
      assert.equal((await post("OTHER", "203.0.113.7")).status, 400);
      assert.equal(await rowCount(pgb), before + 7, "the limited request stored nothing");
    });
  });

  describe(`the TEST PG refuses minted and cross-site requests on ${backend}`, () => {
    let pgb: TestPgb;
    let attacker: Server;
    let attackerUrl: string;
    const attackerHits: string[] = [];
    before(async () => {
      pgb = await startPgb(backend);
      const port = await freePort();
      attacker = createServer((request, response) => {
        attackerHits.push(`${request.method} ${request.url}`);
        response.end();
      });
      await new Promise<void>((resolve) => attacker.listen(port, "127.0.0.1", resolve));
      attackerUrl = `http://127.0.0.1:${port}`;
    });
    after(async () => {
      await pgb.close();
      await new Promise((resolve) => attacker.close(resolve));
    });

    it("takes the return and webhook URLs from PGB's publicUrl: a checkout id minted with the secret cannot redirect off-site or make the PG POST elsewhere", async () => {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody());
      const genuine = String(started.body.RedirectUrl).split("/").pop()!;
      const claims = JSON.parse(Buffer.from(genuine.slice(3).split(".")[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
      // What the old id format carried, and what anyone holding the example secret could sign.
      const minted = { ...claims, k: `minted-${Date.now()}`, u: "https://evil.example/phish", w: `${attackerUrl}/ssrf` };
      const key = createHash("sha256").update(`TEST PG checkout ids|${TEST_PG_SECRET}`).digest();
      const body = Buffer.from(JSON.stringify(minted)).toString("base64url");
      const id = `tp_${body}.${createHmac("sha256", key).update(body).digest("base64url").slice(0, 32)}`;

      const form = await openCheckout(`${pgb.url}/test-pg/checkout/${id}`);
      assert.equal(form.status, 200);
      const paid = await submitCheckoutForm(`${pgb.url}/test-pg/checkout/${id}/pay`, "pay", form);
      assert.equal(paid.status, 303);
      const location = new URL(paid.headers.get("location")!);
      assert.equal(location.origin, pgb.url, "the browser stays on PGB");
      assert.equal(location.pathname, `/PGBReturn/test/return/${String(claims.r)}`);
      await sleep(500);
      assert.deepEqual(attackerHits, [], "the TEST PG posted nothing to the attacker's URL");
    });

    it("sends anti-framing headers and refuses a form post without the page's CSRF token", async () => {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody());
      const checkoutUrl = String(started.body.RedirectUrl);
      const page = await fetch(checkoutUrl);
      assert.equal(page.headers.get("x-frame-options"), "DENY");
      assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
      await page.arrayBuffer();

      // A cross-site form: no cookie, no token (or a token without its cookie).
      const bare = await fetch(`${checkoutUrl}/pay`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "go=pay",
        redirect: "manual",
      });
      assert.equal(bare.status, 403);
      const form = await openCheckout(checkoutUrl);
      const tokenOnly = await submitCheckoutForm(`${checkoutUrl}/pay`, "pay", { cookie: "", token: form.token });
      assert.equal(tokenOnly.status, 403);
      const wrongToken = await submitCheckoutForm(`${checkoutUrl}/pay`, "pay", { cookie: form.cookie, token: "forged-token" });
      assert.equal(wrongToken.status, 403);
      const view = await hostGet(
        pgb,
        `/PGB/Payment?DBType=DEMO&OrderId=${(await pgb.database.db.selectFrom("payments").select("order_id").where("id", "=", String(started.body.PaymentId)).executeTakeFirstOrThrow()).order_id}`,
      );
      assert.equal(view.body.Status, "READY", "nothing was paid");
      assert.match((await openCheckout(checkoutUrl)).html, /OPEN/);

      const ok = await submitCheckoutForm(`${checkoutUrl}/pay`, "pay", form);
      assert.equal(ok.status, 303);
    });
  });

  describe(`the host API's edge on ${backend}`, () => {
    let pgb: TestPgb;
    const lines: string[] = [];
    before(async () => {
      const stream = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      });
      pgb = await startPgb(backend, { logger: createLogger("info", stream), config: { http: { requestTimeoutMs: 1000, connectionTimeoutMs: 1500 } } });
    });
    after(async () => {
      await pgb.close();
    });

    it("answers 400 INVALID_FIELD, not 500, to a NUL character in any string field, and writes nothing", async () => {
      const body = payStartBody({ OrderDescription: "card 4111111111111111\u0000" });
      const answer = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(answer.status, 400);
      assert.equal(answer.body.ErrorCode, "INVALID_FIELD");
      assert.match(String(answer.body.ErrorMessage), /OrderDescription/);
      const rows = await pgb.database.db.selectFrom("payments").select("id").where("order_id", "=", Number(body.OrderId)).execute();
      assert.equal(rows.length, 0);

      const inKey = await hostPost(pgb, "/PGB/PayStart", `{"DBType":"DEMO","Order\\u0000Id":1}`);
      assert.equal(inKey.status, 400);
      assert.equal(inKey.body.ErrorCode, "INVALID_FIELD");
      const inQuery = await hostGet(pgb, "/PGB/Payment?DBType=DEMO%00&OrderId=1");
      assert.equal(inQuery.status, 400);
      assert.equal(inQuery.body.ErrorCode, "INVALID_FIELD");
      const cancel = await hostPost(pgb, "/PGB/PartialCancel", {
        DBType: "DEMO",
        OrderId: 1,
        RefundPrice: "1\u0000",
        CurrentTotalPrice: "2",
        ModifedTotalPrice: "1",
        JoinerId: 1,
        NationCode: "KR",
      });
      assert.equal(cancel.body.ErrorCode, "INVALID_FIELD");
      assert.ok(!lines.join("").includes("4111111111111111"), "no card number in any log line");
    });

    it("accepts a client's X-Request-Id only as a short safe token, and generates one otherwise", async () => {
      const send = async (id: string) => (await fetch(`${pgb.url}/health/live`, { headers: { "x-request-id": id } })).headers.get("x-request-id");
      assert.equal(await send("host-7f3a.42:1"), "host-7f3a.42:1");
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
      for (const hostile of ["<script>alert(1)</script>", "4111111111111111", "x".repeat(65), "a b"]) {
        const answered = await send(hostile);
        assert.match(answered ?? "", uuid, `${hostile} was replaced`);
      }
      assert.ok(!lines.join("").includes("<script>"));
      assert.ok(!lines.join("").includes("4111111111111111"));
    });

    it("logs one access line per request with method, route, status and duration (no empty req/res objects)", async () => {
      lines.length = 0;
      await hostGet(pgb, "/PGB/Payment?DBType=DEMO&OrderId=424242", OTHER_KEY);
      const access = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === "request");
      assert.equal(access.length, 1, lines.join(""));
      const entry = access[0]!;
      assert.equal(entry.method, "GET");
      assert.equal(entry.route, "/PGB/Payment");
      assert.equal(entry.status, 403);
      assert.equal(typeof entry.durationMs, "number");
      assert.equal(typeof entry.reqId, "string");
      assert.ok(!lines.join("").includes('"req":{}') && !lines.join("").includes('"res":{}'));
    });

    it("closes a connection that opens and sends nothing (connectionTimeoutMs)", async () => {
      const { port, hostname } = new URL(pgb.url);
      const startedAt = Date.now();
      const socket = connect(Number(port), hostname);
      socket.on("error", () => undefined);
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      await Promise.race([closed, sleep(10_000)]);
      const elapsed = Date.now() - startedAt;
      socket.destroy();
      assert.ok(elapsed < 5_000, `the idle connection stayed open ${elapsed} ms`);
    });

    it("cuts off a body trickled in slower than requestTimeoutMs on the unauthenticated webhook path", async () => {
      const { port, hostname } = new URL(pgb.url);
      const startedAt = Date.now();
      const socket = connect(Number(port), hostname);
      let answer = "";
      socket.on("data", (chunk) => (answer += String(chunk)));
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.on("error", () => undefined);
      socket.write("POST /PGBReturn/test/webhook/DEMO HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
      const trickle = setInterval(() => socket.writable && socket.write("x"), 300);
      await Promise.race([closed, sleep(10_000)]);
      clearInterval(trickle);
      const elapsed = Date.now() - startedAt;
      socket.destroy();
      assert.ok(elapsed < 5_000, `the connection stayed open ${elapsed} ms`);
      assert.match(answer, /^HTTP\/1\.1 408/);
    });
  });
}
