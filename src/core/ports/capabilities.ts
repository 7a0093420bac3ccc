/**
 * What a PG can do, declared once by its connector. The configuration is checked against it at start
 * (a route may not send a payment its PG cannot take), the conformance battery derives the cases that
 * do not apply from it, and the core reads from it what it needs to know of a PG (which webhook
 * headers to keep), so that no PG's name appears in the core.
 */
import { CURRENCY_EXPONENTS, currencyForNation, type CurrencyCode } from "../currency.ts";
import { PAY_TYPES, type PayType } from "../pay-type.ts";

export interface PgCapabilities {
  payTypes: readonly PayType[];
  /** The currencies the PG settles in, each with its smallest amount in minor units, where the PG has one. */
  currencies: Partial<Record<CurrencyCode, { minimumMinor?: bigint }>>;
  /** Whether a captured payment may be refunded in several parts. */
  partialRefunds: boolean;
  /** Whether refunding a deposited virtual account needs the buyer's bank account. */
  refundAccountForDepositedVirtualAccount: boolean;
  /**
   * `signed`: a webhook's signature proves the PG sent it. `unsigned`: webhooks are hints, and the PG
   * is read before anything is done. `none`: the PG sends no webhooks; the reconciler asks it.
   */
  webhooks: "signed" | "unsigned" | "none";
  /** Whether the PG can answer what became of a refund PGB sent (else the refund is re-sent with its key). */
  refundLookup: boolean;
  /** Whether the PG lists a payment's refunds, so PGB notices dashboard refunds and refunds failing after success. */
  refundList: boolean;
  /** The longest a checkout may stay open at the PG, in minutes (null: as long as PGB's checkoutTtlMinutes). */
  maxCheckoutMinutes: number | null;
  /** Lower-case name prefixes of the headers the PG's webhooks carry, kept with each stored webhook. */
  webhookHeaders: readonly string[];
}

export interface RouteToCheck {
  nationCode: string;
  payType: string;
  pg: string;
}

/**
 * Why `route` would send a payment its PG cannot take, or undefined. A `*` nation may reach every
 * currency PGB sells in, so its PG must settle them all; a `*` pay type passes the PG the pay types it
 * takes, so the PG must take at least one.
 */
export function routeCapabilityProblem(route: RouteToCheck, capabilities: PgCapabilities): string | undefined {
  const currencies = route.nationCode === "*" ? (Object.keys(CURRENCY_EXPONENTS) as CurrencyCode[]) : [currencyForNation(route.nationCode)];
  for (const currency of currencies) {
    if (currency === undefined) return `nation ${route.nationCode} is not one PGB sells in`;
    if (capabilities.currencies[currency] === undefined) {
      const settles = Object.keys(capabilities.currencies).join(", ");
      return route.nationCode === "*"
        ? `${route.pg} settles only in ${settles}, and nation * also reaches ${currency}`
        : `${route.pg} settles only in ${settles}, and nation ${route.nationCode} pays in ${currency}`;
    }
  }
  if (route.payType === "*") return undefined;
  if (!(PAY_TYPES as readonly string[]).includes(route.payType)) return `PayType ${route.payType} is unknown`;
  if (!capabilities.payTypes.includes(route.payType as PayType)) {
    return `${route.pg} does not take PayType ${route.payType} (it takes ${capabilities.payTypes.join(", ")})`;
  }
  return undefined;
}
