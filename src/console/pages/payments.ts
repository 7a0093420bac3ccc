/** The search page and a payment's page. */
import { isCurrencyCode } from "../../core/currency.ts";
import { formatMinor } from "../../core/money.ts";
import { PAYMENT_STATUSES } from "../../core/payment-state.ts";
import { balanceFrom } from "../../storage/payment-repository.ts";
import type { PaymentListRow, PaymentStory } from "../../storage/console-queries.ts";
import { can } from "../auth.ts";
import { html, iso, when, type Html } from "../html.ts";
import { csrfField, page, type PageContext } from "../layout.ts";

export interface SearchForm {
  q: string;
  tenant: string;
  pg: string;
  status: string;
  from: string;
  to: string;
}

export function money(minor: bigint | string | number, currency: string): string {
  return isCurrencyCode(currency) ? `${formatMinor(BigInt(minor), currency)} ${currency}` : `${String(minor)} (minor units) ${currency}`;
}

export function searchPage(
  ctx: PageContext,
  form: SearchForm,
  options: { tenants: string[]; pgs: string[]; rows: PaymentListRow[]; nextCursor: string | undefined; paged: boolean },
): string {
  const { t } = ctx;
  const select = (name: keyof SearchForm, label: string, values: readonly string[]) => html`
    <label>${t(label)}<select name="${name}"><option value="">${t("Any")}</option>${values.map((v) => html`<option${v === form[name] ? html` selected` : ""}>${v}</option>`)}</select></label>`;
  const next = new URLSearchParams({ ...form, ...(options.nextCursor ? { after: options.nextCursor } : {}) });
  const first = new URLSearchParams(form as unknown as Record<string, string>);
  const body = html`
<section class="card">
<form class="filters" method="get" action="/console/payments" role="search">
  <label class="q">${t("Search")}<input type="search" name="q" value="${form.q}" placeholder="${t("OrderId, PaymentId, PG transaction, refund id, virtual account or JoinerId")}" autofocus></label>
  ${select("tenant", "Tenant", options.tenants)}
  ${select("pg", "PG", options.pgs)}
  ${select("status", "Status", PAYMENT_STATUSES)}
  <label>${t("From")}<input type="date" name="from" value="${form.from}"></label>
  <label>${t("To")}<input type="date" name="to" value="${form.to}"></label>
  <button type="submit">${t("Search")}</button>
</form>
</section>
<section class="card">
${
  options.rows.length === 0
    ? html`<p>${t("No payments match.")}</p>`
    : html`<table data-testid="results"><thead><tr><th>PaymentId</th><th>${t("Tenant")}</th><th>OrderId</th><th>JoinerId</th><th>PG</th><th>PayType</th><th class="num">${t("Total")}</th><th>${t("Status")}</th><th>Created</th></tr></thead><tbody>
${options.rows.map((r) => html`<tr><td><a class="mono" href="/console/payments/${r.id}">${r.id}</a></td><td>${r.tenant}</td><td>${r.order_id}</td><td>${r.joiner_id}</td><td>${r.pg}</td><td>${r.pay_type}</td><td class="num">${money(r.amount, r.currency)}</td><td class="status ${r.status}">${r.status}</td><td>${iso(r.created_at)}</td></tr>`)}
</tbody></table>`
}
<div class="pager">
${when(options.paged, () => html`<a href="/console/payments?${first.toString()}">${t("First page")}</a>`)}
${when(options.nextCursor, () => html`<a rel="next" href="/console/payments?${next.toString()}">${t("Next page")} →</a>`)}
</div>
</section>`;
  return page(ctx, t("Payments"), body);
}

interface TimelineEntry {
  at: Date;
  kind: string;
  what: Html | string;
  detail?: Html | string;
}

function json(value: unknown): string {
  if (value === null || value === undefined) return "";
  // Long tokens (a TEST PG checkout id is a few hundred characters) are shortened; the search finds them whole.
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === "string" && v.length > 48 ? `${v.slice(0, 28)}…${v.slice(-12)}` : v));
  return text === "{}" ? "" : text;
}

function timelineOf(story: PaymentStory, currency: string): TimelineEntry[] {
  const short = (id: string) => id.slice(0, 12) + "…";
  const entries: TimelineEntry[] = [];
  for (const e of story.events) {
    entries.push({
      at: new Date(e.created_at),
      kind: "state",
      what: html`<b>${e.event}</b> ${e.from_status ?? "∅"} → <span class="status ${e.to_status}">${e.to_status}</span> <span class="muted">(${e.source}, ${short(e.payment_id)})</span>`,
      detail: json(e.detail),
    });
  }
  for (const w of story.webhooks) {
    const verdict = w.status === "REJECTED" ? "rejected" : w.status === "PROCESSED" ? "verified" : w.status.toLowerCase();
    entries.push({
      at: new Date(w.received_at),
      kind: "PG webhook",
      what: html`${w.pg} <code>${w.event_id}</code> <span class="status ${w.status}">${verdict}</span>${w.attempts > 1 ? html` after ${w.attempts} attempts` : ""}`,
      detail: w.error ?? "",
    });
  }
  for (const m of story.movements) {
    const label = m.kind === "CAPTURE" ? "capture" : "refund";
    entries.push({
      at: new Date(m.created_at),
      kind: m.kind === "CAPTURE" ? "PG call" : "refund",
      what: html`${label} ${money(m.amount, currency)} <span class="status ${m.status}">${m.status}</span> <span class="muted">id <code>${m.id}</code>${m.idempotency_key || m.kind === "REFUND" ? html`, idempotency key <code>${m.kind === "REFUND" ? m.id : m.idempotency_key}</code>` : ""}${m.pg_reference ? html`, PG <code>${m.pg_reference}</code>` : ""}</span>`,
      detail: [m.failure_code, m.failure_message].filter(Boolean).join(" "),
    });
  }
  for (const n of story.notifications) {
    entries.push({
      at: new Date(n.created_at),
      kind: "notification",
      what: html`${n.type} <code>${n.id}</code> queued, now <span class="status ${n.status}">${n.status}</span>${n.replayed_at ? html` (replayed ${iso(n.replayed_at)})` : ""}`,
    });
  }
  for (const a of story.deliveries) {
    entries.push({
      at: new Date(a.started_at),
      kind: "delivery",
      what: html`<code>${a.notification_id}</code> attempt ${a.attempt}: <span class="status ${a.outcome}">${a.outcome}</span> ${a.status_code ?? ""} in ${a.duration_ms} ms`,
      detail: a.error ?? "",
    });
  }
  for (const a of story.alerts) {
    entries.push({
      at: new Date(a.raised_at),
      kind: "alert",
      what: html`<b>${a.type}</b> ${a.message}${a.acknowledged_at ? html` — acknowledged by ${a.acknowledged_by}` : ""}`,
      detail: json(a.details),
    });
  }
  for (const a of story.audit) {
    entries.push({ at: new Date(a.at), kind: "operator", what: html`${a.operator}: <b>${a.action}</b> ${a.outcome}`, detail: json(a.detail) });
  }
  return entries.sort((x, y) => x.at.getTime() - y.at.getTime());
}

/** A PG's id can be a long token (the TEST PG's are signed); the page shows its ends, the tooltip all of it. */
function shortened(id: string | null): Html | string {
  if (id === null) return "—";
  return id.length <= 48 ? id : html`<span title="${id}">${id.slice(0, 28)}…${id.slice(-12)}</span>`;
}

export function paymentPage(ctx: PageContext, story: PaymentStory, flash?: { kind: "ok" | "error"; text: string }): string {
  const { t, operator } = ctx;
  const p = story.payment;
  const captured = story.attempts.find((a) => ["PAID", "PARTIALLY_CANCELLED", "CANCELLED"].includes(a.status));
  const balance = balanceFrom(story.movements.filter((m) => m.payment_id === (captured ?? p).id));
  const va = (p.pg_details as { virtualAccount?: { bank: string; accountNumber: string; holderName: string; dueDate: string } } | null)?.virtualAccount;
  const open = story.attempts.filter((a) => a.status === "READY" || a.status === "WAITING_FOR_DEPOSIT");
  const dead = story.notifications.filter((n) => n.status === "DEAD");
  const confirm = html`<label><input type="checkbox" name="confirm" value="yes" required> ${t("I have checked this and confirm")}</label>`;
  const actions: Html[] = [];
  if (can(operator, "sync"))
    actions.push(
      html`<form class="action" method="post" action="/console/payments/${p.id}/sync">${csrfField(ctx)}${confirm}<button type="submit" data-action="sync">${t("Sync with the PG now")}</button></form>`,
    );
  if (can(operator, "expire")) {
    for (const a of open)
      actions.push(
        html`<form class="action" method="post" action="/console/payments/${a.id}/expire">${csrfField(ctx)}<span class="mono">${a.id}</span>${confirm}<button type="submit" class="danger" data-action="expire">${t("Expire this checkout")}</button></form>`,
      );
  }
  if (can(operator, "replay")) {
    for (const n of dead)
      actions.push(
        html`<form class="action" method="post" action="/console/notifications/${n.id}/replay">${csrfField(ctx)}<span>${n.type} <code>${n.id}</code></span>${confirm}<button type="submit" data-action="replay">${t("Replay")}</button></form>`,
      );
  }
  if (can(operator, "refund") && captured && balance.remaining > 0n) {
    actions.push(html`<form class="action" method="post" action="/console/payments/${captured.id}/refund">${csrfField(ctx)}
      <input type="hidden" name="current" value="${balance.remaining.toString()}">
      <input type="hidden" name="idempotencyKey" value="${`console-${crypto.randomUUID()}`}">
      <label>${t("Amount (empty = everything remaining)")} <input name="amount" inputmode="decimal" size="10" placeholder="${formatMinor(balance.remaining, captured.currency as never)}"></label>
      <label>${t("Reason")} <input name="reason" required maxlength="200"></label>
      ${confirm}<button type="submit" class="danger" data-action="refund">${t("Refund")}</button></form>`);
  }
  const body = html`
<section class="card" aria-labelledby="amounts"><h2 id="amounts">${t("Amounts")}</h2>
<table><tbody>
<tr><th>${t("Tenant")} / OrderId / JoinerId</th><td>${p.tenant} / ${p.order_id} / ${p.joiner_id}</td></tr>
<tr><th>PG / PayType / Nation</th><td>${p.pg} / ${p.pay_type} / ${p.nation_code}</td></tr>
<tr><th>${t("Status")}</th><td class="status ${p.status}" data-testid="status">${p.status}</td></tr>
<tr><th>${t("Total")}</th><td data-testid="total">${money(p.amount, p.currency)}</td></tr>
<tr><th>${t("Paid")}</th><td data-testid="paid">${money(balance.captured, p.currency)}</td></tr>
<tr><th>${t("Refunded")}</th><td data-testid="refunded">${money(balance.refunded, p.currency)}</td></tr>
<tr><th>${t("Remaining")}</th><td data-testid="remaining">${money(balance.remaining, p.currency)}</td></tr>
<tr><th>PG transaction</th><td class="mono">${shortened(p.pg_transaction_id)}</td></tr>
${when(va, () => html`<tr><th>${t("Virtual account")}</th><td data-testid="virtual-account">${va!.bank} <code>${va!.accountNumber}</code> (${va!.holderName}), due ${va!.dueDate}</td></tr>`)}
</tbody></table></section>
${when(actions.length > 0, () => html`<section class="card" aria-labelledby="actions" data-testid="actions"><h2 id="actions">${t("Actions")}</h2>${actions}</section>`)}
<section class="card" aria-labelledby="attempts"><h2 id="attempts">${t("Attempts")}</h2>
<table><thead><tr><th>PaymentId</th><th>${t("Status")}</th><th class="num">${t("Total")}</th><th>PG transaction</th><th>Created</th><th>Expires</th></tr></thead><tbody>
${story.attempts.map((a) => html`<tr><td><a class="mono" href="/console/payments/${a.id}"${a.id === p.id ? html` aria-current="true"` : ""}>${a.id}</a></td><td class="status ${a.status}">${a.status}</td><td class="num">${money(a.amount, a.currency)}</td><td class="mono">${shortened(a.pg_transaction_id)}</td><td>${iso(a.created_at)}</td><td>${iso(a.expires_at)}</td></tr>`)}
</tbody></table></section>
<section class="card" aria-labelledby="timeline"><h2 id="timeline">${t("Timeline")}</h2>
<table class="timeline" data-testid="timeline"><thead><tr><th>Time (UTC)</th><th>Kind</th><th>What</th><th>Detail</th></tr></thead><tbody>
${timelineOf(story, p.currency).map((e) => html`<tr><td>${iso(e.at)}</td><td><span class="kind">${e.kind}</span></td><td>${e.what}</td><td class="mono">${e.detail ?? ""}</td></tr>`)}
</tbody></table></section>`;
  return page(ctx, `${t("Payments")} · ${p.tenant} #${p.order_id}`, body, { flash });
}
