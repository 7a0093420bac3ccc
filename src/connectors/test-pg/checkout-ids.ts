/**
 * The TEST PG's checkout ids: a self-describing token of the checkout's claims, signed with a key
 * derived from the merchant's TEST secret, so a checkout needs no stored record until the customer
 * acts and a forged or altered id is refused (see fake-pg.ts).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { WebhookTarget } from "./webhook-sender.ts";

/** What a checkout id carries until the checkout is stored. Short keys keep the URL short. */
export interface CheckoutClaims {
  t: string;
  r: string;
  k: string;
  a: string;
  c: string;
  p: string;
  d: string;
  e: number;
}

export class CheckoutIds {
  readonly #tokenKeys = new Map<string, Buffer>();

  constructor(private readonly webhookTargetFor: (tenant: string) => WebhookTarget | undefined) {}

  /** The signed id of a checkout with these claims (the same claims give the same id), or undefined for an unknown merchant. */
  mint(claims: CheckoutClaims): string | undefined {
    const key = this.tokenKey(claims.t);
    if (key === undefined) return undefined;
    const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `tp_${body}.${createHmac("sha256", key).update(body).digest("base64url").slice(0, 32)}`;
  }

  /** The key that signs a merchant's checkout ids, derived from its TEST secret (cached per secret). */
  private tokenKey(tenant: string): Buffer | undefined {
    const target = this.webhookTargetFor(tenant);
    if (target === undefined) return undefined;
    let key = this.#tokenKeys.get(target.secret);
    if (key === undefined) {
      key = createHash("sha256").update(`TEST PG checkout ids|${target.secret}`).digest();
      this.#tokenKeys.set(target.secret, key);
    }
    return key;
  }

  /** The claims of a genuine checkout id, or undefined for anything forged, altered or malformed. */
  verify(id: string): CheckoutClaims | undefined {
    const match = /^tp_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{32})$/.exec(id);
    if (match === null) return undefined;
    let claims: CheckoutClaims;
    try {
      claims = JSON.parse(Buffer.from(match[1]!, "base64url").toString("utf8")) as CheckoutClaims;
    } catch {
      return undefined;
    }
    const key = typeof claims?.t === "string" ? this.tokenKey(claims.t) : undefined;
    if (key === undefined) return undefined;
    const expected = Buffer.from(createHmac("sha256", key).update(match[1]!).digest("base64url").slice(0, 32));
    const given = Buffer.from(match[2]!);
    return expected.length === given.length && timingSafeEqual(expected, given) ? claims : undefined;
  }
}
