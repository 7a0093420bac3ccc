/** The Toss connector's own route: the checkout page, at /PGBReturn/toss/checkout/<paymentId>. */
import type { FastifyInstance } from "fastify";
import type { ConnectorRouteDeps } from "../factory.ts";
import { page, renderCheckoutPage } from "./page.ts";
import type { TossSettings } from "./settings.ts";
import { CheckoutStore, type TossTables } from "./store.ts";

export async function registerRoutes(app: FastifyInstance, deps: ConnectorRouteDeps<TossSettings>): Promise<void> {
  const store = new CheckoutStore(deps.storage.forTables<TossTables>());
  app.get<{ Params: { ref: string } }>("/PGBReturn/toss/checkout/:ref", async (request, reply) => {
    const row = await store.find(request.params.ref);
    const settings = row === undefined ? undefined : deps.tenantsWithSettings().find((t) => t.tenant === row.tenant)?.settings;
    const rendered =
      row === undefined || settings === undefined
        ? page(
            404,
            "결제를 찾을 수 없음 / Unknown checkout",
            `<h1>결제 정보를 찾을 수 없습니다</h1><p>This checkout does not exist. Please return to the shop and start the payment again.</p>`,
          )
        : renderCheckoutPage(row, settings, deps.clock.now());
    return reply
      .code(rendered.status)
      .header("content-type", "text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", "frame-ancestors 'none'")
      .send(rendered.html);
  });
}
