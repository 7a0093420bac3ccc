/** A tenant's `pgs.TOSS` settings. */
import { z } from "zod";
import { Secret } from "../../core/secret.ts";

const DEFAULT_API_BASE = "https://api.tosspayments.com";
const DEFAULT_SDK_SCRIPT_URL = "https://js.tosspayments.com/v2/standard";

const httpUrl = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/+$/, ""));

export const TossSettingsSchema = z
  .object({
    secretKey: z
      .string()
      .regex(/^(test|live)_sk_[A-Za-z0-9_-]+$/, "a Toss secret key: test_sk_… or live_sk_…")
      .transform((value) => new Secret(value)),
    clientKey: z.string().regex(/^(test|live)_ck_[A-Za-z0-9_-]+$/, "a Toss client key: test_ck_… or live_ck_…"),
    apiBase: httpUrl.default(DEFAULT_API_BASE),
    /** Toss's v2 browser SDK; a simulator serves a stand-in at its own address. */
    sdkScriptUrl: z.url({ protocol: /^https?$/ }).default(DEFAULT_SDK_SCRIPT_URL),
    timeoutMs: z.number().int().min(100).max(120_000).default(15_000),
    /** How long an issued virtual account accepts the deposit; Toss's default (168 h) when unset. */
    virtualAccountValidHours: z.number().int().min(1).max(720).optional(),
  })
  .refine((s) => s.secretKey.reveal().startsWith(s.clientKey.slice(0, 5)), {
    message: "secretKey and clientKey must both be test keys or both be live keys",
    path: ["clientKey"],
  });
export type TossSettings = z.infer<typeof TossSettingsSchema>;
