/**
 * The README's list of host notifications is the code's: every type PGB can queue is documented, and
 * no documented type is one PGB never sends; each money notification's own fields are in its row.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { MONEY_NOTIFICATION_TYPES, moneyNotificationFields, type MoneyNotification } from "../../src/core/money-notifications.ts";
import { NOTIFICATION_TYPES } from "../../src/core/payment-state.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const start = readme.indexOf("Notifications the host receives");
// The paragraph and the table that follows it, up to the first blank line after the table.
const section = readme.slice(start, readme.indexOf("\n\n", readme.indexOf("| Type | when", start)));

const SAMPLES: Record<(typeof MONEY_NOTIFICATION_TYPES)[number], MoneyNotification> = {
  LATE_PAYMENT: { type: "LATE_PAYMENT", captured: 100n },
  LATE_PAYMENT_REFUNDED: { type: "LATE_PAYMENT_REFUNDED", captured: 100n, refundId: "mm_1", refunded: 100n },
  REFUND_FAILED: { type: "REFUND_FAILED", refundId: "mm_1", refunded: 100n, pgCode: "X", message: "m", lateCapture: false },
};

describe("the README's notification list", () => {
  it("names exactly the notification types PGB queues", () => {
    const documented = new Set([...section.matchAll(/`([A-Z]+(?:_[A-Z]+)+)`/g)].map((m) => m[1]!));
    const queued = new Set<string>([...NOTIFICATION_TYPES, ...MONEY_NOTIFICATION_TYPES]);
    for (const type of queued) assert.ok(documented.has(type), `${type} is queued but not in the README`);
    for (const type of documented) assert.ok(queued.has(type), `the README lists ${type}, which PGB never queues`);
  });

  it("lists each money notification's own fields in its row", () => {
    for (const type of MONEY_NOTIFICATION_TYPES) {
      const row = section.split("\n").find((line) => line.startsWith(`| \`${type}\` |`));
      assert.ok(row !== undefined, `no README row for ${type}`);
      for (const field of Object.keys(moneyNotificationFields(SAMPLES[type], "KRW"))) assert.ok(row.includes(`\`${field}\``), `${type}: field ${field} is not in its README row`);
    }
  });
});
