/**
 * The Stripe SDK and how PGB reads it: the package loaded on first use, a client made from a tenant's
 * settings, Stripe's errors read as ConnectorErrors, and its answers parsed against the wire schemas.
 */
import { createRequire } from "node:module";
import type Stripe from "stripe";
import type { z } from "zod";
import { ConnectorError } from "../../core/ports/connector.ts";
import { classifyPgFailure, transportFailure, type PgAnswerMeaning } from "../kit/pg-failure.ts";
import type { StripeSettings } from "./settings.ts";

/**
 * The SDK, loaded on first use (a Stripe call, a Stripe webhook) rather than at start: it is a tenth of
 * a second of module loading that a PGB whose tenants route nothing to Stripe, or a start that must be
 * ready quickly, does without. The package ships CommonJS, so it loads synchronously where needed.
 */
export function stripeSdk(): typeof Stripe {
  return (loadedSdk ??= createRequire(import.meta.url)("stripe") as typeof Stripe);
}
let loadedSdk: typeof Stripe | undefined;

export function createStripeClient(settings: StripeSettings): Stripe {
  const config: ConstructorParameters<typeof Stripe>[1] = {
    maxNetworkRetries: settings.maxNetworkRetries,
    telemetry: false,
    appInfo: { name: "PGB" },
    ...(settings.timeout === undefined ? {} : { timeout: settings.timeout }),
  };
  if (settings.apiBase !== undefined) {
    const base = new URL(settings.apiBase);
    const protocol = base.protocol === "http:" ? "http" : "https";
    config.host = base.hostname;
    config.port = base.port === "" ? (protocol === "http" ? 80 : 443) : Number(base.port);
    config.protocol = protocol;
  }
  const StripeSdk = stripeSdk();
  return new StripeSdk(settings.secretKey.reveal(), config);
}

export type Method = "GET" | "POST";

/**
 * Stripe's errors read through the shared failure rule (kit/pg-failure.ts). An error Stripe answered
 * means it did not act (it replays the first answer to a key), so an answered 429/409/5xx is
 * "unprocessed" and may be retried; a call whose answer was lost may have acted.
 */
export function toConnectorError(error: unknown, method: Method, what: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const Stripe = stripeSdk();
  if (!(error instanceof Stripe.errors.StripeError)) {
    return new ConnectorError("fatal", `${what}: ${redact(error instanceof Error ? error.message : String(error))}`);
  }
  const writes = method === "POST";
  const pgMessage = redact(error.message);
  if (error instanceof Stripe.errors.StripeConnectionError) {
    // The class comes from the connection's own code; the code reported stays Stripe's.
    const failure = transportFailure(connectionCode(error), false);
    return classifyPgFailure(
      failure.kind === "not-sent" ? { ...failure, code: "connection_error" } : { kind: "no-answer", code: "connection_error" },
      writes,
      `${what}: Stripe says ${pgMessage}`,
    );
  }
  const code = error.code ?? (error instanceof Stripe.errors.StripeCardError ? error.decline_code : undefined) ?? undefined;
  const status = error.statusCode;
  const answered = (meaning: PgAnswerMeaning, fallbackCode: string | undefined): ConnectorError => {
    const pgCode = code ?? fallbackCode;
    return classifyPgFailure(
      { kind: "answered", meaning, ...(status !== undefined ? { httpStatus: status } : {}), ...(pgCode !== undefined ? { pgCode } : {}), pgMessage },
      writes,
      what,
    );
  };
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError)
    return answered("misconfigured", "authentication_error");
  // Reusing a key with other parameters is a bug in PGB's keys, never the customer's doing.
  if (error instanceof Stripe.errors.StripeIdempotencyError) return answered("misconfigured", "idempotency_error");
  if (error instanceof Stripe.errors.StripeRateLimitError) return answered("unprocessed", "rate_limit");
  // 409: another request with this key (or on this object) is still executing at Stripe.
  if (status === 409) return answered("unprocessed", "conflict");
  if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError)
    return answered("declined", "invalid_request_error");
  if (error instanceof Stripe.errors.StripeAPIError || (status !== undefined && status >= 500)) return answered("unprocessed", "api_error");
  return answered("misconfigured", undefined);
}

function connectionCode(error: InstanceType<typeof Stripe.errors.StripeConnectionError>): string | undefined {
  const detail: unknown = error.detail;
  if (detail !== null && typeof detail === "object" && "code" in detail && typeof detail.code === "string") return detail.code;
  return undefined;
}

/** Stripe echoes a masked key in 401 messages; mask anything key-like again, to be sure. */
function redact(text: string): string {
  return text.replace(/\b(sk|rk|pk)_(test|live)_[A-Za-z0-9*]+/g, "$1_$2_[redacted]").replace(/\bwhsec_[A-Za-z0-9+/=]+/g, "whsec_[redacted]");
}

/**
 * Parses what the SDK returned. A shape PGB cannot read after a POST means Stripe did act (it
 * answered 2xx), so the outcome is unknown to PGB: indeterminate, for the reconciler to settle.
 */
export function parseAnswer<S extends z.ZodType>(schema: S, raw: unknown, method: Method, what: string): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
  return throwUnreadable(method, `Stripe answered a ${what} PGB cannot read (${issues})`);
}

function throwUnreadable(method: Method, message: string): never {
  throw new ConnectorError(method === "POST" ? "indeterminate" : "fatal", message, "unexpected_response");
}
