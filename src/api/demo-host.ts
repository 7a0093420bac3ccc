/**
 * A stand-in host for trying PGB by hand (config `demoHost: true`, on in the example config only).
 * It does what the real host does: calls POST /PGB/PayStart with its API key, sends the browser to
 * the checkout, shows the page the customer lands on, and receives PGB's signed notifications.
 * It acts only on its own tenant, DEMO, keeps only notifications whose signature verifies, and PGB
 * refuses to start with it on a publicUrl that is not loopback (src/config/public-exposure.ts).
 */
import formbody from "@fastify/formbody";
import type { FastifyInstance } from "fastify";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { CoreDeps } from "../core/deps.ts";
import { escapeHtml } from "../html.ts";

export const DEMO_TENANT = "DEMO";

const BuyForm = z.object({
  OrderId: z.coerce.number().int().min(1).max(2_147_483_647),
  TotalPrice: z.string().max(40),
  NationCode: z.string().max(8),
  PayType: z.string().max(32),
});

export function registerDemoHost(app: FastifyInstance, deps: CoreDeps): void {
  const tenant = DEMO_TENANT;
  const tenantConfig = Object.hasOwn(deps.config.tenants, tenant) ? deps.config.tenants[tenant] : undefined;
  if (tenantConfig === undefined) {
    deps.logger.warn("demoHost is on but there is no DEMO tenant: the demo host is not served");
    return;
  }
  const received: Array<{ at: string; body: string }> = [];

  void app.register(async (scope) => {
    await scope.register(formbody);
    scope.get("/demo", async (_request, reply) => {
      const orderId = Math.floor(deps.clock.nowMs() / 1000) % 2_000_000_000;
      const list = received
        .slice(-10)
        .reverse()
        .map((n) => `<li>${escapeHtml(n.at)} ✔ signature verified <code>${escapeHtml(n.body)}</code></li>`)
        .join("");
      return reply.type("text/html; charset=utf-8").send(`<!doctype html><meta charset="utf-8"><title>Demo shop</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}label{display:block;margin:.3rem 0}code{font-size:.8rem}</style>
<h1>Demo shop (a stand-in host, DBType ${escapeHtml(tenant)})</h1>
<form method="post" action="/demo/buy">
<label>OrderId <input name="OrderId" value="${orderId}"></label>
<label>TotalPrice <input name="TotalPrice" value="15000"></label>
<label>NationCode <input name="NationCode" value="KR"></label>
<label>PayType <select name="PayType"><option>CARD</option><option>VIRTUAL_ACCOUNT</option></select></label>
<button type="submit">Buy</button></form>
<h2>Notifications received from PGB (signature verified)</h2><ul>${list || "<li>none yet</li>"}</ul>`);
    });

    scope.post("/demo/buy", async (request, reply) => {
      const parsed = BuyForm.safeParse(request.body ?? {});
      if (!parsed.success) {
        return reply
          .code(400)
          .type("text/html; charset=utf-8")
          .send(`<!doctype html><meta charset="utf-8"><p>Fill in OrderId, TotalPrice, NationCode and PayType.</p><a href="/demo">back</a>`);
      }
      const form = parsed.data;
      const response = await app.inject({
        method: "POST",
        url: "/PGB/PayStart",
        headers: { authorization: `Bearer ${tenantConfig.apiKeys[0]!.reveal()}`, "content-type": "application/json; charset=utf-8" },
        payload: {
          DBType: tenant,
          OrderId: form.OrderId,
          PayType: form.PayType,
          TotalPrice: form.TotalPrice,
          JoinerId: 1,
          OrderDescription: "Demo order",
          RedirectUrl: `${deps.config.publicUrl}/demo/return`,
          NationCode: form.NationCode,
        },
      });
      const result = response.json() as { IsSuccess: boolean; RedirectUrl: string | null; ErrorCode: string; ErrorMessage: string | null };
      if (!result.IsSuccess || result.RedirectUrl === null) {
        return reply
          .code(response.statusCode)
          .type("text/html; charset=utf-8")
          .send(
            `<!doctype html><meta charset="utf-8"><p>PayStart failed: ${escapeHtml(result.ErrorCode)} ${escapeHtml(result.ErrorMessage ?? "")}</p><a href="/demo">back</a>`,
          );
      }
      return reply.code(303).header("location", result.RedirectUrl).send();
    });

    scope.get("/demo/return", async (request, reply) => {
      const query = request.query as Record<string, string>;
      return reply.type("text/html; charset=utf-8").send(`<!doctype html><meta charset="utf-8"><title>Order result</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}</style>
<h1 id="result">Order ${escapeHtml(query.OrderId ?? "?")}: ${escapeHtml(query.Result ?? "?")}</h1>
<p>This is the host's page. A real host trusts the signed notification, not this URL.</p><a href="/demo">back to the shop</a>`);
    });

    // Notifications arrive here when the tenant's notifyUrl points at it. The signature covers the
    // exact bytes sent, so the body is kept raw.
    await scope.register(async (notify) => {
      notify.removeAllContentTypeParsers();
      notify.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
      notify.post("/demo/notify", async (request, reply) => {
        const body = typeof request.body === "string" ? request.body : "";
        try {
          new Webhook(tenantConfig.notifySecret.reveal()).verify(body, request.headers as Record<string, string>);
        } catch {
          // What does not verify is not PGB's: neither kept nor shown.
          return reply.code(401).send({ error: "signature verification failed" });
        }
        received.push({ at: deps.clock.now().toISOString(), body: body.slice(0, 4000) });
        if (received.length > 20) received.shift();
        return reply.code(204).send();
      });
    });
  });
}
