/** The console's page shell: navigation with the open-alert badge, who is signed in, language. */
import type { Operator } from "../storage/operator-repository.ts";
import { html, type Html } from "./html.ts";
import type { Lang } from "./i18n.ts";

export interface PageContext {
  operator: Operator;
  lang: Lang;
  t: (text: string) => string;
  csrf: string;
  openAlerts: number;
  path: string;
}

export function csrfField(ctx: Pick<PageContext, "csrf">): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

export function page(
  ctx: PageContext,
  title: string,
  body: Html,
  options: { scripts?: string[]; flash?: { kind: "ok" | "error"; text: string } | undefined } = {},
): string {
  const { t } = ctx;
  const nav = (href: string, label: string, extra?: Html) =>
    html`<a href="${href}"${ctx.path.startsWith(href) ? html` aria-current="page"` : ""}>${t(label)}${extra}</a>`;
  const badge = html` <span class="badge${ctx.openAlerts > 0 ? " hot" : ""}" data-testid="alert-badge" aria-label="${ctx.openAlerts} open">${ctx.openAlerts}</span>`;
  const other: Lang = ctx.lang === "ko" ? "en" : "ko";
  return html`<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · PGB console</title>
<link rel="stylesheet" href="/console/assets/console.css">
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
  <span class="brand">PGB</span>
  <nav aria-label="Console">
    ${nav("/console/payments", "Payments")}
    ${nav("/console/alerts", "Alerts", badge)}
    ${nav("/console/overview", "Overview")}
    ${nav("/console/audit", "Audit log")}
  </nav>
  <div class="who">
    <span data-testid="operator">${ctx.operator.username} (${ctx.operator.role}${ctx.operator.tenants ? html`: ${ctx.operator.tenants.join(", ")}` : ""})</span>
    <a href="?lang=${other}" lang="${other}">${other === "ko" ? "한국어" : "English"}</a>
    <form method="post" action="/console/logout">${csrfField(ctx)}<button type="submit">${t("Sign out")}</button></form>
  </div>
</header>
<main id="main">
${options.flash ? html`<p class="flash ${options.flash.kind}" role="status">${options.flash.text}</p>` : ""}
<h1>${title}</h1>
${body}
</main>
</body>
</html>`.text;
}

/** A page for someone not signed in (the sign-in form, errors before sign-in). */
export function barePage(lang: Lang, title: string, body: Html): string {
  return html`<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · PGB console</title><link rel="stylesheet" href="/console/assets/console.css"></head>
<body class="bare"><main id="main"><h1>${title}</h1>${body}</main></body></html>`.text;
}
