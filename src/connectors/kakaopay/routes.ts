/**
 * PGB's checkout page for KakaoPay, at /PGBReturn/kakaopay/checkout/<paymentId>. The host API
 * forwards no User-Agent to PayStart, so the URL PayStart answers is this page, which sends the
 * buyer's browser to the ready answer's URL for its device: the mobile one hands over to KakaoTalk,
 * the PC one asks for a phone number or shows a QR code.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { escapeHtml } from "../../html.ts";
import type { ConnectorRouteDeps } from "../factory.ts";
import type { KakaoPaySettings } from "./settings.ts";
import { KakaoPayCheckouts, type KakaoPayTables } from "./store.ts";
import { redirectUrlFor } from "./transformers.ts";

const Params = z.object({ ref: z.string().regex(/^pay_[0-9a-z]{1,64}$/) });

function message(title: string, text: string): string {
  return `<!doctype html><html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
}

export function registerRoutes(app: FastifyInstance, deps: ConnectorRouteDeps<KakaoPaySettings>): void {
  const checkouts = new KakaoPayCheckouts(deps.storage.forTables<KakaoPayTables>());
  app.get("/PGBReturn/kakaopay/checkout/:ref", async (request, reply) => {
    reply.header("cache-control", "no-store").header("x-content-type-options", "nosniff").header("content-security-policy", "frame-ancestors 'none'");
    const params = Params.safeParse(request.params);
    const row = params.success ? await checkouts.find(params.data.ref) : undefined;
    if (row === undefined) {
      return reply
        .code(404)
        .type("text/html; charset=utf-8")
        .send(message("결제를 찾을 수 없습니다 / Unknown checkout", "Please return to the shop and start the payment again."));
    }
    if (row.status === "EXPIRED" || row.expiresAt.getTime() <= deps.clock.nowMs()) {
      return reply
        .code(410)
        .type("text/html; charset=utf-8")
        .send(message("결제 시간이 만료되었습니다 / Checkout expired", "Please return to the shop and start the payment again."));
    }
    const userAgent = request.headers["user-agent"];
    const target = redirectUrlFor(
      { next_redirect_pc_url: row.pcUrl, next_redirect_mobile_url: row.mobileUrl },
      typeof userAgent === "string" ? userAgent : undefined,
    );
    return reply.code(303).header("location", target).send();
  });
}
