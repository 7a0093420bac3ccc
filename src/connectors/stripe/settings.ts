/** A tenant's `pgs.STRIPE` settings. */
import { z } from "zod";
import { Secret } from "../../core/secret.ts";

export const StripeSettingsSchema = z.object({
  /** sk_… (or a restricted rk_… key with Checkout, PaymentIntents read and Refunds write). */
  secretKey: z
    .string()
    .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, "a Stripe secret key: sk_test_…, sk_live_… or a restricted rk_… key")
    .transform((value) => new Secret(value)),
  /** The signing secret of the webhook endpoint that points at PGB. */
  webhookSecret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]+$/, "a Stripe webhook signing secret: whsec_…")
    .transform((value) => new Secret(value)),
  /** Another API base than https://api.stripe.com, e.g. a local simulator: "http://127.0.0.1:12111". */
  apiBase: z
    .url({ protocol: /^https?$/ })
    .refine((value) => ["", "/"].includes(new URL(value).pathname), "scheme, host and port only: the SDK adds /v1/…")
    .optional(),
  /** Per-call time-out in milliseconds (the SDK's default is 80 s). */
  timeout: z.number().int().min(100).max(120_000).optional(),
  /** The SDK's own retries of 409/429/5xx and connection failures; safe because every POST carries a key. */
  maxNetworkRetries: z.number().int().min(0).max(5).default(2),
});
export type StripeSettings = z.infer<typeof StripeSettingsSchema>;
