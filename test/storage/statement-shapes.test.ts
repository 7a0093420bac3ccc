/**
 * The hot one-statement moves compile their SQL text once per shape and reuse it with each call's
 * parameters (storage/precompiled.ts). For every shape each can take, the reused text and the listed
 * parameters must be exactly what a fresh compile of the same call gives; and a statement whose listed
 * parameters do not match Kysely's must never reuse its text.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql, type CompiledQuery, type Kysely } from "kysely";
import type { DatabaseHandle } from "../../src/storage/database.ts";
import type { HostNotification } from "../../src/core/host-notification.ts";
import type { NotificationHandOff } from "../../src/core/deps.ts";
import type { PaymentId, RefundId } from "../../src/core/ids.ts";
import { compilableSql, Precompiled } from "../../src/storage/precompiled.ts";
import { moveAsReadStatements, type MoveAsRead } from "../../src/storage/transition-as-read.ts";
import { processedWithMove, storingReadingPaymentStatements, type StoringReadingPayment } from "../../src/storage/webhook-repository.ts";
import { readAndReserveStatements, type ReadAndReserve } from "../../src/storage/refund-reservation.ts";
import { refundSuccessAsReadStatements, type RefundSuccessAsRead } from "../../src/storage/refund-statements.ts";
import { insertTestPgPayment, setTestPgStatus, testPgRefundStatement, type TestPgTables } from "../../src/connectors/test-pg/records.ts";
import { backends, openTestDatabase } from "../support/backends.ts";

/** Each call gives values no other call gave, so a parameter in the wrong place cannot go unseen. */
let seq = 0;
const unique = (prefix: string) => `${prefix}_${++seq}`;

function notification(): HostNotification {
  return { Type: "PAID", NotificationId: unique("msg"), OrderId: ++seq } as unknown as HostNotification;
}

function handOff(): NotificationHandOff {
  return { claimToken: unique("claim"), claimMs: ++seq * 1000, deliver: () => undefined };
}

/** A webhook's READY → PAID move setting `assignments`, with `parts` added; its values unique. */
function paidMove(assignments: MoveAsRead["assignments"], parts: Partial<MoveAsRead> = {}): MoveAsRead {
  return {
    paymentId: unique("pay") as PaymentId,
    from: "READY",
    to: "PAID",
    event: unique("event"),
    source: "WEBHOOK",
    detail: JSON.stringify({ n: ++seq }),
    assignments,
    ...parts,
  };
}

/** Every outbox form: none, queued, queued and possibly born claimed. */
const outboxForms = ["none", "queued", "handed off"] as const;
function outbox(form: (typeof outboxForms)[number]) {
  if (form === "none") return {};
  return { outbox: { notification: notification(), handOff: form === "handed off" ? handOff() : undefined } };
}

type Db = DatabaseHandle["db"];

/**
 * Compiles `first`, then `second` of the same shape: the second must reuse the shape's text, and be
 * exactly a fresh compile of it (text and parameters).
 */
function assertReusedAsFresh<D, Input>(statement: Precompiled<D, Input>, db: D, first: Input, second: Input): CompiledQuery {
  statement.compiled(db, first);
  const reused = statement.compiled(db, second);
  assert.ok(statement.reused(second), "the shape's listed parameters should match Kysely's");
  const fresh = statement.fresh(db, second);
  assert.equal(reused.sql, fresh.sql);
  assert.deepStrictEqual(reused.parameters, fresh.parameters);
  return fresh;
}

for (const backend of backends()) {
  describe(`hot statements compiled once per shape, on ${backend}`, () => {
    let handle: DatabaseHandle;
    before(async () => {
      handle = await openTestDatabase(backend);
    });
    after(async () => handle.close());

    it("transitionAsRead: every patch, capture, outbox and alongside form", () => {
      const patches: Array<(n: number) => Array<[string, unknown]>> = [
        () => [],
        (n) => [
          ["paid_at", new Date(n)],
          ["pg_transaction_id", unique("tx")],
        ],
        (n) => [
          ["paid_at", new Date(n)],
          ["pg_transaction_id", unique("tx")],
          ["pg_details", JSON.stringify({ n })],
        ],
        () => [
          ["pg_transaction_id", null],
          ["checkout_url", unique("url")],
          ["failure_code", unique("code")],
          ["failure_message", unique("why")],
        ],
      ];
      let shapes = 0;
      for (const patch of patches)
        for (const capture of [false, true])
          for (const form of outboxForms)
            for (const alongside of [false, true]) {
              const move = () =>
                paidMove([...patch(++seq), ["status", "PAID"]], {
                  ...(capture ? { capture: { id: unique("mm"), pgReference: unique("ref") } } : {}),
                  ...outbox(form),
                  ...(alongside ? { alongside: processedWithMove(unique("hook")) } : {}),
                });
              assertReusedAsFresh(moveAsReadStatements, handle.db, move(), move());
              shapes++;
            }
      assert.equal(shapes, 48);
    });

    it("insertWebhookReadingPayment: the webhook row's columns", () => {
      const statement = (withError: boolean, withClaim: boolean): StoringReadingPayment => ({
        row: {
          pg: unique("pg"),
          tenant: unique("tenant"),
          event_id: unique("event"),
          status: "RECEIVED",
          headers: unique("headers"),
          body: unique("body"),
          body_sha256: unique("sha"),
          body_bytes: ++seq,
          error: withError ? unique("error") : null,
          action: JSON.stringify({ n: ++seq }),
          claim_token: withClaim ? unique("claim") : null,
        },
        reference: unique("pay"),
      });
      for (const withError of [false, true])
        for (const withClaim of [false, true]) {
          assertReusedAsFresh(storingReadingPaymentStatements, handle.db, statement(withError, withClaim), statement(withError, withClaim));
        }
      // A column without a value is left out of the insert (Kysely's rule), and so out of the shape.
      const withoutError = () => {
        const s = statement(false, true);
        return { ...s, row: { ...s.row, error: undefined as unknown as null } };
      };
      const fresh = assertReusedAsFresh(storingReadingPaymentStatements, handle.db, withoutError(), withoutError());
      assert.doesNotMatch(fresh.sql, /"error"/);
    });

    it("readAndReserveRefund: every combination of optional claims", () => {
      let shapes = 0;
      for (const expectPg of [false, true])
        for (const expectPayType of [false, true])
          for (const idempotencyKey of [false, true])
            for (const partial of [false, true]) {
              const statement = (): ReadAndReserve => ({
                claims: {
                  tenant: unique("tenant"),
                  orderId: ++seq,
                  nationCode: unique("KR"),
                  currency: unique("KRW"),
                  expectPg: expectPg ? unique("pg") : undefined,
                  expectPayType: expectPayType ? unique("paytype") : undefined,
                  current: BigInt(++seq),
                  refund: partial ? BigInt(++seq) : undefined,
                  idempotencyKey: idempotencyKey ? unique("key") : null,
                },
                r: {
                  id: unique("rf") as RefundId,
                  amount: BigInt(++seq),
                  balanceBefore: BigInt(++seq),
                  balanceAfter: BigInt(++seq),
                  idempotencyKey: idempotencyKey ? unique("key") : null,
                  fingerprint: unique("fp"),
                  leaseToken: unique("lease"),
                },
                event: { source: "HOST_API", detail: JSON.stringify({ n: ++seq }) },
              });
              assertReusedAsFresh(readAndReserveStatements, handle.db, statement(), statement());
              shapes++;
            }
      assert.equal(shapes, 16);
    });

    it("succeedRefundAsRead: every number of open statuses and outbox form", () => {
      for (const statuses of [["PENDING"], ["PENDING", "UNKNOWN"], ["PENDING", "UNKNOWN", "SENT"]])
        for (const form of outboxForms) {
          const statement = (): RefundSuccessAsRead => ({
            refundId: unique("rf") as RefundId,
            paymentId: unique("pay") as PaymentId,
            openStatuses: statuses.map((status) => `${status}_${++seq}`),
            version: String(++seq),
            from: "PAID",
            to: "PARTIALLY_CANCELLED",
            pgRefundId: unique("pgref"),
            source: "WEBHOOK",
            detail: JSON.stringify({ n: ++seq }),
            ...outbox(form),
          });
          assertReusedAsFresh(refundSuccessAsReadStatements, handle.db, statement(), statement());
        }
    });

    it("the TEST PG's record insert, status changes and refund", () => {
      const db = handle.db as unknown as Kysely<TestPgTables>;
      const record = () => ({
        id: unique("tpay"),
        tenant: unique("tenant"),
        merchant_reference: unique("ref"),
        idempotency_key: unique("key"),
        amount: String(++seq),
        currency: unique("KRW"),
        pay_type: unique("CARD"),
        description: unique("desc"),
        status: unique("OPEN"),
        return_url: unique("return"),
        webhook_url: unique("hook"),
        refunded: String(++seq),
        account: null,
        expires_at: new Date(++seq),
        created_at: new Date(++seq),
        updated_at: new Date(++seq),
      });
      assertReusedAsFresh(insertTestPgPayment, db, record(), record());
      for (const from of [["OPEN"], ["OPEN", "WAITING_FOR_DEPOSIT"]] as const)
        for (const account of [false, true]) {
          const change = () => ({
            id: unique("tpay"),
            to: "PAID" as const,
            from: [...from],
            at: new Date(++seq),
            ...(account ? { account: unique("account") } : {}),
          });
          assertReusedAsFresh(setTestPgStatus, db, change(), change());
        }
      const refund = () => ({
        key: unique("key"),
        amount: String(++seq),
        now: new Date(++seq),
        id: unique("tpay"),
        tenant: unique("tenant"),
        refundId: unique("tprf"),
      });
      assertReusedAsFresh(testPgRefundStatement, db, refund(), refund());
    });

    it("a shape whose listed parameters are not Kysely's compiles afresh every time, even when values line up", () => {
      const pair = new Precompiled({
        build: (db: Db, { a, b }: { a: string; b: string }) => compilableSql(db, sql`SELECT ${a}::text, ${b}::text`),
        // Listed in the wrong order.
        parameters: ({ a, b }) => [b, a],
      });
      const first = pair.compiled(handle.db, { a: "x", b: "y" });
      assert.deepStrictEqual(first.parameters, ["x", "y"]);
      assert.equal(pair.reused({ a: "x", b: "y" }), false);
      // Equal values would pass the check; the shape must stay unreused all the same.
      pair.compiled(handle.db, { a: "z", b: "z" });
      assert.equal(pair.reused({ a: "z", b: "z" }), false);
      const later = pair.compiled(handle.db, { a: "p", b: "q" });
      assert.deepStrictEqual(later.parameters, ["p", "q"]);
    });

    it("a real statement listed wrongly falls back to fresh compiles", () => {
      const move = () => paidMove([["status", "PAID"]]);
      // The move's own text, with its parameters listed in reverse.
      const listedWrongly = new Precompiled({
        build: (db: Db, m: MoveAsRead) => ({ compile: () => moveAsReadStatements.fresh(db, m) }),
        parameters: (m) => [...moveAsReadStatements.fresh(handle.db, m).parameters].reverse(),
      });
      for (let i = 0; i < 3; i++) {
        const m = move();
        const fresh = moveAsReadStatements.fresh(handle.db, m);
        const compiled = listedWrongly.compiled(handle.db, m);
        assert.equal(compiled.sql, fresh.sql);
        assert.deepStrictEqual(compiled.parameters, fresh.parameters);
        assert.equal(listedWrongly.reused(m), false);
      }
    });
  });
}
