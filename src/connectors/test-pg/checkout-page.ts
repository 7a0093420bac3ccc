/**
 * The TEST PG's checkout page, served by PGB. Plain HTML forms, no JavaScript: Pay / Fail / Cancel,
 * and for a virtual account an "issue account" step and then a "deposit" that stands in for the bank.
 * No other site may frame it, and each form carries a CSRF token (double-submit: a secret in a
 * SameSite cookie, the token in the form) checked before any action.
 */
import cookie from "@fastify/cookie";
import csrf from "@fastify/csrf-protection";
import formbody from "@fastify/formbody";
import type { FastifyError, FastifyInstance } from "fastify";
import { z } from "zod";
import { formatMinor } from "../../core/money.ts";
import { isCurrencyCode } from "../../core/currency.ts";
import { escapeHtml } from "../../html.ts";
import { TestPgError, type CustomerAction, type FakeTestPg } from "./fake-pg.ts";
import type { TestPgPayment } from "./records.ts";

const ParamsSchema = z.object({
  id: z
    .string()
    .max(4000)
    .regex(/^tp_[A-Za-z0-9_.-]+$/),
});
const ActionParamsSchema = ParamsSchema.extend({ action: z.enum(["pay", "fail", "cancel", "issue-account", "deposit"]) });

export function registerCheckoutPages(app: FastifyInstance, fake: FakeTestPg, publicUrl: string): void {
  void app.register(async (scope) => {
    await scope.register(formbody);
    await scope.register(cookie);
    await scope.register(csrf, {
      cookieKey: "tp_csrf",
      cookieOpts: { path: "/test-pg/", sameSite: "strict", httpOnly: true, secure: publicUrl.startsWith("https:") },
    });
    scope.addHook("onSend", (_request, reply, payload, done) => {
      reply.header("x-frame-options", "DENY").header("content-security-policy", "frame-ancestors 'none'").header("cache-control", "no-store");
      done(null, payload);
    });
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      if (error.statusCode !== 403) throw error;
      return reply
        .code(403)
        .type("text/html; charset=utf-8")
        .send(page("Form expired", "<p>This form is no longer valid. Go back and reload the checkout page.</p>"));
    });

    scope.get("/test-pg/checkout/:id", async (request, reply) => {
      const params = ParamsSchema.safeParse(request.params);
      if (!params.success) return reply.code(404).type("text/html; charset=utf-8").send(page("Not found", "<p>No such checkout.</p>"));
      const found = await fake.findById(params.data.id);
      if (found === undefined) return reply.code(404).type("text/html; charset=utf-8").send(page("Not found", "<p>No such checkout.</p>"));
      return reply.type("text/html; charset=utf-8").send(checkoutHtml(found, reply.generateCsrf()));
    });

    scope.post("/test-pg/checkout/:id/:action", { preHandler: scope.csrfProtection }, async (request, reply) => {
      const params = ActionParamsSchema.safeParse(request.params);
      if (!params.success) return reply.code(404).type("text/html; charset=utf-8").send(page("Not found", "<p>No such checkout.</p>"));
      try {
        const updated = await fake.act(params.data.id, params.data.action as CustomerAction);
        // A deposit happens at the bank, not in the customer's browser session: stay on the TEST page.
        const next = params.data.action === "deposit" ? `/test-pg/checkout/${updated.id}` : updated.returnUrl;
        return reply.code(303).header("location", next).send();
      } catch (error) {
        if (!(error instanceof TestPgError)) throw error;
        return reply
          .code(error.httpStatus)
          .type("text/html; charset=utf-8")
          .send(page("Cannot do that", `<p>${escapeHtml(error.message)}</p>`));
      }
    });
  });
}

function checkoutHtml(p: TestPgPayment, csrfToken: string): string {
  const amount = isCurrencyCode(p.currency) ? `${formatMinor(p.amountMinor, p.currency)} ${p.currency}` : `${p.amountMinor} ${p.currency}`;
  const button = (action: string, label: string) =>
    `<form method="post" action="/test-pg/checkout/${escapeHtml(p.id)}/${action}"><input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}"><button type="submit" name="go" value="${action}">${label}</button></form>`;
  let actions: string;
  switch (p.status) {
    case "OPEN":
      actions =
        p.payType === "VIRTUAL_ACCOUNT"
          ? button("issue-account", "Issue account") + button("cancel", "Cancel")
          : button("pay", "Pay") + button("fail", "Fail") + button("cancel", "Cancel");
      break;
    case "WAITING_FOR_DEPOSIT":
      actions = `<p>Transfer ${escapeHtml(amount)} to <strong>${escapeHtml(p.account?.bank ?? "")} ${escapeHtml(p.account?.accountNumber ?? "")}</strong>
        (${escapeHtml(p.account?.holderName ?? "")}) before ${escapeHtml(p.account?.dueDate ?? "")}.</p>${button("deposit", "Deposit (simulate the bank transfer)")}`;
      break;
    default:
      actions = `<p>This checkout is <strong>${escapeHtml(p.status)}</strong>.</p>`;
  }
  return page(
    "TEST PG checkout",
    `<p class="amount">${escapeHtml(amount)}</p>
     <p>${escapeHtml(p.description)}</p>
     <p>Pay type: ${escapeHtml(p.payType)} · Status: <span id="status">${escapeHtml(p.status)}</span></p>
     ${actions}`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}form{display:inline-block;margin:.25rem}
button{font-size:1rem;padding:.5rem 1rem}.amount{font-size:2rem;margin:.5rem 0}.banner{background:#fe3;padding:.25rem .5rem}</style></head>
<body><p class="banner">TEST PG — no real money moves</p><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
