/**
 * The operator console at /console (issue 13), served by PGB itself: find a payment, see its whole
 * story, act on it within one's role, watch alerts and the overview. Every action goes through the
 * same use cases as the host's API and is written to the audit log.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import formbody from "@fastify/formbody";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ConsoleConfig } from "../config/config.ts";
import type { CoreDeps } from "../core/deps.ts";
import { ALERT_TYPES } from "../core/alerts.ts";
import { listAlerts, openAlertCount } from "../storage/alert-repository.ts";
import { overview, paymentStory, searchPayments } from "../storage/console-queries.ts";
import { appendAudit, deleteExpiredSessions, findOperatorForLogin, listAudit, markLogin } from "../storage/operator-repository.ts";
import type { Reconciler } from "../workers/reconciler.ts";
import { registerActions } from "./actions.ts";
import { canSeeTenant, registerAuthPlugins, requireOperator } from "./auth.ts";
import { html } from "./html.ts";
import { translator, type Lang } from "./i18n.ts";
import { barePage, type PageContext } from "./layout.ts";
import { decoyHash, verifyPassword } from "./passwords.ts";
import { paymentPage, searchPage, type SearchForm } from "./pages/payments.ts";
import { alertsPage, auditPage, loginPage, overviewPage } from "./pages/other.ts";

declare module "fastify" {
  interface Session {
    flash?: { kind: "ok" | "error"; text: string };
  }
}

const PAGE_SIZE = 50;
const LANG_COOKIE = "pgb_lang";

function assets(): Record<string, { type: string; body: Buffer }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const chartDir = dirname(createRequire(import.meta.url).resolve("chart.js"));
  return {
    "console.css": { type: "text/css; charset=utf-8", body: readFileSync(join(here, "static/console.css")) },
    "console.js": { type: "text/javascript; charset=utf-8", body: readFileSync(join(here, "static/console.js")) },
    // Chart.js from node_modules: the console loads nothing from another origin.
    "chart.umd.min.js": { type: "text/javascript; charset=utf-8", body: readFileSync(join(chartDir, "chart.umd.min.js")) },
  };
}

export function langOf(request: FastifyRequest, reply: FastifyReply): Lang {
  const asked = (request.query as Record<string, unknown> | undefined)?.lang;
  if (asked === "ko" || asked === "en") {
    reply.setCookie(LANG_COOKIE, asked, { path: "/console", sameSite: "lax", httpOnly: true, maxAge: 365 * 86_400 });
    return asked;
  }
  return request.cookies[LANG_COOKIE] === "ko" ? "ko" : "en";
}

export async function registerConsole(app: FastifyInstance, deps: CoreDeps, options: { settings: ConsoleConfig; reconciler: Reconciler }): Promise<void> {
  const db = deps.db;
  const { settings } = options;
  const files = assets();
  const tenants = Object.keys(deps.config.tenants).sort();
  const pgs = [...new Set(Object.values(deps.config.tenants).flatMap((c) => Object.keys(c.pgs)))].sort();

  await app.register(async (scope) => {
    await scope.register(formbody);
    await registerAuthPlugins(scope, db, settings, deps.config.publicUrl, deps.clock);
    scope.addHook("onSend", async (_request, reply, payload) => {
      reply.header(
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
      reply.header("x-content-type-options", "nosniff");
      reply.header("referrer-policy", "same-origin");
      if (reply.getHeader("content-type")?.toString().startsWith("text/html")) reply.header("cache-control", "no-store");
      return payload;
    });
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (status >= 500) request.log.error({ err: error }, "console error");
      const text = status >= 500 ? `Something went wrong (request ${request.id}).` : error.message;
      return reply
        .code(status)
        .type("text/html; charset=utf-8")
        .send(barePage("en", `${status}`, html`<p role="alert">${text}</p><p><a href="/console/payments">Console</a></p>`));
    });

    scope.get<{ Params: { name: string } }>("/console/assets/:name", async (request, reply) => {
      const file = Object.hasOwn(files, request.params.name) ? files[request.params.name] : undefined;
      if (file === undefined) return reply.code(404).type("text/plain").send("not found");
      return reply.type(file.type).header("cache-control", "public, max-age=3600").send(file.body);
    });

    scope.get<{ Querystring: { next?: string } }>("/console/login", async (request, reply) => {
      const lang = langOf(request, reply);
      return reply.type("text/html; charset=utf-8").send(loginPage(lang, translator(lang), { next: safeNext(request.query.next) }));
    });

    scope.post<{ Body: { username?: unknown; password?: unknown; next?: unknown } }>(
      "/console/login",
      {
        // Counted per operator name, after the body is parsed: a client address is easy to vary (and
        // behind a proxy comes from a header), a guessed account is not.
        config: {
          rateLimit: {
            max: settings.loginAttemptsPerMinute,
            timeWindow: 60_000,
            hook: "preHandler",
            keyGenerator: (request) => `login:${loginName(request.body)}`,
          },
        },
      },
      async (request, reply) => {
        const lang = langOf(request, reply);
        const t = translator(lang);
        // No session exists yet to hold a CSRF token; a sign-in posted from another site is refused instead.
        if (!sameOrigin(request, deps.config.publicUrl))
          return reply
            .code(403)
            .type("text/html; charset=utf-8")
            .send(loginPage(lang, t, { error: "Sign in from the console's own page." }));
        const username = typeof request.body?.username === "string" ? request.body.username.trim().slice(0, 64) : "";
        const password = typeof request.body?.password === "string" ? request.body.password.slice(0, 1024) : "";
        const operator = username ? await findOperatorForLogin(db, username) : undefined;
        const valid = await verifyPassword(password, operator?.passwordHash ?? (await decoyHash()));
        if (operator === undefined || !valid || operator.disabled) {
          // Refusals are audited for real operators only: names made up by strangers are not stored.
          if (operator !== undefined)
            await appendAudit(db, { operatorId: operator.id, operator: operator.username, action: "login", outcome: "refused", detail: { ip: request.ip } });
          else request.log.warn({ ip: request.ip }, "console sign-in with an unknown operator name");
          return reply
            .code(401)
            .type("text/html; charset=utf-8")
            .send(loginPage(lang, t, { error: "Wrong username or password.", next: safeNext(request.body?.next) }));
        }
        await request.session.regenerate();
        request.session.operatorId = operator.id;
        request.session.loginAt = deps.clock.nowMs();
        await markLogin(db, operator.id);
        await deleteExpiredSessions(db);
        await appendAudit(db, { operatorId: operator.id, operator: operator.username, action: "login", outcome: "ok", detail: { ip: request.ip } });
        return reply.code(303).redirect(safeNext(request.body?.next) || "/console/payments");
      },
    );

    await scope.register(async (authed) => {
      authed.addHook("preHandler", requireOperator(db, settings, deps.clock));

      const context = async (request: FastifyRequest, reply: FastifyReply): Promise<PageContext> => {
        const lang = langOf(request, reply);
        const operator = request.operator!;
        return { operator, lang, t: translator(lang), csrf: reply.generateCsrf(), openAlerts: await openAlertCount(db, operator.tenants), path: request.url };
      };
      const takeFlash = (request: FastifyRequest) => {
        const flash = request.session.flash;
        if (flash) request.session.flash = undefined;
        return flash;
      };
      const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type("text/html; charset=utf-8").send(body);

      authed.get("/console", async (_request, reply) => reply.redirect("/console/payments"));

      authed.post("/console/logout", { preHandler: authed.csrfProtection }, async (request, reply) => {
        await appendAudit(db, { operatorId: request.operator!.id, operator: request.operator!.username, action: "logout", outcome: "ok" });
        await request.session.destroy();
        return reply.code(303).redirect("/console/login");
      });

      authed.get<{ Querystring: Record<string, string | undefined> }>("/console/payments", async (request, reply) => {
        const ctx = await context(request, reply);
        const q = request.query;
        const form: SearchForm = {
          q: (q.q ?? "").trim().slice(0, 2048),
          tenant: pick(q.tenant, tenants),
          pg: pick(q.pg, pgs),
          status: (q.status ?? "").slice(0, 32),
          from: dateText(q.from),
          to: dateText(q.to),
        };
        const after = decodeCursor(q.after);
        const to = form.to ? new Date(new Date(`${form.to}T00:00:00Z`).getTime() + 86_400_000) : undefined;
        const result = await searchPayments(db, {
          q: form.q || undefined,
          allowedTenants: ctx.operator.tenants,
          tenant: form.tenant || undefined,
          pg: form.pg || undefined,
          status: form.status || undefined,
          from: form.from ? new Date(`${form.from}T00:00:00Z`) : undefined,
          to,
          after,
          limit: PAGE_SIZE,
        });
        return send(
          reply,
          searchPage(ctx, form, {
            tenants: ctx.operator.tenants ?? tenants,
            pgs,
            rows: result.rows,
            nextCursor: result.next && encodeCursor(result.next),
            paged: after !== undefined,
          }),
        );
      });

      authed.get<{ Params: { id: string } }>("/console/payments/:id", async (request, reply) => {
        const ctx = await context(request, reply);
        const story = await paymentStory(db, request.params.id.slice(0, 100));
        if (story === undefined || !canSeeTenant(ctx.operator, story.payment.tenant)) {
          return send(
            reply,
            barePage(ctx.lang, "404", html`<p role="alert">No such payment, or not one you may see.</p><p><a href="/console/payments">Payments</a></p>`),
            404,
          );
        }
        return send(reply, paymentPage(ctx, story, takeFlash(request)));
      });

      authed.get<{ Querystring: { state?: string; type?: string } }>("/console/alerts", async (request, reply) => {
        const ctx = await context(request, reply);
        const state = request.query.state === "acknowledged" || request.query.state === "all" ? request.query.state : "open";
        const type = pick(request.query.type, ALERT_TYPES);
        const alerts = await listAlerts(db, {
          open: state === "all" ? undefined : state === "open",
          type: type || undefined,
          tenants: ctx.operator.tenants,
          limit: 200,
          offset: 0,
        });
        return send(reply, alertsPage(ctx, alerts, { state, type }, ALERT_TYPES, takeFlash(request)));
      });

      authed.get<{ Querystring: { hours?: string } }>("/console/overview", async (request, reply) => {
        const ctx = await context(request, reply);
        const hours = Math.min(Math.max(Number.parseInt(request.query.hours ?? "24", 10) || 24, 1), 24 * 90);
        const to = new Date(Math.ceil(deps.clock.nowMs() / 3_600_000) * 3_600_000);
        const from = new Date(to.getTime() - hours * 3_600_000);
        const data = await overview(db, { from, to, allowedTenants: ctx.operator.tenants });
        return send(reply, overviewPage(ctx, data, { hours, from, to }));
      });

      authed.get<{ Querystring: { before?: string } }>("/console/audit", async (request, reply) => {
        const ctx = await context(request, reply);
        const before = /^\d{1,18}$/.test(request.query.before ?? "") ? request.query.before : undefined;
        const rows = await listAudit(db, { tenants: ctx.operator.tenants, limit: 100, ...(before ? { beforeId: before } : {}) });
        return send(reply, auditPage(ctx, rows, rows.length === 100 ? String(rows[rows.length - 1]!.id) : undefined));
      });

      registerActions(authed, deps, db, options.reconciler);
    });
  });
}

function loginName(body: unknown): string {
  const name = (body as { username?: unknown } | undefined)?.username;
  return typeof name === "string" ? name.trim().slice(0, 64).toLowerCase() : "";
}

function pick(value: string | undefined, allowed: readonly string[]): string {
  return value !== undefined && allowed.includes(value) ? value : "";
}

function dateText(value: string | undefined): string {
  return value !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value)) ? value : "";
}

function encodeCursor(c: { createdAt: Date; id: string }): string {
  return Buffer.from(`${c.createdAt.toISOString()}|${c.id}`).toString("base64url");
}

function decodeCursor(text: string | undefined): { createdAt: Date; id: string } | undefined {
  if (!text || text.length > 200) return undefined;
  const [at, id] = Buffer.from(text, "base64url").toString().split("|");
  const createdAt = new Date(at ?? "");
  return id && !Number.isNaN(createdAt.getTime()) ? { createdAt, id } : undefined;
}

/** Only a path inside the console: never an open redirect. */
function safeNext(value: unknown): string {
  return typeof value === "string" && /^\/console(\/[^\s\\]*)?(\?[^\s\\]*)?$/.test(value) && !value.startsWith("//") ? value : "";
}

function sameOrigin(request: FastifyRequest, publicUrl: string): boolean {
  const origin = request.headers.origin ?? request.headers.referer;
  if (origin === undefined) return request.headers["sec-fetch-site"] === undefined || request.headers["sec-fetch-site"] === "same-origin";
  try {
    const url = new URL(origin);
    return url.origin === new URL(publicUrl).origin || url.host === request.headers.host;
  } catch {
    return false;
  }
}
