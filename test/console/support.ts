/**
 * What the console tests share: a PGB with the console on, operators of each role, an HTTP client
 * that keeps cookies and reads CSRF tokens from pages as a browser would, and a seeded data set
 * whose figures the tests know independently of the console's SQL.
 */
import type { Kysely } from "kysely";
import { createOperator } from "../../src/console/operators.ts";
import type { Backend } from "../support/backends.ts";
import { demoTenant, startPgb, type TestPgb } from "../support/pgb.ts";
import type { Database } from "../../src/storage/schema.ts";

export const PASSWORD = "operator-password-123";
export const CONSOLE_SETTINGS = { sessionSecret: "console-test-secret-0123456789abcdef", loginAttemptsPerMinute: 1000 };

export async function startConsolePgb(
  backend: Backend,
  options: { tenants?: Record<string, unknown>; console?: Record<string, unknown> } = {},
): Promise<TestPgb> {
  return startPgb(backend, {
    tenants: options.tenants ?? { DEMO: demoTenant(), OTHER: demoTenant({ apiKeys: ["key-other-1"] }) },
    console: { ...CONSOLE_SETTINGS, ...options.console },
  });
}

/** viewer, support, finance, admin (all tenants) and `limited`, a viewer of OTHER only. */
export async function createOperators(pgb: TestPgb): Promise<void> {
  for (const role of ["viewer", "support", "finance", "admin"] as const) await createOperator(pgb.database.db, { username: role, password: PASSWORD, role });
  await createOperator(pgb.database.db, { username: "limited", password: PASSWORD, role: "finance", tenants: ["OTHER"] });
}

export interface Answer {
  status: number;
  location: string | null;
  html: string;
}

export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  async request(method: "GET" | "POST", path: string, form?: Record<string, string>): Promise<Answer> {
    const headers: Record<string, string> = { origin: this.base };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (form) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(`${this.base}${path}`, { method, headers, body: form ? new URLSearchParams(form).toString() : null, redirect: "manual" });
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const [name, ...value] = pair!.split("=");
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(c)) this.cookies.delete(name!);
      else this.cookies.set(name!, value.join("="));
    }
    return { status: response.status, location: response.headers.get("location"), html: await response.text() };
  }

  get(path: string): Promise<Answer> {
    return this.request("GET", path);
  }

  async login(username: string, password = PASSWORD): Promise<Answer> {
    return this.request("POST", "/console/login", { username, password });
  }

  /** Opens `page`, takes the CSRF token of its forms and posts `form` to `action`. */
  async act(page: string, action: string, form: Record<string, string>): Promise<Answer> {
    const opened = await this.get(page);
    const token = /name="_csrf" value="([^"]+)"/.exec(opened.html)?.[1];
    if (token === undefined) throw new Error(`no CSRF token on ${page} (${opened.status})`);
    return this.request("POST", action, { _csrf: token, ...form });
  }
}

export interface SeededPayment {
  id: string;
  tenant: string;
  orderId: number;
  joinerId: number;
  pg: string;
  status: string;
  amount: bigint;
  currency: string;
  createdAt: Date;
  paidAt: Date | null;
  pgTransactionId: string;
  refunds: Array<{ id: string; amount: bigint; status: "SUCCEEDED" | "FAILED"; pgReference: string }>;
  accountNumber: string | null;
}

/**
 * A day of payments for one tenant spread over the last `hours` hours, with known statuses, refunds,
 * notifications (some delivered with known latencies, some pending, some dead) and webhooks.
 */
export async function seedOverview(
  db: Kysely<Database>,
  tenant: string,
  now = new Date(),
  count = 60,
): Promise<{ payments: SeededPayment[]; notifications: Array<{ status: string; latencyMs: number | null }>; webhookLagsMs: number[] }> {
  const statuses = ["PAID", "PAID", "FAILED", "READY", "PARTIALLY_CANCELLED", "EXPIRED", "SUPERSEDED", "CANCELLED", "WAITING_FOR_DEPOSIT", "PAID"];
  const pgs = ["TEST", "STRIPE", "TOSS"];
  const payments: SeededPayment[] = [];
  for (let i = 0; i < count; i++) {
    const status = statuses[i % statuses.length]!;
    const createdAt = new Date(now.getTime() - ((i * 37) % (20 * 60)) * 60_000 - 60_000);
    const captured = ["PAID", "PARTIALLY_CANCELLED", "CANCELLED"].includes(status);
    const amount = BigInt(1000 * (i + 1));
    const id = `pay_seed${tenant}${String(i).padStart(4, "0")}`;
    const refunds: SeededPayment["refunds"] =
      status === "PARTIALLY_CANCELLED"
        ? [
            { id: `mm_seed${tenant}${i}a`, amount: 500n, status: "SUCCEEDED", pgReference: `re_seed${tenant}${i}a` },
            { id: `mm_seed${tenant}${i}b`, amount: 100n, status: "FAILED", pgReference: `re_seed${tenant}${i}b` },
          ]
        : status === "CANCELLED"
          ? [{ id: `mm_seed${tenant}${i}a`, amount, status: "SUCCEEDED", pgReference: `re_seed${tenant}${i}a` }]
          : [];
    payments.push({
      id,
      tenant,
      orderId: 500_000 + i,
      joinerId: 9_000 + (i % 7),
      pg: pgs[i % pgs.length]!,
      status,
      amount,
      currency: "KRW",
      createdAt,
      paidAt: captured ? new Date(createdAt.getTime() + 30_000) : null,
      pgTransactionId: `tx_seed${tenant}${i}`,
      refunds,
      accountNumber: status === "WAITING_FOR_DEPOSIT" ? `VA${tenant}${i}` : null,
    });
  }
  for (const p of payments) {
    await db
      .insertInto("payments")
      .values({
        id: p.id,
        tenant: p.tenant,
        order_id: p.orderId,
        joiner_id: p.joinerId,
        pay_type: p.accountNumber ? "VIRTUAL_ACCOUNT" : "CARD",
        nation_code: "KR",
        currency: p.currency,
        amount: p.amount,
        description: "seeded",
        host_redirect_url: "https://shop.example.com/done",
        request_fingerprint: "seed",
        pg: p.pg,
        pg_transaction_id: p.pgTransactionId,
        checkout_url: null,
        status: p.status,
        pg_details: p.accountNumber
          ? JSON.stringify({ virtualAccount: { bank: "SEED BANK", accountNumber: p.accountNumber, holderName: "PGB", dueDate: "2030-01-01" } })
          : null,
        failure_code: null,
        failure_message: null,
        expires_at: new Date(p.createdAt.getTime() + 1_800_000),
        paid_at: p.paidAt,
        created_at: p.createdAt,
        updated_at: p.createdAt,
      })
      .execute();
    if (p.paidAt)
      await db
        .insertInto("money_movements")
        .values({ id: `mm_cap_${p.id}`, payment_id: p.id, kind: "CAPTURE", amount: p.amount, status: "SUCCEEDED", created_at: p.paidAt })
        .execute();
    for (const r of p.refunds) {
      await db
        .insertInto("money_movements")
        .values({
          id: r.id,
          payment_id: p.id,
          kind: "REFUND",
          amount: r.amount,
          status: r.status,
          pg_reference: r.pgReference,
          idempotency_key: null,
          created_at: new Date(p.paidAt!.getTime() + 60_000),
        })
        .execute();
    }
  }
  // Notifications: the first 12 paid ones delivered after (i+1)*100 ms, two pending (one retrying), two dead.
  const notifications: Array<{ status: string; latencyMs: number | null }> = [];
  const paid = payments.filter((p) => p.paidAt);
  for (const [i, p] of paid.slice(0, 16).entries()) {
    const status = i < 12 ? "DELIVERED" : i < 14 ? "PENDING" : "DEAD";
    const latencyMs = status === "DELIVERED" ? (i + 1) * 100 : null;
    const createdAt = p.paidAt!;
    await db
      .insertInto("notifications")
      .values({
        id: `msg_seed${p.id}`,
        tenant: p.tenant,
        payment_id: p.id,
        order_id: p.orderId,
        type: "PAYMENT_COMPLETED",
        payload: "{}",
        status: status as never,
        attempts: status === "DEAD" ? 3 : i === 13 ? 1 : status === "DELIVERED" ? 1 : 0,
        next_attempt_at: new Date(now.getTime() + 3_600_000),
        delivered_at: latencyMs === null ? null : new Date(createdAt.getTime() + latencyMs),
        created_at: createdAt,
      })
      .execute();
    notifications.push({ status, latencyMs });
  }
  // Webhooks processed with lags of 50, 150, 250 ms.
  const webhookLagsMs = [50, 150, 250];
  for (const [i, lag] of webhookLagsMs.entries()) {
    const receivedAt = new Date(now.getTime() - (i + 2) * 600_000);
    await db
      .insertInto("pg_webhooks")
      .values({
        pg: "TEST",
        tenant,
        event_id: `evt_seed${tenant}${i}`,
        status: "PROCESSED",
        headers: "{}",
        body: "{}",
        received_at: receivedAt,
        processed_at: new Date(receivedAt.getTime() + lag),
      } as never)
      .execute();
  }
  return { payments, notifications, webhookLagsMs };
}
