/** A tenant's `pgs.KAKAOPAY` settings. */
import { z } from "zod";
import { Secret } from "../../core/secret.ts";

const DEFAULT_API_BASE = "https://open-api.kakaopay.com";

const httpUrl = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/+$/, ""));

export const KakaoPaySettingsSchema = z.object({
  /** The secret key of the KakaoPay app (KakaoPay's developer console: DEV… for tests, PRD… live). */
  secretKey: z
    .string()
    .regex(/^[A-Za-z0-9]{16,128}$/, "a KakaoPay secret key (letters and digits, as the developer console shows it)")
    .transform((value) => new Secret(value)),
  /** The merchant code (가맹점 코드) KakaoPay issued, 10 characters; TC0ONETIME is KakaoPay's test CID. */
  cid: z.string().regex(/^[A-Z0-9]{10}$/, "a 10-character KakaoPay CID such as TC0ONETIME"),
  apiBase: httpUrl.default(DEFAULT_API_BASE),
  timeoutMs: z.number().int().min(100).max(120_000).default(15_000),
});
export type KakaoPaySettings = z.infer<typeof KakaoPaySettingsSchema>;
