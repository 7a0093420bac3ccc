/**
 * The HTTP client every connector that speaks plain HTTP to its PG uses (Stripe keeps its official
 * SDK): one deadline per call, credentials only in headers and never logged, the idempotency key in
 * the PG's header, one log line and one metric sample per call, and every failure classified by the
 * one rule of pg-failure.ts. The connector says how to authenticate and what the PG's error body
 * means; it parses a success with its own wire schema.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { z } from "zod";
import type { Secret } from "../../core/secret.ts";
import type { ConnectorError } from "../../core/ports/connector.ts";
import { classifyPgFailure, transportFailure, type PgAnswerMeaning, type PgFailure } from "./pg-failure.ts";

/** Per-PG call metrics (exported at /metrics as pgb_pg_calls_total and pgb_pg_call_seconds). */
export interface PgCallMetrics {
  observe(sample: { pg: string; operation: string; outcome: "ok" | ConnectorError["errorClass"]; seconds: number }): void;
}

export interface PgErrorReading {
  meaning: PgAnswerMeaning;
  pgCode?: string;
  pgMessage: string;
}

export interface PgHttpClientOptions {
  pg: string;
  /** How the PG is named in messages and logs ("Toss"). */
  label: string;
  baseUrl: string;
  timeoutMs: number;
  /** The Authorization header's value; a function where a token must be fetched and renewed (OAuth). */
  authorization: Secret | (() => Promise<Secret>);
  /** The header the PG reads an idempotency key from; null for a PG that has none. */
  idempotencyHeader: string | null;
  /** What an error answer means; `body` is the parsed JSON, or undefined when the body was not JSON. */
  readError(status: number, body: unknown): PgErrorReading;
  /** Shortens ids in paths for logs. */
  redactPath?(path: string): string;
  logger: Logger;
  metrics?: PgCallMetrics | undefined;
}

export interface PgCall {
  method: "GET" | "POST";
  path: string;
  /** What the call does, for metrics ("confirm", "refund"); few distinct values. */
  operation: string;
  json?: object;
  form?: Record<string, string>;
  idempotencyKey?: string;
  /** Whether the call may change something at the PG; by default every POST. */
  writes?: boolean;
}

export class PgHttpClient {
  readonly #options: PgHttpClientOptions;

  constructor(options: PgHttpClientOptions) {
    this.#options = options;
  }

  /** Sends `call` and parses a 2xx answer with `schema`; throws a classified ConnectorError otherwise. */
  async request<S extends z.ZodType>(call: PgCall, schema: S): Promise<z.infer<S>> {
    const { pg, label, logger } = this.#options;
    const writes = call.writes ?? call.method !== "GET";
    const logPath = this.#options.redactPath?.(call.path) ?? call.path;
    const describe = `${label} ${call.method} ${logPath}`;
    const callId = randomUUID();
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    const fail = (failure: PgFailure, log: Record<string, unknown>, level: "warn" | "error"): never => {
      const error = classifyPgFailure(failure, writes, describe);
      this.#options.metrics?.observe({ pg, operation: call.operation, outcome: error.errorClass, seconds: seconds() });
      logger[level](
        { pg, callId, method: call.method, path: logPath, ms: Math.round(seconds() * 1000), pgCode: error.pgCode, errorClass: error.errorClass, ...log },
        `${label} call failed`,
      );
      throw error;
    };

    let status: number;
    let text: string;
    try {
      const response = await fetch(`${this.#options.baseUrl}${call.path}`, {
        method: call.method,
        headers: await this.#headers(call),
        body: call.json !== undefined ? JSON.stringify(call.json) : call.form !== undefined ? new URLSearchParams(call.form).toString() : null,
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const name = (error as { name?: string } | null)?.name;
      const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
      return fail(transportFailure(typeof code === "string" ? code : undefined, name === "TimeoutError" || name === "AbortError"), {}, "warn");
    }

    const body = parseJson(text);
    if (status < 200 || status >= 300) {
      const reading = this.#options.readError(status, body);
      return fail({ kind: "answered", httpStatus: status, ...reading }, { status }, "warn");
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join(".")}: ${i.message}`)
        .join("; ");
      return fail({ kind: "unreadable-success", httpStatus: status, detail }, { status }, "error");
    }
    this.#options.metrics?.observe({ pg, operation: call.operation, outcome: "ok", seconds: seconds() });
    logger.info({ pg, callId, method: call.method, path: logPath, status, ms: Math.round(seconds() * 1000) }, `${label} call`);
    return parsed.data as z.infer<S>;
  }

  async #headers(call: PgCall): Promise<Record<string, string>> {
    const authorization = typeof this.#options.authorization === "function" ? await this.#options.authorization() : this.#options.authorization;
    const headers: Record<string, string> = { authorization: authorization.reveal(), accept: "application/json" };
    if (call.json !== undefined) headers["content-type"] = "application/json";
    if (call.form !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
    if (call.idempotencyKey !== undefined && this.#options.idempotencyHeader !== null) headers[this.#options.idempotencyHeader] = call.idempotencyKey;
    return headers;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
