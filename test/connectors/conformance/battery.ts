/**
 * The conformance battery: what every connector must do with its PG, each case named after the
 * behaviour PGB relies on. A connector passes it with its simulator through a driver (drivers/),
 * which plays the customer, the PG's faults and the PG's books. Cases a PG's capabilities rule out
 * are skipped by name, with the reason.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { it } from "node:test";
import type { Money } from "../../../src/core/money.ts";
import type { PgCapabilities } from "../../../src/core/ports/capabilities.ts";
import type { Db } from "../../../src/storage/database.ts";
import { browserReturn } from "../../../src/core/use-cases/browser-return.ts";
import { receiveWebhook } from "../../../src/core/use-cases/receive-webhook.ts";
import { coreRig, TENANT } from "./core-rig.ts";
import {
  ConnectorError,
  type CheckoutCreated,
  type CheckoutInput,
  type Connector,
  type PaymentRef,
  type RefundInput,
  type WebhookInput,
} from "../../../src/core/ports/connector.ts";
import { brand, type PaymentId, type PgTransactionId, type RefundId } from "../../../src/core/ids.ts";

export const CASES = [
  "checkout created with the exact amount in the PG's unit",
  "idempotent create",
  "webhook verified, or re-read where unsigned",
  "forged, replayed or tampered webhook refused",
  "payment read back with the PG's own amount and currency",
  "amount or currency mismatch never completed",
  "browser return racing the webhook",
  "late capture on a superseded attempt refunded",
  "partial and full refund",
  "refund retried after a time-out refunds once",
  "refund that fails after success",
  "PG throttling retried",
  "PG down: retryable, nothing changed",
  "expiry",
] as const;
export type CaseName = (typeof CASES)[number];

export interface Paid {
  input: CheckoutInput;
  created: CheckoutCreated;
  /** What PGB keeps to talk about the payment later (the PG's transaction id, details). */
  ref: PaymentRef;
}

/** What a driver declares before anything starts: the cases that do not apply follow from it. */
export interface Declared {
  pg: string;
  capabilities: PgCapabilities;
  /** Cases that do not apply for a reason other than a capability, with the reason. */
  notApplicable: Partial<Record<CaseName, string>>;
}

export interface ConformanceDriver extends Declared {
  /** The battery's amount, and the same amount in the PG's own unit. */
  amount: Money;
  unitAmount: number;
  nationCode: string;
  /** A connector for one tenant; `impatient`: a short time-out and no retries of its own. */
  connector(options?: { impatient?: boolean }): Connector;
  /** A connector whose PG is unreachable (nobody listens at its address). */
  unreachableConnector(): Connector;
  /** The amount, in the PG's unit, the PG (or the page PGB serves for it) will charge for the checkout. */
  amountAtPg(created: CheckoutCreated, input: CheckoutInput): Promise<number>;
  /** How many checkouts the PG holds for this payment. */
  checkoutsAtPg(input: CheckoutInput, createdIds: string[]): Promise<number>;
  /** The customer pays on the PG's page (and comes back, where the PG needs the return). */
  pay(connector: Connector, input: CheckoutInput, created: CheckoutCreated): Promise<PaymentRef>;
  /** The webhook the PG sent about the paid payment, as PGB's intake received it. */
  genuineWebhook(paid: Paid): Promise<WebhookInput>;
  /** A copy that no longer verifies: signed with another secret, signed long ago, altered after signing. */
  forgedWebhooks?(paid: Paid, genuine: WebhookInput): Promise<Array<{ what: string; webhook: WebhookInput }>>;
  /**
   * The customer completes the PG's page and PGB has not heard of it yet. With `misreport`, the PG's
   * record of the completed payment then carries another amount (or currency) than PGB asked for (a
   * tampered page, a PG's fault). Answers the query the browser brings back to PGB's return URL, and,
   * where the PG sends webhooks, a wait for the one it sends about the payment (for a PG that takes
   * the money only on PGB's confirm, the webhook comes once the return has confirmed).
   */
  customerCompletes(
    input: CheckoutInput,
    created: CheckoutCreated,
    options?: { misreport?: "amount" | "currency" },
  ): Promise<{ query: Record<string, string>; webhook?: () => Promise<WebhookInput> }>;
  /** How many refunds the PG has recorded for the payment. */
  refundsAtPg(paid: Paid): Promise<number>;
  /** The PG fails a refund it had reported succeeded (the card account closed, say). */
  failRefundAfterSuccess?(paid: Paid, pgRefundId: string): Promise<void>;
  /** Faults on the PG's side, for the next call(s). */
  delayNextAnswer?(ms: number): void;
  throttleNext?(): void;
}

export function checkoutInputFor(driver: ConformanceDriver, overrides: Partial<CheckoutInput> = {}): CheckoutInput {
  const paymentId = `pay_${randomUUID().replaceAll("-", "")}`;
  return {
    paymentId: brand<PaymentId>(paymentId),
    tenant: "SHOP",
    orderId: Math.floor(Math.random() * 1e9),
    joinerId: 7,
    amount: driver.amount,
    // A card where the PG takes one, else the first PayType it takes (a wallet-only PG).
    payType: driver.capabilities.payTypes.includes("CARD") ? "CARD" : driver.capabilities.payTypes[0]!,
    nationCode: driver.nationCode,
    description: "Conformance order",
    returnUrl: `http://127.0.0.1:9/PGBReturn/${driver.pg.toLowerCase()}/return/${paymentId}`,
    webhookUrl: `http://127.0.0.1:9/PGBReturn/${driver.pg.toLowerCase()}/webhook/SHOP`,
    expiresAt: new Date(Date.now() + 60 * 60_000),
    idempotencyKey: `paystart-${paymentId}`,
    ...overrides,
  };
}

/** Why a case does not apply to this PG, from its capabilities first, then from the driver. */
export function skipReason(driver: Declared, name: CaseName): string | undefined {
  const c = driver.capabilities;
  if (name === "forged, replayed or tampered webhook refused" && c.webhooks !== "signed") {
    return c.webhooks === "unsigned"
      ? `${driver.pg} signs no webhook: its webhooks are hints, and PGB re-reads the payment from ${driver.pg}`
      : `${driver.pg} sends no webhooks`;
  }
  if (name === "webhook verified, or re-read where unsigned" && c.webhooks === "none") return `${driver.pg} sends no webhooks`;
  if (name === "browser return racing the webhook" && c.webhooks === "none")
    return `${driver.pg} sends no webhooks: the browser return is the only messenger (the reconciler settles through the same guarded transition)`;
  if (name === "refund that fails after success" && !c.refundList)
    return `${driver.pg} cannot list a payment's refunds, so PGB cannot learn of a refund failing afterwards from it`;
  return driver.notApplicable[name];
}

async function rejectsAs(promise: Promise<unknown>, errorClass: ConnectorError["errorClass"]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConnectorError, `expected a ConnectorError, got ${String(error)}`);
    assert.equal(error.errorClass, errorClass, error.message);
    return true;
  });
}

/** Registers every case in the current describe block; `driver` is called once the suite has started. */
export function battery(declared: Declared, driver: () => ConformanceDriver, database: () => Db): void {
  const body: Record<CaseName, () => Promise<void>> = {
    "checkout created with the exact amount in the PG's unit": async () => {
      const d = driver();
      const input = checkoutInputFor(d);
      const created = await d.connector().createCheckout(input);
      assert.equal(await d.amountAtPg(created, input), d.unitAmount);
    },

    "idempotent create": async () => {
      const d = driver();
      const connector = d.connector();
      const input = checkoutInputFor(d);
      const first = await connector.createCheckout(input);
      const again = await connector.createCheckout(input);
      assert.equal(again.pgTransactionId, first.pgTransactionId);
      assert.equal(await d.checkoutsAtPg(input, [first.pgTransactionId, again.pgTransactionId]), 1);
    },

    "webhook verified, or re-read where unsigned": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const action = await d.connector().parseWebhook(await d.genuineWebhook(paid));
      assert.equal(action.kind, "payment", JSON.stringify(action));
      if (action.kind !== "payment") return;
      assert.ok(action.paymentReference === paid.input.paymentId || action.pgTransactionId === paid.ref.pgTransactionId, "the action names the payment");
      // An unsigned hint must say so, so that the core reads the PG (throttled) before acting.
      assert.equal(action.unsigned === true, d.capabilities.webhooks === "unsigned");
    },

    "forged, replayed or tampered webhook refused": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const genuine = await d.genuineWebhook(paid);
      const connector = d.connector();
      const forged = (await d.forgedWebhooks?.(paid, genuine)) ?? [];
      assert.ok(forged.length >= 3, "the driver forges, replays and tampers");
      for (const { what, webhook } of forged) assert.equal((await connector.parseWebhook(webhook)).kind, "rejected", what);
    },

    "payment read back with the PG's own amount and currency": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const read = await d.connector().fetchPayment(paid.ref);
      assert.equal(read.status, "PAID");
      assert.deepEqual(read.amount, d.amount);
      assert.equal(read.paymentReference, paid.input.paymentId);
    },

    "amount or currency mismatch never completed": async () => {
      const d = driver();
      // Another currency only where the PG settles in more than one.
      const kinds = Object.keys(d.capabilities.currencies).length > 1 ? (["amount", "currency"] as const) : (["amount"] as const);
      for (const misreport of kinds) {
        const rig = coreRig(d, database());
        const started = await rig.payStart(randomOrderId(), d.amount);
        const acted = await d.customerCompletes(checkoutInputOf(d, started), checkoutCreatedOf(started), { misreport });
        // PGB hears of it by every way it can: the buyer's return, and the PG's webhook where it sends one.
        const back = await browserReturn(rig.deps, d.pg, started.paymentId, acted.query);
        assert.equal(back.kind, "redirect", "the buyer is sent on, not shown an error");
        if (acted.webhook !== undefined) await receiveWebhook(rig.deps, d.pg, TENANT, await acted.webhook());
        const payment = await rig.payment(started.paymentId);
        assert.notEqual(payment.status, "PAID", `${misreport}: a payment the PG reports with another ${misreport} is never PAID`);
        assert.ok(!(await rig.notified(started.paymentId)).includes("PAYMENT_COMPLETED"), `${misreport}: the host is not told PAID`);
        assert.deepEqual(
          (await rig.movements(started.paymentId)).filter((m) => m.kind === "CAPTURE"),
          [],
          `${misreport}: no capture in PGB's books`,
        );
        // Flagged: the core's PG_MISMATCH (alert and history), or the connector's refusal to confirm a return that does not match.
        const flagged = (await rig.alerts(started.paymentId)).includes("PG_MISMATCH") || /MISMATCH/.test(payment.failure_code ?? "");
        assert.ok(
          flagged,
          `${misreport}: the mismatch is flagged (PG_MISMATCH alert, or a ${d.pg} confirm refused as a mismatch): ${JSON.stringify({ payment, events: await rig.events(started.paymentId) })}`,
        );
      }
    },

    "browser return racing the webhook": async () => {
      const d = driver();
      const rig = coreRig(d, database());
      const started = await rig.payStart(randomOrderId(), d.amount);
      const acted = await d.customerCompletes(checkoutInputOf(d, started), checkoutCreatedOf(started));
      assert.ok(acted.webhook !== undefined, `${d.pg} sends webhooks: the driver waits for the one about the payment`);
      const before = await rig.lastWebhookId();
      rig.holdPgAnswersInPairs();
      // Both at once: the buyer's browser lands on PGB while the PG's webhook is taken in.
      const [back, hook] = await Promise.all([
        browserReturn(rig.deps, d.pg, started.paymentId, acted.query),
        acted.webhook().then((webhook) => receiveWebhook(rig.deps, d.pg, TENANT, webhook)),
      ]);
      assert.equal(back.kind, "redirect", "no error to the buyer");
      if (back.kind === "redirect") assert.equal(new URL(back.location).searchParams.get("Result"), "PAID", back.location);
      assert.equal(hook.status, 200, JSON.stringify(hook.body));
      // The losing path finds the payment already PAID and changes nothing, without an error (a webhook
      // left FAILED would be retried, and a buyer's return that failed would show an error page).
      assert.deepEqual(await rig.webhooks(before), [{ status: "PROCESSED", error: null }], "the webhook was acted on without an error");
      assert.equal((await rig.payment(started.paymentId)).status, "PAID");
      assert.equal((await rig.events(started.paymentId)).filter((e) => e.to === "PAID").length, 1, "exactly one transition to PAID");
      assert.deepEqual(
        (await rig.notified(started.paymentId)).filter((type) => type === "PAYMENT_COMPLETED"),
        ["PAYMENT_COMPLETED"],
        "exactly one notification to the host",
      );
      assert.equal((await rig.movements(started.paymentId)).filter((m) => m.kind === "CAPTURE").length, 1, "one capture in PGB's books");
    },

    "late capture on a superseded attempt refunded": async () => {
      const d = driver();
      const rig = coreRig(d, database());
      const orderId = randomOrderId();
      const first = await rig.payStart(orderId, d.amount);
      // The buyer pays the first checkout; PGB has not heard of it when the host starts a new amount.
      const input = checkoutInputOf(d, first);
      const ref = await d.pay(rig.connector, input, checkoutCreatedOf(first));
      const second = await rig.payStart(orderId, { minor: d.amount.minor * 2n, currency: d.amount.currency } as Money);
      assert.equal((await rig.payment(first.paymentId)).status, "SUPERSEDED");
      // PGB learns of the capture (the buyer's late return reads the PG), twice: the refund happens once.
      for (let i = 0; i < 2; i++) assert.equal((await browserReturn(rig.deps, d.pg, first.paymentId, {})).kind, "redirect");
      const paid: Paid = { input, created: checkoutCreatedOf(first), ref };
      assert.equal(await d.refundsAtPg(paid), 1, "the PG refunded the late capture once");
      const books = await rig.movements(first.paymentId);
      assert.deepEqual(
        books.map((m) => `${m.kind} ${m.status} ${m.amount}`),
        [`CAPTURE SUCCEEDED ${d.amount.minor}`, `REFUND SUCCEEDED ${d.amount.minor}`],
        "PGB's books: the late capture and its refund, on the superseded attempt",
      );
      assert.equal((await rig.payment(first.paymentId)).status, "SUPERSEDED", "the attempt stays superseded");
      assert.ok((await rig.notified(first.paymentId)).includes("LATE_PAYMENT_REFUNDED"), "the host is told");
      assert.ok(!(await rig.notified(first.paymentId)).includes("PAYMENT_COMPLETED"), "the host is never told the old attempt was paid");
      assert.deepEqual(await rig.movements(second.paymentId), [], "the order's live attempt is untouched");
    },

    "partial and full refund": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const connector = d.connector();
      const part = { minor: d.amount.minor / 4n, currency: d.amount.currency } as Money;
      const rest = { minor: d.amount.minor - part.minor, currency: d.amount.currency } as Money;
      const refundOf = (amount: Money) => refundRequest(paid, amount);
      if (d.capabilities.partialRefunds) {
        assert.equal((await connector.refund(refundOf(part))).status, "SUCCEEDED");
        assert.equal(await d.refundsAtPg(paid), 1, "one refund at the PG after the partial refund");
        assert.equal((await connector.fetchPayment(paid.ref)).status, "PARTIALLY_REFUNDED");
        assert.equal((await connector.refund(refundOf(rest))).status, "SUCCEEDED");
        assert.equal(await d.refundsAtPg(paid), 2, "two refunds at the PG after refunding the rest");
      } else {
        assert.equal((await connector.refund(refundOf(d.amount))).status, "SUCCEEDED");
        assert.equal(await d.refundsAtPg(paid), 1);
      }
      assert.equal((await connector.fetchPayment(paid.ref)).status, "REFUNDED");
    },

    "refund retried after a time-out refunds once": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const request = refundRequest(paid, d.amount);
      d.delayNextAnswer!(1_500);
      await rejectsAs(d.connector({ impatient: true }).refund(request), "indeterminate");
      await new Promise((resolve) => setTimeout(resolve, 1_700));
      const connector = d.connector();
      // What the reconciler does: ask the PG where it can, else resend with the same key.
      const found =
        connector.lookupRefund !== undefined && d.capabilities.refundLookup
          ? await connector.lookupRefund({ ...request, ...(paid.ref.details ? { details: paid.ref.details } : {}) })
          : await connector.refund(request);
      assert.equal(found.status, "SUCCEEDED", JSON.stringify(found));
      assert.equal((await connector.refund(request)).status, "SUCCEEDED");
      assert.equal(await d.refundsAtPg(paid), 1, "the PG refunded once");
    },

    "refund that fails after success": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const connector = d.connector();
      const request = refundRequest(paid, d.amount);
      const outcome = await connector.refund(request);
      assert.equal(outcome.status, "SUCCEEDED");
      if (outcome.status !== "SUCCEEDED") return;
      await d.failRefundAfterSuccess!(paid, outcome.pgRefundId);
      const listed = (await connector.listRefunds!(paid.ref)).find((refund) => refund.pgRefundId === outcome.pgRefundId);
      assert.equal(listed?.status, "FAILED", "the PG's list shows the refund failed");
      assert.equal(listed?.pgbRefundId, request.idempotencyKey, "PGB can tell which of its refunds failed");
      // The money is back with the merchant: the payment no longer reads refunded.
      assert.equal((await connector.fetchPayment(paid.ref)).status, "PAID");
    },

    "PG throttling retried": async () => {
      const d = driver();
      const paid = await payOnce(d);
      const request = refundRequest(paid, d.amount);
      d.throttleNext!();
      await rejectsAs(d.connector({ impatient: true }).refund(request), "retryable");
      assert.equal((await d.connector({ impatient: true }).refund(request)).status, "SUCCEEDED");
      assert.equal(await d.refundsAtPg(paid), 1, "the PG refunded once");
    },

    "PG down: retryable, nothing changed": async () => {
      const d = driver();
      const paid = await payOnce(d);
      // The core answers a retryable failure PG_UNAVAILABLE and keeps the balance as it was.
      await rejectsAs(d.unreachableConnector().refund(refundRequest(paid, d.amount)), "retryable");
      assert.equal(await d.refundsAtPg(paid), 0);
      assert.equal((await d.connector().fetchPayment(paid.ref)).status, "PAID");
    },

    expiry: async () => {
      const d = driver();
      const connector = d.connector();
      const input = checkoutInputFor(d);
      const created = await connector.createCheckout(input);
      await connector.expireCheckout({ pgTransactionId: created.pgTransactionId, paymentReference: input.paymentId });
      await connector.expireCheckout({ pgTransactionId: created.pgTransactionId, paymentReference: input.paymentId });
      const read = await connector.fetchPayment({ pgTransactionId: created.pgTransactionId, paymentReference: input.paymentId });
      assert.notEqual(read.status, "PAID");
      await assert.rejects(d.pay(connector, input, created), "an expired checkout cannot be paid");
      assert.notEqual((await connector.fetchPayment({ pgTransactionId: created.pgTransactionId, paymentReference: input.paymentId })).status, "PAID");
    },
  };

  for (const name of CASES) {
    const skip = skipReason(declared, name);
    if (skip !== undefined) it(name, { skip: `does not apply: ${skip}` }, () => undefined);
    else it(name, body[name]);
  }
}

async function payOnce(d: ConformanceDriver): Promise<Paid> {
  const connector = d.connector();
  const input = checkoutInputFor(d);
  const created = await connector.createCheckout(input);
  const ref = await d.pay(connector, input, created);
  return { input, created, ref };
}

function refundRequest(paid: Paid, amount: Money): RefundInput {
  return {
    pgTransactionId: paid.ref.pgTransactionId,
    paymentReference: paid.input.paymentId,
    amount,
    idempotencyKey: brand<RefundId>(`mm_${randomUUID()}`),
    reason: "conformance",
    ...(paid.ref.details ? { details: paid.ref.details } : {}),
  };
}

function randomOrderId(): number {
  return Math.floor(Math.random() * 1e9);
}

/** The checkout PGB's PayStart asked the PG for, as the driver's customer sees it. */
function checkoutInputOf(d: ConformanceDriver, started: { paymentId: PaymentId }): CheckoutInput {
  return checkoutInputFor(d, { paymentId: started.paymentId, tenant: TENANT, idempotencyKey: started.paymentId });
}

function checkoutCreatedOf(started: { pgTransactionId: PgTransactionId; checkoutUrl: string }): CheckoutCreated {
  return { pgTransactionId: started.pgTransactionId, checkoutUrl: started.checkoutUrl };
}
