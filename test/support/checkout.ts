/**
 * Drives the TEST PG's checkout page over plain HTTP, as a browser without JavaScript would: GET the
 * page, POST the button's form, follow PGB's redirects until the host's page.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { TestPgb } from "./pgb.ts";
import { hostGet, hostPost, payStartBody } from "./pgb.ts";

/** The TEST page as a browser holds it: its HTML, the CSRF cookie it set and the token in its forms. */
export async function openCheckout(checkoutUrl: string): Promise<{ status: number; html: string; cookie: string; token: string }> {
  const page = await fetch(checkoutUrl);
  const html = await page.text();
  const cookie = (page.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  return { status: page.status, html, cookie, token };
}

/** POSTs one of the TEST page's forms with the page's cookie and CSRF token. */
export function submitCheckoutForm(url: string | URL, action: string, form: { cookie: string; token: string }, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: form.cookie },
    body: `_csrf=${encodeURIComponent(form.token)}&go=${action}`,
    redirect: "manual",
    ...(signal ? { signal } : {}),
  });
}

export async function pressButton(checkoutUrl: string, action: "pay" | "fail" | "cancel" | "issue-account" | "deposit"): Promise<string> {
  const opened = await openCheckout(checkoutUrl);
  const form = new RegExp(`action="([^"]+/${action})"`).exec(opened.html);
  if (form === null) throw new Error(`no ${action} button on ${checkoutUrl}: ${opened.html.slice(0, 400)}`);
  const response = await submitCheckoutForm(new URL(form[1]!, checkoutUrl), action, opened);
  if (response.status !== 303) throw new Error(`${action} answered ${response.status}: ${await response.text()}`);
  return response.headers.get("location")!;
}

/** Follows the TEST PG's redirect to PGB's return URL, which answers with the host's RedirectUrl. */
export async function followReturn(pgb: TestPgb, location: string): Promise<URL> {
  const response = await fetch(new URL(location, pgb.url), { redirect: "manual" });
  if (response.status !== 303) throw new Error(`return answered ${response.status}: ${await response.text()}`);
  return new URL(response.headers.get("location")!);
}

/** The order's outbox rows, oldest first, as the host will receive them. */
export async function notificationsOf(pgb: TestPgb, orderId: number): Promise<Array<{ type: string; payload: Record<string, unknown> }>> {
  const rows = await pgb.database.db.selectFrom("notifications").select(["type", "payload"]).where("order_id", "=", orderId).orderBy("seq").execute();
  return rows.map((row) => ({ type: row.type, payload: row.payload as Record<string, unknown> }));
}

/** Polls PGB's own view of an order until `predicate` holds (webhooks arrive asynchronously). */
export async function waitForOrder(
  pgb: TestPgb,
  orderId: number,
  predicate: (body: Record<string, unknown>) => boolean,
  dbType = "DEMO",
): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  for (let i = 0; i < 100; i++) {
    const r = await hostGet(pgb, `/PGB/Payment?DBType=${dbType}&OrderId=${orderId}`);
    last = r.body;
    if (predicate(r.body)) return r.body;
    await sleep(50);
  }
  throw new Error(`order ${orderId} never reached the expected state; last: ${JSON.stringify(last).slice(0, 500)}`);
}

/** PayStart + Pay on the TEST page + browser return: an order PAID in PGB. */
export async function paidOrder(pgb: TestPgb, overrides: Record<string, unknown> = {}): Promise<{ orderId: number; paymentId: string }> {
  const body = payStartBody(overrides);
  const started = await hostPost(pgb, "/PGB/PayStart", body);
  if (started.status !== 200) throw new Error(`PayStart failed: ${JSON.stringify(started.body)}`);
  const location = await pressButton(String(started.body.RedirectUrl), "pay");
  await followReturn(pgb, location);
  await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
  return { orderId: Number(body.OrderId), paymentId: String(started.body.PaymentId) };
}
