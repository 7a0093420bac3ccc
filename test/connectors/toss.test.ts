/**
 * The Toss connector driven through the Connector interface against the Toss simulator, with its
 * own table in an in-memory PGlite.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import Fastify from "fastify";
import { sql } from "kysely";
import { pino } from "pino";
import { money } from "../../src/core/money.ts";
import type { PayType } from "../../src/core/pay-type.ts";
import {
  ConnectorError,
  type Connector,
  type PgPayment,
  type CheckoutInput,
  type PaymentRef,
  type RefundInput,
  type RefundRef,
} from "../../src/core/ports/connector.ts";
import { type ConnectorDeps } from "../../src/connectors/factory.ts";
import { tossConnector } from "../../src/connectors/toss/index.ts";
import { systemClock } from "../../src/core/system-clock.ts";
import { migrate, openDatabase, type DatabaseHandle } from "../../src/storage/database.ts";
import { connectorStorageOf } from "../../src/storage/connector-storage.ts";
import { TossSimulator, type TossSimulatorOptions } from "../simulators/toss/simulator.ts";
import { brand, type PaymentId, type PgTransactionId, type RefundId } from "../../src/core/ids.ts";

const SECRET_KEY = "test_sk_simulatorSecretKey0001";
const CLIENT_KEY = "test_ck_simulatorClientKey0001";
const PUBLIC_URL = "http://pgb.test";

let clock = Date.parse("2026-03-02T01:00:00Z");
const now = (): Date => new Date(clock);

let sim: TossSimulator;
/** Kept so a test can switch one of the simulator's behaviours (method answered null...) and back. */
const simOptions: TossSimulatorOptions = { secretKey: SECRET_KEY, clientKey: CLIENT_KEY, now };
let handle: DatabaseHandle;
let deps: ConnectorDeps;
let toss: Connector;
let orderSeq = 1000;

/** Collects the webhooks the simulator sends, as raw bytes, like PGB's intake would see them. */
let receiver: Server;
let received: Buffer[] = [];

function connector(overrides: Record<string, unknown> = {}): Connector {
  const settings = tossConnector.settingsSchema.parse({
    secretKey: SECRET_KEY,
    clientKey: CLIENT_KEY,
    apiBase: sim.url,
    sdkScriptUrl: sim.sdkScriptUrl,
    timeoutMs: 2_000,
    ...overrides,
  });
  return tossConnector.create(settings, { tenant: "shop", deps });
}

interface Started {
  paymentId: string;
  amount: number;
}

async function startCheckout(payType: PayType, amount: number, options: { expiresInMs?: number; description?: string } = {}): Promise<Started> {
  const paymentId = `pay_${randomUUID().replaceAll("-", "")}`;
  await toss.createCheckout({
    paymentId: brand<PaymentId>(paymentId),
    tenant: "shop",
    orderId: orderSeq++,
    joinerId: 7,
    amount: money(BigInt(amount), "KRW"),
    payType,
    nationCode: "KR",
    description: options.description ?? "테스트 상품 외 1건",
    returnUrl: `${PUBLIC_URL}/PGBReturn/toss/return/${paymentId}`,
    webhookUrl: `${PUBLIC_URL}/PGB/webhooks/shop/TOSS`,
    expiresAt: new Date(Date.now() + (options.expiresInMs ?? 30 * 60_000)),
    idempotencyKey: `paystart-${paymentId}`,
  });
  return { paymentId, amount };
}

function returnWith(started: Started, query: Record<string, string>): Promise<PgPayment> {
  return toss.handleReturn({
    pgTransactionId: brand<PgTransactionId>(started.paymentId),
    paymentReference: brand<PaymentId>(started.paymentId),
    amount: money(BigInt(started.amount), "KRW"),
    query,
  });
}

/** Authenticates in the simulator and comes back on the success URL, as the browser would. */
async function payAndReturn(started: Started, method: "CARD" | "VIRTUAL_ACCOUNT"): Promise<{ paymentKey: string; result: PgPayment }> {
  const paymentKey = sim.authorize(started.paymentId, started.amount, method);
  const result = await returnWith(started, { paymentType: "NORMAL", paymentKey, orderId: started.paymentId, amount: String(started.amount) });
  return { paymentKey, result };
}

function confirmRequests(): number {
  return sim.requests.filter((r) => r.path === "/v1/payments/confirm").length;
}

async function rejects(promise: Promise<unknown>, errorClass: string, pgCode: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConnectorError, `expected a ConnectorError, got ${String(error)}`);
    assert.equal(error.errorClass, errorClass);
    assert.equal(error.pgCode, pgCode);
    return true;
  });
}

before(async () => {
  sim = await TossSimulator.start(simOptions);
  handle = await openDatabase({ kind: "pglite" });
  await migrate(handle.db, tossConnector.migrations);
  deps = { storage: connectorStorageOf(handle.db), logger: pino({ level: "silent" }), publicUrl: PUBLIC_URL, clock: systemClock };
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push(Buffer.concat(chunks));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  sim.configureWebhooks({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/` });
  toss = connector();
});

after(async () => {
  await sim.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await handle.close();
});

beforeEach(() => {
  clock = Date.now();
});

describe("Toss checkout", () => {
  it("createCheckout answers PGB's own Toss page and the payment id as the transaction id, and a retry keeps the same checkout", async () => {
    const paymentId = `pay_${randomUUID().replaceAll("-", "")}`;
    const input: CheckoutInput = {
      paymentId: brand<PaymentId>(paymentId),
      tenant: "shop",
      orderId: orderSeq++,
      joinerId: 7,
      amount: money(15000n, "KRW"),
      payType: "CARD" as const,
      nationCode: "KR",
      description: "티셔츠",
      returnUrl: `${PUBLIC_URL}/PGBReturn/toss/return/${paymentId}`,
      webhookUrl: `${PUBLIC_URL}/hooks`,
      expiresAt: new Date(Date.now() + 60_000),
      idempotencyKey: "k1",
    };
    const first = await toss.createCheckout(input);
    const second = await toss.createCheckout(input);
    assert.deepEqual(first, { pgTransactionId: paymentId, checkoutUrl: `${PUBLIC_URL}/PGBReturn/toss/checkout/${paymentId}` });
    assert.deepEqual(second, first);
  });

  it("createCheckout refuses a non-KRW payment and a PayType Toss cannot take as fatal misconfiguration", async () => {
    const base: Omit<CheckoutInput, "amount" | "payType"> = {
      paymentId: brand<PaymentId>(`pay_${randomUUID().replaceAll("-", "")}`),
      tenant: "shop",
      orderId: orderSeq++,
      joinerId: 7,
      nationCode: "KR",
      description: "x",
      returnUrl: `${PUBLIC_URL}/r`,
      webhookUrl: `${PUBLIC_URL}/w`,
      expiresAt: new Date(Date.now() + 60_000),
      idempotencyKey: "k",
    };
    await rejects(toss.createCheckout({ ...base, amount: money(1999n, "USD"), payType: "CARD" }), "fatal", "UNSUPPORTED_CURRENCY");
    await rejects(toss.createCheckout({ ...base, amount: money(1000n, "KRW"), payType: "PAYPAL" }), "fatal", "UNSUPPORTED_PAY_TYPE");
  });

  it("The checkout page loads the configured SDK with the tenant's client key and the exact order, escaped, and refuses unknown or expired checkouts", async () => {
    const app = Fastify();
    await tossConnector.registerRoutes!(app, {
      ...deps,
      tenantsWithSettings: () => [
        { tenant: "shop", settings: tossConnector.settingsSchema.parse({ secretKey: SECRET_KEY, clientKey: CLIENT_KEY, sdkScriptUrl: sim.sdkScriptUrl }) },
      ],
      acceptWebhook: async () => ({ status: 200, body: {} }),
    });
    const started = await startCheckout("VIRTUAL_ACCOUNT", 12345, { description: `</script><script>alert("x")</script> & 상품` });
    const ok = await app.inject({ method: "GET", url: `/PGBReturn/toss/checkout/${started.paymentId}` });
    assert.equal(ok.statusCode, 200);
    assert.match(ok.headers["content-type"] as string, /text\/html/);
    assert.ok(ok.body.includes(`<script src="${sim.sdkScriptUrl}"></script>`));
    assert.ok(ok.body.includes(CLIENT_KEY));
    assert.ok(!ok.body.includes(SECRET_KEY), "the secret key never reaches the browser");
    assert.ok(!ok.body.includes(`</script><script>alert`), "the order name cannot break out of the page");
    const json = /<script id="toss-request" type="application\/json">(.*?)<\/script>/s.exec(ok.body)?.[1];
    assert.ok(json !== undefined);
    const request = JSON.parse(json) as { clientKey: string; payment: Record<string, unknown> };
    assert.deepEqual(request.payment, {
      method: "VIRTUAL_ACCOUNT",
      amount: { currency: "KRW", value: 12345 },
      orderId: started.paymentId,
      orderName: `</script><script>alert("x")</script> & 상품`,
      successUrl: `${PUBLIC_URL}/PGBReturn/toss/return/${started.paymentId}`,
      failUrl: `${PUBLIC_URL}/PGBReturn/toss/return/${started.paymentId}?result=fail`,
    });

    const unknown = await app.inject({ method: "GET", url: `/PGBReturn/toss/checkout/pay_nope` });
    assert.equal(unknown.statusCode, 404);
    await toss.expireCheckout({ pgTransactionId: brand<PgTransactionId>(started.paymentId), paymentReference: brand<PaymentId>(started.paymentId) });
    const expired = await app.inject({ method: "GET", url: `/PGBReturn/toss/checkout/${started.paymentId}` });
    assert.equal(expired.statusCode, 410);
    assert.ok(!expired.body.includes("toss-request"));
    await app.close();
  });
});

describe("Toss card payments", () => {
  it("A card payment confirmed on the success return is PAID under Toss's paymentKey, with one confirm", async () => {
    const started = await startCheckout("CARD", 15000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    assert.equal(result.status, "PAID");
    assert.equal(result.pgTransactionId, paymentKey);
    assert.equal(result.paymentReference, started.paymentId);
    assert.deepEqual(result.amount, money(15000n, "KRW"));
    assert.equal(result.details?.paymentKey, paymentKey);
    assert.equal(result.details?.method, "CARD", "Toss's Korean 카드 is normalised");
    assert.equal(sim.payment(paymentKey)?.status, "DONE");
    const fetched = await toss.fetchPayment({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      details: result.details,
    });
    assert.equal(fetched.status, "PAID");
  });

  it("The confirm carries Basic auth with the secret key and an Idempotency-Key derived from the payment and paymentKey", async () => {
    const started = await startCheckout("CARD", 1000);
    const { paymentKey } = await payAndReturn(started, "CARD");
    const confirm = sim.requests.filter((r) => r.path === "/v1/payments/confirm").at(-1);
    assert.equal(confirm?.status, 200);
    assert.match(confirm?.idempotencyKey ?? "", /^pgb-confirm-[0-9a-f]{64}$/);
    assert.ok(!confirm!.idempotencyKey!.includes(paymentKey));
  });

  it("A browser return repeated after the confirm answers the same payment without confirming twice", async () => {
    const started = await startCheckout("CARD", 2000);
    const confirmsBefore = sim.effectiveConfirms;
    const { paymentKey } = await payAndReturn(started, "CARD");
    const again = await returnWith(started, { paymentKey, orderId: started.paymentId, amount: "2000" });
    assert.equal(again.status, "PAID");
    assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
  });

  it("A fail return, forged or genuine, ends nothing Toss has not ended: Toss's record answers, and a success return afterwards is confirmed", async () => {
    const started = await startCheckout("CARD", 3000);
    const forged = await returnWith(started, {
      result: "fail",
      code: "REJECT_CARD_COMPANY",
      message: "결제 승인이 거절되었습니다.",
      orderId: started.paymentId,
    });
    assert.equal(forged.status, "PENDING", "no payment at Toss yet: still open");
    const { result } = await payAndReturn(started, "CARD");
    assert.equal(result.status, "PAID");
  });

  it("A card the issuer rejects is FAILED with Toss's code and message, read from Toss's record", async () => {
    const started = await startCheckout("CARD", 3100);
    const paymentKey = sim.authorize(started.paymentId, 3100, "CARD");
    const aborted = sim.payment(paymentKey)!;
    aborted.status = "ABORTED";
    aborted.failure = { code: "REJECT_CARD_COMPANY", message: "결제 승인이 거절되었습니다." };
    const result = await returnWith(started, { code: "REJECT_CARD_COMPANY", message: "whatever the URL says", orderId: started.paymentId });
    assert.equal(result.status, "FAILED");
    assert.deepEqual(result.failure, { code: "REJECT_CARD_COMPANY", message: "결제 승인이 거절되었습니다." });
  });

  it("An amount altered in the return URL is refused as AMOUNT_MISMATCH without calling Toss's confirm", async () => {
    const started = await startCheckout("CARD", 50000);
    const paymentKey = sim.authorize(started.paymentId, 100, "CARD"); // the customer's window was tampered to 100 won
    const before = confirmRequests();
    const result = await returnWith(started, { paymentKey, orderId: started.paymentId, amount: "100" });
    assert.equal(result.status, "FAILED");
    assert.equal(result.failure?.code, "AMOUNT_MISMATCH");
    assert.equal(confirmRequests(), before, "no confirm was sent");
    assert.equal(sim.payment(paymentKey)?.status, "IN_PROGRESS");
  });

  it("An amount written differently (decimals, sign, padding) is not accepted as the stored amount", async () => {
    const started = await startCheckout("CARD", 50000);
    const paymentKey = sim.authorize(started.paymentId, 50000, "CARD");
    const before = confirmRequests();
    for (const amount of ["50000.0", "+50000", "050000", " 50000", "5e4"]) {
      const result = await returnWith(started, { paymentKey, orderId: started.paymentId, amount });
      assert.equal(result.failure?.code, "AMOUNT_MISMATCH", amount);
    }
    assert.equal(confirmRequests(), before);
  });

  it("An orderId altered in the return URL is refused without calling Toss's confirm", async () => {
    const started = await startCheckout("CARD", 5000);
    const other = await startCheckout("CARD", 5000);
    const paymentKey = sim.authorize(other.paymentId, 5000, "CARD");
    const before = confirmRequests();
    const result = await returnWith(started, { paymentKey, orderId: other.paymentId, amount: "5000" });
    assert.equal(result.status, "FAILED");
    assert.equal(result.failure?.code, "ORDER_ID_MISMATCH");
    assert.equal(confirmRequests(), before);
  });

  it("A payment not confirmed within Toss's ten minutes is EXPIRED: the confirm answers 404 NOT_FOUND_PAYMENT_SESSION", async () => {
    const started = await startCheckout("CARD", 8000);
    const paymentKey = sim.authorize(started.paymentId, 8000, "CARD");
    clock += 11 * 60_000;
    const result = await returnWith(started, { paymentKey, orderId: started.paymentId, amount: "8000" });
    assert.equal(result.status, "EXPIRED");
    assert.equal(result.failure?.code, "NOT_FOUND_PAYMENT_SESSION");
    assert.equal(sim.payment(paymentKey)?.status, "EXPIRED");
  });

  it("A checkout the customer never opened reads as PENDING, and as EXPIRED once expired", async () => {
    const started = await startCheckout("CARD", 9000);
    const pending = await toss.fetchPayment({
      pgTransactionId: brand<PgTransactionId>(started.paymentId),
      paymentReference: brand<PaymentId>(started.paymentId),
    });
    assert.equal(pending.status, "PENDING");
    await toss.expireCheckout({ pgTransactionId: brand<PgTransactionId>(started.paymentId), paymentReference: brand<PaymentId>(started.paymentId) });
    const expired = await toss.fetchPayment({
      pgTransactionId: brand<PgTransactionId>(started.paymentId),
      paymentReference: brand<PaymentId>(started.paymentId),
    });
    assert.equal(expired.status, "EXPIRED");
  });

  it("A success return after the checkout was expired is not confirmed", async () => {
    const started = await startCheckout("CARD", 9100);
    const paymentKey = sim.authorize(started.paymentId, 9100, "CARD");
    await toss.expireCheckout({ pgTransactionId: brand<PgTransactionId>(started.paymentId), paymentReference: brand<PaymentId>(started.paymentId) });
    const before = confirmRequests();
    const result = await returnWith(started, { paymentKey, orderId: started.paymentId, amount: "9100" });
    assert.equal(result.status, "EXPIRED");
    assert.equal(confirmRequests(), before);
  });

  it("A wrong secret key is a fatal ConnectorError carrying Toss's UNAUTHORIZED_KEY", async () => {
    const started = await startCheckout("CARD", 1000);
    const wrong = connector({ secretKey: "test_sk_wrongKey" });
    await rejects(
      wrong.fetchPayment({ pgTransactionId: brand<PgTransactionId>(started.paymentId), paymentReference: brand<PaymentId>(started.paymentId) }),
      "fatal",
      "UNAUTHORIZED_KEY",
    );
  });
});

describe("Toss confirm failures", () => {
  it("Toss answering 500 after the confirm took effect is resolved by reading the payment back, with one effective confirm", async () => {
    const started = await startCheckout("CARD", 11000);
    const confirmsBefore = sim.effectiveConfirms;
    sim.failNext(1, 500, "FAILED_INTERNAL_SYSTEM_PROCESSING", { path: "/v1/payments/confirm", afterEffect: true });
    const { result } = await payAndReturn(started, "CARD");
    assert.equal(result.status, "PAID");
    assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
  });

  it("Toss answering 500 before the confirm took effect is retried once with the same Idempotency-Key", async () => {
    const started = await startCheckout("CARD", 12000);
    const confirmsBefore = sim.effectiveConfirms;
    const requestsBefore = sim.requests.length;
    sim.failNext(1, 500, "FAILED_INTERNAL_SYSTEM_PROCESSING", { path: "/v1/payments/confirm" });
    const { result } = await payAndReturn(started, "CARD");
    assert.equal(result.status, "PAID");
    assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
    const confirms = sim.requests.slice(requestsBefore).filter((r) => r.path === "/v1/payments/confirm");
    assert.deepEqual(
      confirms.map((r) => r.status),
      [500, 200],
    );
    assert.equal(confirms[0]!.idempotencyKey, confirms[1]!.idempotencyKey);
  });

  it("A confirm that times out after Toss applied it is resolved by reading the payment back, with one effective confirm", async () => {
    const quick = connector({ timeoutMs: 300 });
    const started = await startCheckout("CARD", 13000);
    const paymentKey = sim.authorize(started.paymentId, 13000, "CARD");
    const confirmsBefore = sim.effectiveConfirms;
    sim.delayNext(1_000, { path: "/v1/payments/confirm" });
    const result = await quick.handleReturn({
      pgTransactionId: brand<PgTransactionId>(started.paymentId),
      paymentReference: brand<PaymentId>(started.paymentId),
      amount: money(13000n, "KRW"),
      query: { paymentKey, orderId: started.paymentId, amount: "13000" },
    });
    assert.equal(result.status, "PAID");
    assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
  });

  it("PROVIDER_ERROR on every confirm attempt is indeterminate and nothing is confirmed", async () => {
    const started = await startCheckout("CARD", 14000);
    const paymentKey = sim.authorize(started.paymentId, 14000, "CARD");
    const confirmsBefore = sim.effectiveConfirms;
    sim.failNext(2, 400, "PROVIDER_ERROR", { path: "/v1/payments/confirm" });
    await rejects(returnWith(started, { paymentKey, orderId: started.paymentId, amount: "14000" }), "indeterminate", "PROVIDER_ERROR");
    assert.equal(sim.effectiveConfirms, confirmsBefore);
    assert.equal(sim.payment(paymentKey)?.status, "IN_PROGRESS");
  });

  it("ALREADY_PROCESSED_PAYMENT on confirm reads the payment back instead of failing", async () => {
    const started = await startCheckout("CARD", 15500);
    const paymentKey = sim.authorize(started.paymentId, 15500, "CARD");
    // Confirmed at Toss by a call PGB has no record of (a crash before PGB noted the answer, say).
    const direct = await fetch(`${sim.url}/v1/payments/confirm`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${SECRET_KEY}:`).toString("base64")}`,
        "content-type": "application/json",
        "idempotency-key": randomUUID(),
      },
      body: JSON.stringify({ paymentKey, orderId: started.paymentId, amount: 15500 }),
    });
    assert.equal(direct.status, 200);
    const result = await returnWith(started, { paymentKey, orderId: started.paymentId, amount: "15500" });
    assert.equal(result.status, "PAID");
    assert.equal(result.pgTransactionId, paymentKey);
    const confirms = sim.requests.filter((r) => r.path === "/v1/payments/confirm");
    assert.equal(confirms.at(-1)?.status, 400, "Toss answered ALREADY_PROCESSED_PAYMENT");
  });
});

describe("Toss virtual accounts", () => {
  it("A virtual account is issued as WAITING_FOR_DEPOSIT with bank, number, holder and due date, and is PAID once deposited", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 33000);
    const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    assert.equal(result.status, "WAITING_FOR_DEPOSIT");
    assert.equal(result.virtualAccount?.bank, "우리은행");
    assert.match(result.virtualAccount?.accountNumber ?? "", /^X[0-9]{13}$/);
    assert.equal(result.virtualAccount?.holderName, "홍길동");
    assert.match(result.virtualAccount?.dueDate ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$/);
    assert.equal(result.details?.secret, sim.payment(paymentKey)?.secret);
    assert.equal(result.details?.method, "VIRTUAL_ACCOUNT");

    sim.deposit(started.paymentId);
    const paid = await toss.fetchPayment({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      details: result.details,
    });
    assert.equal(paid.status, "PAID");
  });

  it("A fail or tampered return for a virtual account already issued answers Toss's record instead of failing it", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 34000);
    const { paymentKey } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    const confirmsBefore = confirmRequests();
    const failed = await returnWith(started, { result: "fail", code: "PAY_PROCESS_CANCELED", message: "x", orderId: started.paymentId });
    assert.equal(failed.status, "WAITING_FOR_DEPOSIT");
    const tampered = await returnWith(started, { paymentKey, orderId: started.paymentId, amount: "1" });
    assert.equal(tampered.status, "WAITING_FOR_DEPOSIT");
    assert.equal(confirmRequests(), confirmsBefore);
  });

  it("A virtual account whose deposit window closes unpaid reads as EXPIRED whichever way Toss marks it", async () => {
    for (const as of ["EXPIRED", "CANCELED", "WAITING_FOR_DEPOSIT"] as const) {
      const started = await startCheckout("VIRTUAL_ACCOUNT", 21000);
      const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
      sim.expireVirtualAccount(started.paymentId, as);
      const expired = await toss.fetchPayment({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        details: result.details,
      });
      assert.equal(expired.status, "EXPIRED", as);
    }
  });

  it("A deposit error takes a paid virtual account back to WAITING_FOR_DEPOSIT", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 21500);
    const { paymentKey } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    sim.deposit(started.paymentId);
    sim.failDeposit(started.paymentId);
    const back = await toss.fetchPayment({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) });
    assert.equal(back.status, "WAITING_FOR_DEPOSIT");
  });

  it("Expiring the checkout of an issued, unpaid virtual account withdraws the account at Toss", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 22000);
    const { paymentKey } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    await toss.expireCheckout({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) });
    assert.equal(sim.payment(paymentKey)?.status, "CANCELED");
    const after = await toss.fetchPayment({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) });
    assert.equal(after.status, "FAILED", "cancelled before any deposit: nothing to refund");
    await toss.expireCheckout({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) }); // idempotent
  });

  it("A deposited virtual account is not refunded without a refund account, and PGB refuses before calling Toss", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 40000);
    const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    sim.deposit(started.paymentId);
    const before = sim.requests.filter((r) => r.path.endsWith("/cancel")).length;
    await rejects(
      toss.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(40000n, "KRW"),
        idempotencyKey: brand<RefundId>(randomUUID()),
        reason: "고객 변심",
        details: result.details,
      }),
      "declined",
      "REFUND_ACCOUNT_REQUIRED",
    );
    assert.equal(sim.requests.filter((r) => r.path.endsWith("/cancel")).length, before);
  });

  it("A deposited virtual account is refunded into the refund account the host names", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 40000);
    const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    sim.deposit(started.paymentId);
    await rejects(
      toss.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(10000n, "KRW"),
        idempotencyKey: brand<RefundId>(randomUUID()),
        reason: "부분 환불",
        refundAccount: { bank: "88", accountNumber: "12", holderName: "홍길동" },
        details: result.details,
      }),
      "declined",
      "INVALID_REFUND_ACCOUNT_NUMBER",
    );
    const outcome = await toss.refund({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      amount: money(40000n, "KRW"),
      idempotencyKey: brand<RefundId>(randomUUID()),
      reason: "고객 변심",
      refundAccount: { bank: "88", accountNumber: "110-123-456789", holderName: "홍길동" },
      details: result.details,
    });
    assert.equal(outcome.status, "SUCCEEDED");
    const payment = sim.payment(paymentKey)!;
    assert.equal(payment.status, "CANCELED");
    assert.deepEqual(payment.cancels.at(-1)?.refundReceiveAccount, { bank: "88", accountNumber: "110123456789", holderName: "홍길동" });
    const fetched = await toss.fetchPayment({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) });
    assert.equal(fetched.status, "REFUNDED");
  });

  it("A refund without details learns the payment's method from Toss and still asks for the refund account", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 41000);
    const { paymentKey } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    sim.deposit(started.paymentId);
    await rejects(
      toss.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(41000n, "KRW"),
        idempotencyKey: brand<RefundId>(randomUUID()),
        reason: "x",
      }),
      "declined",
      "REFUND_ACCOUNT_REQUIRED",
    );
  });
});

describe("Toss refunds", () => {
  it("Partial cancels bring a card payment down to zero, and Toss then refuses any more", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    const ref: PaymentRef = {
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      details: result.details,
    };
    const refundIds = new Set<string>();
    for (const [amount, expected] of [
      [3000n, "PARTIALLY_REFUNDED"],
      [3000n, "PARTIALLY_REFUNDED"],
      [4000n, "REFUNDED"],
    ] as const) {
      const outcome = await toss.refund({ ...ref, amount: money(amount, "KRW"), idempotencyKey: brand<RefundId>(randomUUID()), reason: "부분 취소" });
      assert.equal(outcome.status, "SUCCEEDED");
      if (outcome.status === "SUCCEEDED") refundIds.add(outcome.pgRefundId);
      assert.equal((await toss.fetchPayment(ref)).status, expected);
    }
    assert.equal(refundIds.size, 3, "each cancel has its own Toss transactionKey");
    assert.equal(sim.payment(paymentKey)?.balanceAmount, 0);
    await rejects(
      toss.refund({ ...ref, amount: money(1n, "KRW"), idempotencyKey: brand<RefundId>(randomUUID()), reason: "x" }),
      "declined",
      "ALREADY_CANCELED_PAYMENT",
    );
  });

  it("A cancel larger than the balance is declined with NOT_CANCELABLE_AMOUNT", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    await rejects(
      toss.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(10001n, "KRW"),
        idempotencyKey: brand<RefundId>(randomUUID()),
        reason: "x",
        details: result.details,
      }),
      "declined",
      "NOT_CANCELABLE_AMOUNT",
    );
  });

  it("A refund retried with the same idempotency key cancels once and answers the same refund id", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    const cancelsBefore = sim.effectiveCancels;
    const input: RefundInput = {
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      amount: money(2500n, "KRW"),
      idempotencyKey: brand<RefundId>(randomUUID()),
      reason: "x",
      details: result.details,
    };
    const first = await toss.refund(input);
    const second = await toss.refund(input);
    assert.deepEqual(second, first);
    assert.equal(sim.effectiveCancels - cancelsBefore, 1);
  });

  it("A cancel whose answer times out is indeterminate, and its retry with the same key answers the cancel that happened", async () => {
    const quick = connector({ timeoutMs: 300 });
    const started = await startCheckout("CARD", 10000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    const cancelsBefore = sim.effectiveCancels;
    const input: RefundInput = {
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      amount: money(1000n, "KRW"),
      idempotencyKey: brand<RefundId>(randomUUID()),
      reason: "x",
      details: result.details,
    };
    sim.delayNext(1_000, { path: "/cancel" });
    await rejects(quick.refund(input), "indeterminate", "TIMEOUT");
    const retried = await quick.refund(input);
    assert.equal(retried.status, "SUCCEEDED");
    assert.equal(sim.effectiveCancels - cancelsBefore, 1);
  });

  it("lookupRefund finds the cancel whose answer was lost by resending it under the same key, without cancelling twice", async () => {
    const quick = connector({ timeoutMs: 300 });
    const started = await startCheckout("CARD", 10000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    const cancelsBefore = sim.effectiveCancels;
    const key = randomUUID();
    sim.delayNext(1_000, { path: "/cancel" });
    await rejects(
      quick.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(1500n, "KRW"),
        idempotencyKey: brand<RefundId>(key),
        reason: "x",
        details: result.details,
      }),
      "indeterminate",
      "TIMEOUT",
    );
    const found = await toss.lookupRefund!({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      idempotencyKey: brand<RefundId>(key),
      amount: money(1500n, "KRW"),
    });
    assert.equal(found.status, "SUCCEEDED");
    assert.equal(sim.effectiveCancels - cancelsBefore, 1);
    const again = await toss.lookupRefund!({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      idempotencyKey: brand<RefundId>(key),
      amount: money(1500n, "KRW"),
    });
    assert.deepEqual(again, found);
  });

  it("lookupRefund answers NOT_FOUND for a refund PGB never sent to Toss", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey } = await payAndReturn(started, "CARD");
    const found = await toss.lookupRefund!({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      idempotencyKey: brand<RefundId>(randomUUID()),
      amount: money(1000n, "KRW"),
    });
    assert.deepEqual(found, { status: "NOT_FOUND" });
  });

  it("lookupRefund answers a cancel Toss refused as FAILED with Toss's code", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    const key = randomUUID();
    await rejects(
      toss.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(20000n, "KRW"),
        idempotencyKey: brand<RefundId>(key),
        reason: "x",
        details: result.details,
      }),
      "declined",
      "NOT_CANCELABLE_AMOUNT",
    );
    const found = await toss.lookupRefund!({
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      idempotencyKey: brand<RefundId>(key),
      amount: money(20000n, "KRW"),
    });
    assert.equal(found.status, "FAILED");
    if (found.status === "FAILED") assert.equal(found.code, "NOT_CANCELABLE_AMOUNT");
  });

  it("A virtual-account refund resent without the refund account, as the reconciler does, resends the first request and refunds once", async () => {
    const quick = connector({ timeoutMs: 300 });
    const started = await startCheckout("VIRTUAL_ACCOUNT", 45000);
    const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    sim.deposit(started.paymentId);
    const cancelsBefore = sim.effectiveCancels;
    const key = randomUUID();
    const ref: RefundRef = {
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      amount: money(45000n, "KRW"),
      idempotencyKey: brand<RefundId>(key),
      details: result.details,
    };
    sim.delayNext(1_000, { path: "/cancel" });
    await rejects(
      quick.refund({ ...ref, reason: "고객 변심", refundAccount: { bank: "88", accountNumber: "110123456789", holderName: "홍길동" } }),
      "indeterminate",
      "TIMEOUT",
    );
    const stored = await sql<{ request: unknown }>`SELECT request FROM toss_cancels WHERE idempotency_key = ${key}`.execute(handle.db);
    assert.ok(stored.rows[0]?.request !== null, "the request is kept while its outcome is unknown");

    const resent = await toss.refund({ ...ref, reason: "PGB reconciler: the outcome of this refund was unknown" });
    assert.equal(resent.status, "SUCCEEDED");
    assert.equal(sim.effectiveCancels - cancelsBefore, 1);
    assert.equal(sim.requests.filter((r) => r.idempotencyKey === key).at(-1)?.replayed, true, "Toss replayed the first cancel");
    const erased = await sql<{ request: unknown; status: string }>`SELECT request, status FROM toss_cancels WHERE idempotency_key = ${key}`.execute(handle.db);
    assert.deepEqual(erased.rows[0], { request: null, status: "DONE" }, "the refund account is not kept once the outcome is known");
  });

  it("Toss failing a GET with 500 is retryable", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey } = await payAndReturn(started, "CARD");
    sim.failNext(1, 500, "FAILED_INTERNAL_SYSTEM_PROCESSING", { path: `/v1/payments/${paymentKey}` });
    await rejects(
      toss.fetchPayment({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) }),
      "retryable",
      "FAILED_INTERNAL_SYSTEM_PROCESSING",
    );
  });
});

describe("Toss's after-the-fact and throttling behaviours", () => {
  const account = { bank: "88", accountNumber: "110123456789", holderName: "홍길동" };

  it("FORBIDDEN_CONSECUTIVE_REQUEST (403) is retryable on GET and on a cancel, and the cancel retried later refunds once", async () => {
    simOptions.consecutiveRequestWindowMs = 60_000;
    try {
      const started = await startCheckout("CARD", 6000);
      const { paymentKey, result } = await payAndReturn(started, "CARD");
      await toss
        .fetchPayment({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) })
        .catch(() => undefined);
      await rejects(
        toss.fetchPayment({ pgTransactionId: brand<PgTransactionId>(paymentKey), paymentReference: brand<PaymentId>(started.paymentId) }),
        "retryable",
        "FORBIDDEN_CONSECUTIVE_REQUEST",
      );
      const refund: RefundInput = {
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(6000n, "KRW"),
        idempotencyKey: brand<RefundId>(randomUUID()),
        reason: "x",
        details: result.details,
      };
      await rejects(toss.refund(refund), "retryable", "FORBIDDEN_CONSECUTIVE_REQUEST");
      simOptions.consecutiveRequestWindowMs = 0;
      const before = sim.effectiveCancels;
      assert.equal((await toss.refund(refund)).status, "SUCCEEDED");
      assert.equal(sim.effectiveCancels - before, 1);
    } finally {
      simOptions.consecutiveRequestWindowMs = 0;
    }
  });

  it("FAILED_REFUND_PROCESS (500) on a cancel is retryable, never a refusal, and the retry refunds once", async () => {
    const started = await startCheckout("CARD", 6100);
    const { paymentKey, result } = await payAndReturn(started, "CARD");
    sim.failNext(1, 500, "FAILED_REFUND_PROCESS", { path: "/cancel", message: "은행 응답시간 지연이나 일시적인 오류로 환불요청에 실패했습니다." });
    const refund: RefundInput = {
      pgTransactionId: brand<PgTransactionId>(paymentKey),
      paymentReference: brand<PaymentId>(started.paymentId),
      amount: money(6100n, "KRW"),
      idempotencyKey: brand<RefundId>(randomUUID()),
      reason: "x",
      details: result.details,
    };
    await rejects(toss.refund(refund), "retryable", "FAILED_REFUND_PROCESS");
    const before = sim.effectiveCancels;
    assert.equal((await toss.refund(refund)).status, "SUCCEEDED");
    assert.equal(sim.effectiveCancels - before, 1);
  });

  for (const methodAnswer of ["null", "empty"] as const) {
    it(`A virtual account whose answers carry method ${methodAnswer === "null" ? "null" : '""'} is still known as one: no refund without the refund account`, async () => {
      simOptions.methodAnswer = methodAnswer;
      try {
        const started = await startCheckout("VIRTUAL_ACCOUNT", 42000);
        const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
        assert.equal(result.status, "WAITING_FOR_DEPOSIT");
        sim.deposit(started.paymentId);
        for (const details of [result.details, undefined]) {
          await rejects(
            toss.refund({
              pgTransactionId: brand<PgTransactionId>(paymentKey),
              paymentReference: brand<PaymentId>(started.paymentId),
              amount: money(42000n, "KRW"),
              idempotencyKey: brand<RefundId>(randomUUID()),
              reason: "x",
              ...(details ? { details } : {}),
            }),
            "declined",
            "REFUND_ACCOUNT_REQUIRED",
          );
        }
      } finally {
        delete simOptions.methodAnswer;
      }
    });
  }

  for (const as of ["FAILED", "PARTIAL_FAILED"] as const) {
    it(`A virtual-account refund whose bank transfer Toss reports ${as} is PENDING first, then FAILED, never SUCCEEDED`, async () => {
      simOptions.vaRefundTransfer = "pending";
      try {
        const started = await startCheckout("VIRTUAL_ACCOUNT", 43000);
        const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
        sim.deposit(started.paymentId);
        const key = randomUUID();
        const amount = as === "FAILED" ? 43000n : 13000n;
        const outcome = await toss.refund({
          pgTransactionId: brand<PgTransactionId>(paymentKey),
          paymentReference: brand<PaymentId>(started.paymentId),
          amount: money(amount, "KRW"),
          idempotencyKey: brand<RefundId>(key),
          reason: "x",
          refundAccount: account,
          details: result.details,
        });
        assert.equal(outcome.status, "PENDING");
        const lookup: RefundRef = {
          pgTransactionId: brand<PgTransactionId>(paymentKey),
          paymentReference: brand<PaymentId>(started.paymentId),
          idempotencyKey: brand<RefundId>(key),
          amount: money(amount, "KRW"),
        };
        assert.equal((await toss.lookupRefund!(lookup)).status, "PENDING");
        sim.failRefundTransfer(started.paymentId, as);
        const failed = await toss.lookupRefund!(lookup);
        assert.equal(failed.status, "FAILED");
        assert.equal(failed.status === "FAILED" ? failed.code : undefined, `REFUND_${as}`);
      } finally {
        delete simOptions.vaRefundTransfer;
      }
    });
  }

  it("A virtual-account refund whose bank transfer completes is SUCCEEDED", async () => {
    simOptions.vaRefundTransfer = "pending";
    try {
      const started = await startCheckout("VIRTUAL_ACCOUNT", 44000);
      const { paymentKey, result } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
      sim.deposit(started.paymentId);
      const key = randomUUID();
      await toss.refund({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        amount: money(44000n, "KRW"),
        idempotencyKey: brand<RefundId>(key),
        reason: "x",
        refundAccount: account,
        details: result.details,
      });
      sim.completeRefundTransfer(started.paymentId);
      const done = await toss.lookupRefund!({
        pgTransactionId: brand<PgTransactionId>(paymentKey),
        paymentReference: brand<PaymentId>(started.paymentId),
        idempotencyKey: brand<RefundId>(key),
        amount: money(44000n, "KRW"),
      });
      assert.equal(done.status, "SUCCEEDED");
    } finally {
      delete simOptions.vaRefundTransfer;
    }
  });
});

describe("Toss webhooks", () => {
  function parse(body: Buffer | Record<string, unknown>): ReturnType<Connector["parseWebhook"]> {
    const rawBody = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    return toss.parseWebhook({ headers: { "content-type": "application/json" }, rawBody });
  }

  it("PAYMENT_STATUS_CHANGED is a payment hint naming the paymentKey and PGB's payment", async () => {
    const started = await startCheckout("CARD", 10000);
    const { paymentKey } = await payAndReturn(started, "CARD");
    const action = await parse(sim.webhookBodies(paymentKey).statusChanged);
    assert.equal(action.kind, "payment");
    if (action.kind !== "payment") return;
    assert.equal(action.pgTransactionId, paymentKey);
    assert.equal(action.paymentReference, started.paymentId);
    assert.match(action.eventId, new RegExp(`^PAYMENT_STATUS_CHANGED:${paymentKey}:DONE:`));
  });

  it("DEPOSIT_CALLBACK parses at the top level and under data, to the same event id", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 30000);
    const { paymentKey } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    sim.deposit(started.paymentId);
    const top = sim.webhookBodies(paymentKey, "top").depositCallback;
    const nested = { ...sim.webhookBodies(paymentKey, "data").depositCallback, createdAt: top.createdAt, data: top };
    assert.equal(top.eventType, undefined);
    const a = await parse(top);
    const b = await parse(nested);
    assert.equal(a.kind, "payment");
    assert.equal(b.kind, "payment");
    if (a.kind !== "payment" || b.kind !== "payment") return;
    assert.equal(a.eventId, b.eventId);
    assert.match(a.eventId, new RegExp(`^DEPOSIT:${started.paymentId}:DONE:`));
    assert.equal(a.paymentReference, started.paymentId);
    assert.equal(a.pgTransactionId, paymentKey);
  });

  it("Webhooks Toss sends twice, in either order, give the same event ids", async () => {
    await sim.flushWebhooks();
    received = [];
    sim.configureWebhooks({ url: webhookUrl(), hold: true, depositCallbackLayout: "data" });
    try {
      const started = await startCheckout("VIRTUAL_ACCOUNT", 30000);
      await payAndReturn(started, "VIRTUAL_ACCOUNT");
      clock += 60_000;
      sim.deposit(started.paymentId);
      assert.equal(sim.heldWebhooks.length, 4, "issuance and deposit, each as PAYMENT_STATUS_CHANGED and DEPOSIT_CALLBACK");
      await sim.releaseWebhooks({ order: "reverse", duplicate: true });
      assert.equal(received.length, 8);
      const ids: string[] = [];
      for (const raw of received) {
        const action = await parse(raw);
        assert.equal(action.kind, "payment");
        if (action.kind === "payment") ids.push(action.eventId);
      }
      for (let i = 0; i < ids.length; i += 2) assert.equal(ids[i], ids[i + 1], "a duplicate has its original's id");
      assert.equal(new Set(ids).size, 4, "different changes have different ids");
    } finally {
      sim.configureWebhooks({ url: webhookUrl() });
    }
  });

  it("A DEPOSIT_CALLBACK with a wrong secret is rejected", async () => {
    const started = await startCheckout("VIRTUAL_ACCOUNT", 30000);
    const { paymentKey } = await payAndReturn(started, "VIRTUAL_ACCOUNT");
    const forged = { ...sim.webhookBodies(paymentKey).depositCallback, status: "DONE", secret: "ps_forged" };
    const action = await parse(forged);
    assert.equal(action.kind, "rejected");
  });

  it("A webhook for an order PGB never created is ignored, and a body that is not Toss's is rejected", async () => {
    const foreign = await parse({
      createdAt: "2026-03-02T10:00:00.000000",
      secret: "ps_x",
      status: "DONE",
      transactionKey: "T",
      orderId: "someone-elses-order",
    });
    assert.equal(foreign.kind, "ignored");
    assert.equal((await parse(Buffer.from("not json"))).kind, "rejected");
    assert.equal((await parse({ eventType: "PAYMENT_STATUS_CHANGED", createdAt: "x", data: { nope: true } })).kind, "rejected");
    const other = await parse({ eventType: "PAYOUT_STATUS_CHANGED", createdAt: "2026-03-02T10:00:00.000000", data: {} });
    assert.equal(other.kind, "ignored");
  });
});

function webhookUrl(): string {
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
}
