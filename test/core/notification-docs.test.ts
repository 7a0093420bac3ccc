/**
 * The README's list of host notifications is the code's: every type PGB can queue is documented, no
 * documented type is one PGB never sends, and every field the code puts into a notification (built by
 * the same functions the outbox is written with) is named in the README.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  moneyNotification,
  stateNotification,
  type HostNotification,
  type NotifiedPayment,
  type StateNotificationFields,
} from "../../src/core/host-notification.ts";
import { MONEY_NOTIFICATION_TYPES, type MoneyNotification } from "../../src/core/money-notifications.ts";
import { NOTIFICATION_TYPES, type NotificationType } from "../../src/core/payment-state.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const start = readme.indexOf("Notifications the host receives");
const tableStart = readme.indexOf("| Type | when", start);
// The paragraph (fields of the payment notifications and those every notification carries) and the
// table of money notifications that follows it, up to the first blank line after the table.
const paragraph = readme.slice(start, tableStart);
const table = readme.slice(tableStart, readme.indexOf("\n\n", tableStart));

const payment: NotifiedPayment = {
  id: "pay_1",
  tenant: "SHOP",
  orderId: 1,
  joinerId: 7,
  pg: "TEST",
  payType: "VIRTUAL_ACCOUNT",
  nationCode: "KR",
  currency: "KRW",
  pgTransactionId: "tx_1",
  status: "PAID",
  amount: 1000n,
};
const balance = { captured: 1000n, refunded: 100n, remaining: 900n };
const at = new Date("2026-11-29T12:00:00Z");

// Every optional field filled in, so each one the code can send is checked.
const STATE_FIELDS: { [T in NotificationType]: Required<StateNotificationFields[T]> } = {
  PAYMENT_COMPLETED: {},
  DEPOSIT_WAITING: { VirtualAccount: { Bank: "KB", AccountNumber: "1", HolderName: "PGB", DueDate: "2026-12-01" } },
  PAYMENT_FAILED: { FailureCode: "DECLINED", FailureMessage: "m" },
  PAYMENT_EXPIRED: { FailureCode: "EXPIRED", FailureMessage: "m" },
  PAYMENT_PARTIALLY_CANCELLED: { RefundPrice: "100", RefundId: "mm_1", RefundOrigin: "PG" },
  PAYMENT_CANCELLED: { RefundPrice: "1000", RefundId: "mm_1", RefundOrigin: "PG" },
};
const MONEY: { [T in (typeof MONEY_NOTIFICATION_TYPES)[number]]: Extract<MoneyNotification, { type: T }> } = {
  LATE_PAYMENT: { type: "LATE_PAYMENT", captured: 100n },
  LATE_PAYMENT_REFUNDED: { type: "LATE_PAYMENT_REFUNDED", captured: 100n, refundId: "mm_1", refunded: 100n },
  REFUND_FAILED: { type: "REFUND_FAILED", refundId: "mm_1", refunded: 100n, pgCode: "X", message: "m", lateCapture: false },
};

const stateSamples: HostNotification[] = NOTIFICATION_TYPES.map((type) => stateNotification(type, payment, balance, STATE_FIELDS[type], "msg_1", at));
const moneySamples: HostNotification[] = MONEY_NOTIFICATION_TYPES.map((type) => moneyNotification(MONEY[type], payment, balance, "msg_1", at));

// `Field` or `Field: value` in code quotes.
const named = (text: string, field: string) => new RegExp(`\`${field}(\`|:)`).test(text);

describe("the README's notification list", () => {
  it("names exactly the notification types PGB queues", () => {
    const documented = new Set([...(paragraph + table).matchAll(/`([A-Z]+(?:_[A-Z]+)+)`/g)].map((m) => m[1]!));
    const queued = new Set<string>([...NOTIFICATION_TYPES, ...MONEY_NOTIFICATION_TYPES]);
    for (const type of queued) assert.ok(documented.has(type), `${type} is queued but not in the README`);
    for (const type of documented) assert.ok(queued.has(type), `the README lists ${type}, which PGB never queues`);
  });

  it("names every field of a payment notification", () => {
    for (const sample of stateSamples) {
      for (const field of Object.keys(sample)) assert.ok(named(paragraph, field), `${sample.Type}: field ${field} is not in the README`);
    }
  });

  it("lists each money notification's own fields in its row", () => {
    for (const sample of moneySamples) {
      const row = table.split("\n").find((line) => line.startsWith(`| \`${sample.Type}\` |`));
      assert.ok(row !== undefined, `no README row for ${sample.Type}`);
      for (const field of Object.keys(sample)) assert.ok(named(row, field) || named(paragraph, field), `${sample.Type}: field ${field} is not in the README`);
    }
  });
});
