/** The alerts inbox, the overview, the audit log and the sign-in page. */
import type { Overview } from "../../storage/console-queries.ts";
import { can } from "../auth.ts";
import { html, iso, raw, when } from "../html.ts";
import type { Lang } from "../i18n.ts";
import { barePage, csrfField, page, type PageContext } from "../layout.ts";
import { money } from "./payments.ts";
import type { AlertRow, AuditLogRow } from "../../storage/schema.ts";

export function alertsPage(
  ctx: PageContext,
  alerts: AlertRow[],
  filter: { state: string; type: string },
  types: readonly string[],
  flash?: { kind: "ok" | "error"; text: string },
): string {
  const { t } = ctx;
  const body = html`
<section class="card"><form class="filters" method="get" action="/console/alerts">
<label>${t("Status")}<select name="state">${[
    ["open", "Open"],
    ["acknowledged", "Acknowledged"],
    ["all", "All"],
  ].map(([v, l]) => html`<option value="${v!}"${filter.state === v ? html` selected` : ""}>${t(l!)}</option>`)}</select></label>
<label>Type<select name="type"><option value="">${t("Any")}</option>${types.map((v) => html`<option${v === filter.type ? html` selected` : ""}>${v}</option>`)}</select></label>
<button type="submit">${t("Search")}</button></form></section>
<section class="card">
${
  alerts.length === 0
    ? html`<p>No alerts.</p>`
    : html`<table data-testid="alerts"><thead><tr><th>Raised (UTC)</th><th>Type</th><th>${t("Tenant")}</th><th>Payment</th><th>What</th><th>Seen</th><th>${t("Status")}</th></tr></thead><tbody>
${alerts.map(
  (
    a,
  ) => html`<tr data-alert-id="${a.id}"><td>${iso(a.raised_at)}</td><td><b>${a.type}</b></td><td>${a.tenant ?? ""}</td><td>${a.payment_id ? html`<a class="mono" href="/console/payments/${a.payment_id}">${a.payment_id}</a>` : ""}</td>
<td>${a.message}<br><code>${JSON.stringify(a.details)}</code></td><td class="num">${a.occurrences}× ${a.occurrences > 1 ? html`<br>last ${iso(a.last_seen_at)}` : ""}</td>
<td>${
    a.acknowledged_at
      ? html`<span class="status DELIVERED">${t("Acknowledged")}</span> ${a.acknowledged_by} ${iso(a.acknowledged_at)}<br><q>${a.ack_note ?? ""}</q>`
      : can(ctx.operator, "acknowledge")
        ? html`<form class="stack" method="post" action="/console/alerts/${a.id}/ack">${csrfField(ctx)}<label>${t("Note")} <input name="note" required maxlength="500"></label><button type="submit" data-action="ack">${t("Acknowledge")}</button></form>`
        : html`<span class="status FAILED">${t("Open")}</span>`
  }</td></tr>`,
)}
</tbody></table>`
}
</section>`;
  return page(ctx, t("Alerts"), body, { flash });
}

export function overviewPage(ctx: PageContext, data: Overview, window: { hours: number; from: Date; to: Date }): string {
  const { t } = ctx;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const ms = (x: number | null) => (x === null ? "—" : `${Math.round(x)} ms`);
  // Chart data travels as JSON in a non-executed script element; console.js draws it with Chart.js.
  const chartData = JSON.stringify({
    hourly: data.hourly,
    perPg: data.perPg,
    refunds: data.refunds.map((r) => ({ currency: r.currency, count: r.count, total: money(r.totalMinor, r.currency) })),
    labels: { started: t("Started"), paid: t("Paid"), failed: t("Failed"), conversion: t("Conversion") },
  }).replace(/</g, "\\u003c");
  const body = html`
<section class="card"><form class="filters" method="get" action="/console/overview">
<label>${t("Window")}<select name="hours">${[1, 6, 24, 72, 168, 720].map((h) => html`<option value="${h}"${h === window.hours ? html` selected` : ""}>${h < 48 ? `${h} h` : `${h / 24} d`}</option>`)}</select></label>
<button type="submit">${t("Search")}</button> <span class="muted">${iso(window.from)} – ${iso(window.to)}</span></form></section>
<div class="kpis">
<div class="kpi">${t("Notification delivery")}<b data-testid="delivery-p95">${ms(data.delivery.p95Ms)}</b><span class="muted">p95 · avg ${ms(data.delivery.avgMs)} · ${data.delivery.delivered} delivered</span></div>
<div class="kpi">${t("Backlog")}<b data-testid="backlog">${data.backlog.pending + data.backlog.retrying}</b><span class="muted">${data.backlog.pending} pending · ${data.backlog.retrying} retrying</span></div>
<div class="kpi">${t("Dead")}<b data-testid="dead">${data.backlog.dead}</b><span class="muted">${data.delivery.dead} in window</span></div>
<div class="kpi">${t("Webhook processing")}<b data-testid="webhook-lag">${ms(data.webhooks.avgLagMs)}</b><span class="muted">avg lag · max ${ms(data.webhooks.maxLagMs)} · ${data.webhooks.unprocessed} waiting</span></div>
</div>
<div class="charts">
<section class="card"><h2>${t("Payments per hour")}</h2><div class="chart-box"><canvas id="chart-hourly" role="img" aria-label="${t("Payments per hour")}"></canvas></div></section>
<section class="card"><h2>${t("Conversion")}</h2><div class="chart-box"><canvas id="chart-conversion" role="img" aria-label="${t("Conversion")}"></canvas></div></section>
</div>
<section class="card"><h2>${t("Conversion")} / PG</h2>
<table data-testid="per-pg"><thead><tr><th>PG</th><th class="num">${t("Started")}</th><th class="num">${t("Paid")}</th><th class="num">${t("Failed")}</th><th class="num">${t("Conversion")}</th></tr></thead><tbody>
${data.perPg.map((r) => html`<tr data-pg="${r.pg}"><td>${r.pg}</td><td class="num" data-k="started">${r.started}</td><td class="num" data-k="paid">${r.paid}</td><td class="num" data-k="failed">${r.failed}</td><td class="num" data-k="conversion">${pct(r.conversion)}</td></tr>`)}
</tbody></table></section>
<section class="card"><h2>${t("Refund volume")}</h2>
${
  data.refunds.length === 0
    ? html`<p class="muted">—</p>`
    : html`<table data-testid="refunds"><thead><tr><th>Currency</th><th class="num">Count</th><th class="num">${t("Total")}</th></tr></thead><tbody>
${data.refunds.map((r) => html`<tr data-currency="${r.currency}"><td>${r.currency}</td><td class="num" data-k="count">${r.count}</td><td class="num" data-k="total">${money(r.totalMinor, r.currency)}</td></tr>`)}</tbody></table>`
}
</section>
<section class="card"><h2>${t("Payments per hour")}</h2>
<table data-testid="hourly"><thead><tr><th>Hour (UTC)</th><th>PG</th><th class="num">${t("Started")}</th><th class="num">${t("Paid")}</th><th class="num">${t("Failed")}</th></tr></thead><tbody>
${data.hourly.map((r) => html`<tr><td>${r.hour}</td><td>${r.pg}</td><td class="num">${r.started}</td><td class="num">${r.paid}</td><td class="num">${r.failed}</td></tr>`)}
</tbody></table></section>
<script type="application/json" id="overview-data">${raw(chartData)}</script>`;
  return page(ctx, t("Overview"), body, { scripts: ["/console/assets/chart.umd.min.js", "/console/assets/console.js"] });
}

export function auditPage(ctx: PageContext, rows: AuditLogRow[], nextBefore: string | undefined): string {
  const { t } = ctx;
  const j = (v: unknown) => (v === null || v === undefined ? "" : JSON.stringify(v));
  const body = html`<section class="card"><table data-testid="audit"><thead><tr><th>Time (UTC)</th><th>Operator</th><th>Action</th><th>Outcome</th><th>${t("Tenant")}</th><th>Payment / target</th><th>Before</th><th>After</th><th>Detail</th></tr></thead><tbody>
${rows.map(
  (
    r,
  ) => html`<tr><td>${iso(r.at)}</td><td>${r.operator}</td><td><b>${r.action}</b></td><td class="status ${r.outcome === "ok" ? "PAID" : "FAILED"}">${r.outcome}</td><td>${r.tenant ?? ""}</td>
<td>${r.payment_id ? html`<a class="mono" href="/console/payments/${r.payment_id}">${r.payment_id}</a>` : ""} ${r.target ? html`<code>${r.target}</code>` : ""}</td><td><code>${j(r.before)}</code></td><td><code>${j(r.after)}</code></td><td><code>${j(r.detail)}</code></td></tr>`,
)}
</tbody></table>
${when(nextBefore, () => html`<div class="pager"><a rel="next" href="/console/audit?before=${nextBefore!}">Older →</a></div>`)}</section>`;
  return page(ctx, t("Audit log"), body);
}

export function loginPage(lang: Lang, t: (s: string) => string, options: { error?: string; next?: string }): string {
  return barePage(
    lang,
    `PGB · ${t("Sign in")}`,
    html`
${options.error ? html`<p class="flash error" role="alert">${options.error}</p>` : ""}
<form class="stack" method="post" action="/console/login">
<input type="hidden" name="next" value="${options.next ?? ""}">
<label>${t("Username")}<br><input name="username" autocomplete="username" required maxlength="64" autofocus></label>
<label>${t("Password")}<br><input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
<button type="submit">${t("Sign in")}</button>
</form>`,
  );
}
