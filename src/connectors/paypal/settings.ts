/** A tenant's `pgs.PAYPAL` settings: the REST app's credentials, the webhook's id, PayPal's address. */
import { z } from "zod";
import { Secret } from "../../core/secret.ts";
import { PAYPAL_CERT_ORIGINS } from "./webhook-transformers.ts";

/** PayPal's live REST host; the sandbox is https://api-m.sandbox.paypal.com. */
const DEFAULT_API_BASE = "https://api-m.paypal.com";

const httpUrl = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/+$/, ""));

export const PayPalSettingsSchema = z.object({
  /** The REST app's client id (developer dashboard → Apps & Credentials). */
  clientId: z
    .string()
    .min(10)
    .max(200)
    .regex(/^[A-Za-z0-9_-]+$/, "a PayPal REST client id"),
  /** The REST app's secret. */
  clientSecret: z
    .string()
    .min(10)
    .max(200)
    .transform((value) => new Secret(value)),
  /** The id PayPal shows for the webhook pointing at PGB; every signature covers it. */
  webhookId: z
    .string()
    .min(1)
    .max(50)
    .regex(/^[A-Za-z0-9_-]+$/, "a PayPal webhook id"),
  apiBase: httpUrl.default(DEFAULT_API_BASE),
  /**
   * Origins PGB fetches webhook signing certificates from (PAYPAL-CERT-URL); PayPal's API hosts by
   * default. Only a simulator's address belongs here besides them.
   */
  certOrigins: z
    .array(z.url({ protocol: /^https?$/ }).transform((value) => new URL(value).origin))
    .min(1)
    .max(8)
    .default([...PAYPAL_CERT_ORIGINS]),
  /** The shop's name on PayPal's approval page (PayPal's default: the account's business name). */
  brandName: z.string().min(1).max(127).optional(),
  timeoutMs: z.number().int().min(100).max(120_000).default(15_000),
});
export type PayPalSettings = z.infer<typeof PayPalSettingsSchema>;
