/**
 * PGB's configuration: a JSON file (PGB_CONFIG, default config/pgb.example.json) whose strings may
 * say ${ENV_VAR} or ${ENV_VAR:-default}, plus a few environment variables. Everything is validated at
 * start; a bad field stops the process with a message naming it.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { Secret } from "../core/secret.ts";
import { PAY_TYPES } from "../core/pay-type.ts";
import { ConfigError } from "./config-error.ts";
import { refuseExampleSettingsInPublic } from "./public-exposure.ts";

export { ConfigError };

const secretString = z
  .string()
  .min(1)
  .transform((value) => new Secret(value));

const RouteSchema = z.object({
  nationCode: z
    .string()
    .regex(/^([A-Za-z]{2}|\*)$/, "a two-letter nation code or *")
    .transform((s) => s.toUpperCase()),
  payType: z.union([z.literal("*"), z.enum(PAY_TYPES)]),
  pg: z.string().min(1),
});

const originSchema = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value.replace(/\/$/, "");
    } catch {
      return false;
    }
  }, "an origin such as https://shop.example.com (scheme, host and optional port, no path)")
  .transform((value) => new URL(value).origin);

export const TenantConfigSchema = z.object({
  apiKeys: z.array(secretString).min(1, "at least one API key"),
  notifyUrl: z.url({ protocol: /^https?$/ }),
  notifySecret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, "a Standard Webhooks secret: whsec_ followed by base64")
    .transform((value) => new Secret(value)),
  redirectOrigins: z.array(originSchema).min(1),
  routes: z.array(RouteSchema).min(1),
  /**
   * Money the PG captured on an attempt that is not the order's paid one (superseded, expired or
   * failed in PGB): `refund` gives it back at once and tells the host (LATE_PAYMENT_REFUNDED);
   * `notify` only tells the host (LATE_PAYMENT), which refunds it with FullCancel and that PaymentId.
   */
  lateCapture: z.enum(["refund", "notify"]).default("refund"),
  /** Per-PG settings; each connector validates its own entry. */
  pgs: z.record(z.string(), z.record(z.string(), z.unknown())),
});

/**
 * The background workers (issue 3). Every field has a default, so the section may be left out; tests
 * pass shorter intervals to startWorkers directly.
 */
export const WorkersConfigSchema = z.object({
  notifications: z
    .object({
      /** Attempts before a notification is parked as DEAD (replayable). */
      maxAttempts: z.number().int().min(1).max(100).default(20),
      /** Time-out of one HTTP attempt to the host. */
      timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      /** First retry delay; doubles per attempt (with jitter) up to maxBackoffMs. */
      backoffMs: z.number().int().min(1).default(500),
      maxBackoffMs: z.number().int().min(1).default(3_600_000),
      /** Deliveries in flight per PGB process. */
      concurrency: z.number().int().min(1).max(256).default(16),
      /** Consecutive host-level failures (refused, time-out, 5xx) after which a tenant's notifyUrl counts as down. */
      outageThreshold: z.number().int().min(1).default(3),
      /** While down, one notification is sent per interval as a probe; its 2xx releases the backlog. */
      probeIntervalMs: z.number().int().min(10).default(2_000),
    })
    .prefault({}),
  webhooks: z
    .object({
      /** A stored webhook still RECEIVED this long after arrival lost its process: retry it. */
      staleAfterMs: z.number().int().min(1).default(30_000),
      maxAttempts: z.number().int().min(1).max(1000).default(25),
      backoffMs: z.number().int().min(1).default(2_000),
      maxBackoffMs: z.number().int().min(1).default(600_000),
      /** REJECTED webhooks (their excerpt and hash) are kept this long for the audit trail, then purged. */
      rejectedRetentionDays: z.number().min(0).default(7),
      /** An unsigned webhook (Toss) makes PGB read its payment from the PG at most once per window. */
      unsignedReadWindowMs: z.number().int().min(0).default(10_000),
    })
    .prefault({}),
  reconciler: z
    .object({
      intervalMs: z.number().int().min(10).default(30_000),
      /** A payment left READY / WAITING_FOR_DEPOSIT this long is asked about at the PG. */
      paymentAfterMs: z.number().int().min(0).default(120_000),
      /** Longest pause between two checks of one payment that stays pending. */
      maxCheckIntervalMs: z.number().int().min(1).default(3_600_000),
      /** A refund left PENDING without the PG's answer this long is asked about (longer than any PG call). */
      refundAfterMs: z.number().int().min(0).default(120_000),
      batchSize: z.number().int().min(1).max(1000).default(100),
    })
    .prefault({}),
  /** A process's lease on the work it holds; a dead process's work is taken over after this long. */
  leaseMs: z.number().int().min(100).default(6_000),
  /** Fallback poll of the outbox and the webhook store, besides the database's wake-up signal. */
  pollIntervalMs: z.number().int().min(5).default(1_000),
});
export type WorkersConfig = z.infer<typeof WorkersConfigSchema>;

/** The HTTP edge's limits (README "Security"). */
export const HttpConfigSchema = z
  .object({
    /** Time to receive a whole request (Node's requestTimeout): a body trickled in slowly is cut off. */
    requestTimeoutMs: z.number().int().min(1000).default(30_000),
    /** A socket silent this long is closed (longer than any PG call a request waits for). */
    connectionTimeoutMs: z.number().int().min(1000).default(120_000),
    /** Whose X-Forwarded-For to believe (Fastify's trustProxy): true, or your load balancers' addresses / CIDRs, comma-separated. */
    trustProxy: z.union([z.boolean(), z.string()]).default("loopback"),
    /** PG webhooks accepted per source address and tenant per window; more answer 429 (PGs retry). */
    webhookRateLimit: z.object({ max: z.number().int().min(1).default(1200), windowMs: z.number().int().min(1000).default(60_000) }).prefault({}),
  })
  .prefault({});

/** The operator console at /console (issue 13). Left out: no console. */
export const ConsoleConfigSchema = z.object({
  /** Signs the session cookie; 32+ characters, from the environment. */
  sessionSecret: z
    .string()
    .min(32, "at least 32 characters")
    .transform((value) => new Secret(value)),
  /** A session unused this long ends. */
  idleMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(30),
  /** A session ends this long after sign-in however busy. */
  maxHours: z
    .number()
    .int()
    .min(1)
    .max(7 * 24)
    .default(12),
  /** Sign-in attempts per operator name per minute. */
  loginAttemptsPerMinute: z.number().int().min(1).max(1000).default(10),
});
export type ConsoleConfig = z.infer<typeof ConsoleConfigSchema>;

export const FileConfigSchema = z.object({
  publicUrl: z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/$/, "")),
  /** Serves a tiny stand-in host under /demo for trying PGB by hand. Off in production. */
  demoHost: z.boolean().default(false),
  checkoutTtlMinutes: z
    .number()
    .int()
    .min(5)
    .max(24 * 60)
    .default(30),
  /** How long PayStart waits for the PG to close the checkout it supersedes before answering anyway. */
  supersedeCloseBudgetMs: z.number().int().min(0).max(30_000).default(3_000),
  tenants: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "DBType: letters, digits, _ or -"), TenantConfigSchema),
  workers: WorkersConfigSchema.prefault({}),
  http: HttpConfigSchema,
  console: ConsoleConfigSchema.optional(),
});

export type TenantConfig = z.infer<typeof TenantConfigSchema>;
export type FileConfig = z.infer<typeof FileConfigSchema>;

export interface Config extends FileConfig {
  port: number;
  host: string;
  databaseUrl: Secret | undefined;
  dataDir: string;
  logLevel: string;
  configPath: string;
}

/** Replaces ${NAME} and ${NAME:-default} in every string of the parsed JSON. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path = "$"): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`config ${path}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, `${path}.${k}`)]));
  }
  return value;
}

export function formatZodIssues(error: z.ZodError, prefix: string): string {
  return error.issues.map((issue) => `${prefix}${issue.path.length ? "." + issue.path.join(".") : ""}: ${issue.message}`).join("\n");
}

export function parseFileConfig(json: unknown, env: NodeJS.ProcessEnv): FileConfig {
  const parsed = FileConfigSchema.safeParse(interpolateEnv(json, env));
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error, "config"));
  const config = parsed.data;
  const allKeys = new Map<string, string>();
  for (const [dbType, tenant] of Object.entries(config.tenants)) {
    for (const key of tenant.apiKeys) {
      const owner = allKeys.get(key.reveal());
      if (owner !== undefined) throw new ConfigError(`config tenants.${dbType}.apiKeys: a key is shared with tenant ${owner}`);
      allKeys.set(key.reveal(), dbType);
    }
    tenant.routes.forEach((route, i) => {
      if (!Object.hasOwn(tenant.pgs, route.pg)) {
        throw new ConfigError(`config tenants.${dbType}.routes[${i}].pg: "${route.pg}" has no entry in tenants.${dbType}.pgs`);
      }
    });
  }
  refuseExampleSettingsInPublic(config);
  return config;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const configPath = resolve(env.PGB_CONFIG ?? "config/pgb.example.json");
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (error) {
    throw new ConfigError(`cannot read config ${configPath}: ${(error as Error).message}`);
  }
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT: "${env.PORT}" is not a port number`);
  const host = env.HOST ?? "127.0.0.1";
  // ${PGB_PUBLIC_URL} defaults to where this process listens, so `PORT=18181 npm start` links to 18181.
  const fallback = defaultPublicUrl(host, port);
  const file = parseFileConfig(json, env.PGB_PUBLIC_URL || fallback === undefined ? env : { ...env, PGB_PUBLIC_URL: fallback });
  return {
    ...file,
    port,
    host,
    databaseUrl: env.DATABASE_URL ? new Secret(env.DATABASE_URL) : undefined,
    dataDir: resolve(env.PGB_DATA_DIR ?? "./data"),
    logLevel: env.LOG_LEVEL ?? "info",
    configPath,
  };
}

/**
 * http://HOST:PORT. None for a wildcard bind address (0.0.0.0, ::): PGB then serves the public
 * behind some name only the operator knows, so PGB_PUBLIC_URL must say it.
 */
export function defaultPublicUrl(host: string, port: number): string | undefined {
  if (host === "0.0.0.0" || host === "::" || host === "") return undefined;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
