/**
 * Structured JSON logs. Credentials are removed by path; anything that looks like a card number (13–19
 * digits, optionally grouped by spaces or dashes) is masked wherever it appears in a log line, because a
 * PG's error message or a webhook body can carry one where no path rule would expect it.
 */
import pino, { type Logger } from "pino";

export const LOG_REDACT = {
  paths: [
    "req.headers.authorization",
    "req.headers.cookie",
    "headers.authorization",
    "headers.cookie",
    "*.apiKey",
    "*.apiKeys",
    "*.secretKey",
    "*.clientKey",
    "*.webhookSecret",
    "*.notifySecret",
    "*.password",
    "*.cardNumber",
    "*.accountNumber",
  ],
  censor: "[redacted]",
};

const CARD_LIKE = /\b(?:\d[ -]?){12,18}\d\b/g;

/** Masks card-like digit runs, keeping the last four digits for support. */
export function maskCardNumbers(text: string): string {
  return text.replace(CARD_LIKE, (match) => {
    const digits = match.replace(/\D/g, "");
    return digits.length >= 13 && digits.length <= 19 ? `[card …${digits.slice(-4)}]` : match;
  });
}

function maskDeep(value: unknown, depth: number): unknown {
  if (typeof value === "string") return maskCardNumbers(value);
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth + 1));
  // An error's message and properties (a driver's failing query, say) can carry a card number too.
  if (value instanceof Error) {
    // Same prototype, so pino's error serializer still names its type.
    const masked = Object.create(Object.getPrototypeOf(value) as object) as Error;
    for (const [k, v] of Object.entries(value)) (masked as unknown as Record<string, unknown>)[k] = maskDeep(v, depth + 1);
    masked.message = maskCardNumbers(value.message);
    if (value.stack !== undefined) masked.stack = maskCardNumbers(value.stack);
    return masked;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v, depth + 1)]));
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: LOG_REDACT,
    base: { service: "pgb" },
    formatters: { log: (object) => maskDeep(object, 0) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        // The message string itself (the last string argument) is masked too.
        // logger.error(err) takes its message from the error: give it the masked one.
        const given = args[0] instanceof Error && typeof args[1] !== "string" ? [{ err: args[0] }, args[0].message, ...args.slice(1)] : args;
        const masked = given.map((a) => (typeof a === "string" ? maskCardNumbers(a) : a)) as Parameters<typeof method>;
        method.apply(this, masked);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
