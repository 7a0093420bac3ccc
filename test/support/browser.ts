/**
 * What the browser tests of a payment share: headless Chromium (skipped, saying why, where none is
 * installed), the host's order page a payment ends on, and the DEMO tenant set up to notify and
 * redirect to that page.
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { chromium, type Browser } from "playwright-core";
import { demoTenant, freePort } from "./pgb.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** A describe's `skip`: false, or why the browser tests cannot run here. */
export const noChromium: false | string = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface ShopPage {
  /** http://127.0.0.1:<port>: redirects land on `${origin}/order/complete`, notifications go to `${origin}/notify`. */
  origin: string;
  close(): Promise<void>;
}

/** The host's order page: it shows what PGB's redirect told it, as `Order <OrderId> <Result>` in #done. */
export async function startShopPage(): Promise<ShopPage> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", origin);
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><title>Shop</title><h1 id="done">Order ${url.searchParams.get("OrderId")} ${url.searchParams.get("Result")}</h1>`);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { origin, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The DEMO tenant notifying and redirecting to the shop page at `origin`; `overrides` as demoTenant's. */
export function shopTenant(origin: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return demoTenant({ notifyUrl: `${origin}/notify`, redirectOrigins: [origin], ...overrides });
}
