/**
 * Toss Payments (토스페이먼츠), Korea's card and virtual-account PG, over plain HTTPS (Toss has no
 * Node server SDK). Toss has no server-side "create checkout": the customer's browser opens Toss's
 * payment window through its JS SDK, so PGB serves that page itself (/PGBReturn/toss/checkout/:ref)
 * and keeps what the page needs in its own table. On the success return PGB checks orderId and amount
 * against its record and only then confirms (POST /v1/payments/confirm).
 *
 * Toss's payment webhooks are unsigned: they are hints. The core re-reads the payment (fetchPayment)
 * before any transition, and a DEPOSIT_CALLBACK whose `secret` differs from the one Toss gave at
 * issuance is rejected here.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { sql, type ColumnType, type Kysely, type Selectable } from "kysely";
import type { Logger } from "pino";
import { z } from "zod";
import { escapeHtml } from "../../api/html.ts";
import { assertUnreachable } from "../../core/errors.ts";
import { PAY_TYPES, PayTypeSchema } from "../../core/pay-type.ts";
import { Secret } from "../../core/secret.ts";
import type { Money } from "../../core/money.ts";
import type { Db } from "../../storage/database.ts";
import {
  ConnectorError,
  type CheckoutCreated,
  type CheckoutInput,
  type Connector,
  type ConnectorDeps,
  type ConnectorFactory,
  type ConnectorRouteDeps,
  type PgPayment,
  type RefundInput,
  type RefundLookup,
  type RefundOutcome,
  type WebhookAction,
  type WebhookInput,
} from "../connector.ts";
import {
  confirmIdempotencyKey,
  depositCallbackEventId,
  formatWon,
  idempotencyKey,
  moneyToWon,
  methodOf,
  readDetails,
  refundOutcomeOf,
  returnAmountMatches,
  sdkMethodFor,
  statusChangedEventId,
  successReturnParams,
  toPgPayment,
  tossOrderIdFor,
} from "./transformers.ts";
import {
  TossDepositCallbackSchema,
  TossErrorSchema,
  TossPaymentSchema,
  TossPaymentStatusChangedSchema,
  TossWebhookEnvelopeSchema,
  type TossCancelRequest,
  type TossConfirmRequest,
  type TossPayment,
} from "./wire.ts";

const PG = "TOSS";
const DEFAULT_API_BASE = "https://api.tosspayments.com";
const DEFAULT_SDK_SCRIPT_URL = "https://js.tosspayments.com/v2/standard";
/** Toss's orderName limit. */
const ORDER_NAME_MAX = 100;
const CANCEL_REASON_MAX = 200;
/** Toss remembers an Idempotency-Key for 15 days; a day's margin. */
const IDEMPOTENCY_WINDOW_MS = 14 * 24 * 3_600_000;

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

// ---------------------------------------------------------------------------------------------
// The connector's own table: what the checkout page needs, since Toss keeps nothing before the
// customer opens its window. Also the paymentKey and deposit secret once learnt, for webhooks.

type CheckoutStatus = "OPEN" | "RETURNED" | "FAILED" | "EXPIRED";

interface TossCheckoutsTable {
  payment_reference: string;
  tenant: string;
  toss_order_id: string;
  order_name: string;
  amount: ColumnType<string | number | bigint, string | bigint, string | bigint>;
  currency: string;
  pay_type: string;
  return_url: string;
  status: CheckoutStatus;
  payment_key: string | null;
  deposit_secret: string | null;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

type CancelStatus = "SENT" | "DONE" | "PENDING" | "FAILED";

/**
 * One row per cancel PGB sends, written before the call. Toss replays a cancel only for the same
 * Idempotency-Key *and* the same body, and cannot be asked about a cancel by that key, so the row
 * keeps the exact request until its outcome is known (it may hold a refund account; it is erased
 * then) and the outcome after.
 */
interface TossCancelsTable {
  idempotency_key: string;
  tenant: string;
  payment_reference: string;
  payment_key: string;
  amount: ColumnType<string | number | bigint, string | bigint, string | bigint>;
  request: ColumnType<unknown, string | null, string | null>;
  status: CancelStatus;
  transaction_key: string | null;
  failure_code: string | null;
  failure_message: string | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

// A type alias, not an interface: withTables<T> wants an index-signature-compatible record.
type TossTables = {
  toss_checkouts: TossCheckoutsTable;
  toss_cancels: TossCancelsTable;
};

type TossDb = Kysely<TossTables>;

const migration0001 = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("toss_checkouts")
      .addColumn("payment_reference", "text", (c) => c.primaryKey())
      .addColumn("tenant", "text", (c) => c.notNull())
      .addColumn("toss_order_id", "text", (c) => c.notNull().unique())
      .addColumn("order_name", "text", (c) => c.notNull())
      .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
      .addColumn("currency", "text", (c) => c.notNull())
      .addColumn("pay_type", "text", (c) => c.notNull())
      .addColumn("return_url", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('OPEN','RETURNED','FAILED','EXPIRED')`))
      .addColumn("payment_key", "text")
      .addColumn("deposit_secret", "text")
      .addColumn("expires_at", "timestamptz", (c) => c.notNull())
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
  },
};

const migration0002 = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("toss_cancels")
      .addColumn("idempotency_key", "text", (c) => c.primaryKey())
      .addColumn("tenant", "text", (c) => c.notNull())
      .addColumn("payment_reference", "text", (c) => c.notNull())
      .addColumn("payment_key", "text", (c) => c.notNull())
      .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
      .addColumn("request", "jsonb")
      .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('SENT','DONE','PENDING','FAILED')`))
      .addColumn("transaction_key", "text")
      .addColumn("failure_code", "text")
      .addColumn("failure_message", "text")
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
  },
};

interface CheckoutRow {
  paymentReference: string;
  tenant: string;
  tossOrderId: string;
  orderName: string;
  amount: Money;
  payType: string;
  returnUrl: string;
  status: CheckoutStatus;
  paymentKey: string | null;
  depositSecret: string | null;
  expiresAt: Date;
}

class CheckoutStore {
  readonly #db: TossDb;
  constructor(db: Db) {
    this.#db = db.withTables<TossTables>() as unknown as TossDb;
  }

  /** Idempotent: a PayStart retried with the same payment keeps the first row. */
  async create(row: Omit<CheckoutRow, "status" | "paymentKey" | "depositSecret">): Promise<void> {
    await this.#db
      .insertInto("toss_checkouts")
      .values({
        payment_reference: row.paymentReference,
        tenant: row.tenant,
        toss_order_id: row.tossOrderId,
        order_name: row.orderName,
        amount: row.amount.minor,
        currency: row.amount.currency,
        pay_type: row.payType,
        return_url: row.returnUrl,
        status: "OPEN",
        payment_key: null,
        deposit_secret: null,
        expires_at: row.expiresAt,
      })
      .onConflict((oc) => oc.column("payment_reference").doNothing())
      .execute();
  }

  async find(paymentReference: string): Promise<CheckoutRow | undefined> {
    const row = await this.#db.selectFrom("toss_checkouts").selectAll().where("payment_reference", "=", paymentReference).executeTakeFirst();
    return row === undefined ? undefined : toRow(row);
  }

  async findByOrderId(tenant: string, tossOrderId: string): Promise<CheckoutRow | undefined> {
    const row = await this.#db
      .selectFrom("toss_checkouts")
      .selectAll()
      .where("tenant", "=", tenant)
      .where("toss_order_id", "=", tossOrderId)
      .executeTakeFirst();
    return row === undefined ? undefined : toRow(row);
  }

  /** Keeps the paymentKey and the deposit secret Toss answered, for later webhooks and calls. */
  async remember(paymentReference: string, payment: TossPayment): Promise<void> {
    await this.#db
      .updateTable("toss_checkouts")
      .set(payment.secret ? { payment_key: payment.paymentKey, deposit_secret: payment.secret, updated_at: new Date() } : { payment_key: payment.paymentKey, updated_at: new Date() })
      .where("payment_reference", "=", paymentReference)
      .execute();
  }

  async setStatus(paymentReference: string, status: CheckoutStatus, from: readonly CheckoutStatus[]): Promise<void> {
    await this.#db
      .updateTable("toss_checkouts")
      .set({ status, updated_at: new Date() })
      .where("payment_reference", "=", paymentReference)
      .where("status", "in", from)
      .execute();
  }
}

interface CancelRow {
  idempotencyKey: string;
  paymentReference: string;
  paymentKey: string;
  request: TossCancelRequest | null;
  status: CancelStatus;
  transactionKey: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
}

class CancelLedger {
  readonly #db: TossDb;
  constructor(db: Db) {
    this.#db = db.withTables<TossTables>() as unknown as TossDb;
  }

  /** Records the cancel about to be sent; a retry finds the first attempt's row (and its request). */
  async begin(row: { idempotencyKey: string; tenant: string; paymentReference: string; paymentKey: string; amount: Money; request: TossCancelRequest }): Promise<CancelRow> {
    await this.#db
      .insertInto("toss_cancels")
      .values({
        idempotency_key: row.idempotencyKey,
        tenant: row.tenant,
        payment_reference: row.paymentReference,
        payment_key: row.paymentKey,
        amount: row.amount.minor,
        request: JSON.stringify(row.request),
        status: "SENT",
      })
      .onConflict((oc) => oc.column("idempotency_key").doNothing())
      .execute();
    const stored = await this.find(row.idempotencyKey);
    if (stored === undefined) throw new Error(`toss_cancels row ${row.idempotencyKey} vanished`);
    return stored;
  }

  async find(idempotencyKey: string): Promise<CancelRow | undefined> {
    const row = await this.#db.selectFrom("toss_cancels").selectAll().where("idempotency_key", "=", idempotencyKey).executeTakeFirst();
    if (row === undefined) return undefined;
    const request = typeof row.request === "string" ? (JSON.parse(row.request) as TossCancelRequest) : ((row.request ?? null) as TossCancelRequest | null);
    return {
      idempotencyKey: row.idempotency_key,
      paymentReference: row.payment_reference,
      paymentKey: row.payment_key,
      request,
      status: row.status,
      transactionKey: row.transaction_key,
      failureCode: row.failure_code,
      failureMessage: row.failure_message,
      createdAt: new Date(row.created_at),
    };
  }

  /** The outcome is known: keep it, and drop the request (and any bank account in it). */
  async settle(idempotencyKey: string, outcome: RefundOutcome): Promise<void> {
    await this.#db
      .updateTable("toss_cancels")
      .set({
        status: outcome.status === "SUCCEEDED" ? "DONE" : outcome.status,
        transaction_key: outcome.pgRefundId ?? null,
        failure_code: outcome.status === "FAILED" ? outcome.code : null,
        failure_message: outcome.status === "FAILED" ? outcome.message : null,
        request: outcome.status === "PENDING" ? sql<string | null>`request` : null,
        updated_at: new Date(),
      })
      .where("idempotency_key", "=", idempotencyKey)
      .execute();
  }
}

function toRow(row: Selectable<TossCheckoutsTable>): CheckoutRow {
  return {
    paymentReference: row.payment_reference,
    tenant: row.tenant,
    tossOrderId: row.toss_order_id,
    orderName: row.order_name,
    // Only KRW rows are ever written (createCheckout refuses anything else).
    amount: { minor: BigInt(row.amount), currency: "KRW" },
    payType: row.pay_type,
    returnUrl: row.return_url,
    status: row.status,
    paymentKey: row.payment_key,
    depositSecret: row.deposit_secret,
    expiresAt: new Date(row.expires_at),
  };
}

// ---------------------------------------------------------------------------------------------
// The one HTTP helper: base URL, Basic auth, Idempotency-Key, time-out, redacted logging, and the
// sorting of every failure into the four ConnectorError classes.

/** Codes Toss uses for its own transient faults, whatever the HTTP status (PROVIDER_ERROR is a 400). */
const TRANSIENT_CODES = new Set([
  "PROVIDER_ERROR",
  "FAILED_INTERNAL_SYSTEM_PROCESSING",
  "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
  "UNKNOWN_PAYMENT_ERROR",
  "FAILED_CARD_COMPANY_RESPONSE",
  "COMMON_ERROR",
  "IDEMPOTENT_REQUEST_PROCESSING",
]);
/** Our keys are wrong or unusable: no retry will help, an operator must. */
/**
 * Refused unprocessed and worth another try later, whatever the method: Toss throttling repeated
 * calls on one payment (403, on GET too), and a refund the bank could not take just now (500).
 */
const RETRY_LATER_CODES = new Set(["FORBIDDEN_CONSECUTIVE_REQUEST", "FAILED_REFUND_PROCESS"]);
const FATAL_CODES = new Set(["INVALID_API_KEY", "UNAUTHORIZED_KEY", "UNAUTHORIZED", "INCORRECT_BASIC_AUTH_FORMAT", "INVALID_AUTHORIZE_AUTH"]);
/** Failures before a byte reached Toss: safe to retry even for a POST. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

type Method = "GET" | "POST";

class TossApi {
  readonly #apiBase: string;
  readonly #authorization: Secret;
  readonly #timeoutMs: number;
  readonly #logger: Logger;

  constructor(settings: TossSettings, logger: Logger) {
    this.#apiBase = settings.apiBase;
    this.#authorization = new Secret(`Basic ${Buffer.from(`${settings.secretKey.reveal()}:`).toString("base64")}`);
    this.#timeoutMs = settings.timeoutMs;
    this.#logger = logger;
  }

  get(path: string): Promise<TossPayment> {
    return this.#call("GET", path, undefined, undefined);
  }

  post(path: string, body: object, key: string): Promise<TossPayment> {
    return this.#call("POST", path, body, idempotencyKey(key));
  }

  async #call(method: Method, path: string, body: object | undefined, key: string | undefined): Promise<TossPayment> {
    const headers: Record<string, string> = { authorization: this.#authorization.reveal(), accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (key !== undefined) headers["idempotency-key"] = key;
    const started = performance.now();
    const logPath = redactPath(path);
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${this.#apiBase}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const failure = classifyNetworkError(method, logPath, error);
      this.#logger.warn({ pg: PG, method, path: logPath, ms: Math.round(performance.now() - started), errorClass: failure.errorClass, err: failure.message }, "Toss call failed");
      throw failure;
    }
    const ms = Math.round(performance.now() - started);
    if (status >= 200 && status < 300) {
      const parsed = TossPaymentSchema.safeParse(parseJson(text));
      if (!parsed.success) {
        this.#logger.error({ pg: PG, method, path: logPath, status, ms, issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`) }, "Toss answered an unexpected shape");
        // A POST that answered 2xx took effect even if we cannot read it: the reconciler must ask.
        throw new ConnectorError(method === "POST" ? "indeterminate" : "fatal", `Toss ${method} ${logPath}: unexpected answer shape`, undefined, status);
      }
      this.#logger.info({ pg: PG, method, path: logPath, status, ms, tossStatus: parsed.data.status }, "Toss call");
      return parsed.data;
    }
    const failure = classifyHttpError(method, logPath, status, text);
    this.#logger.warn({ pg: PG, method, path: logPath, status, ms, pgCode: failure.pgCode, errorClass: failure.errorClass }, "Toss refused");
    throw failure;
  }
}

/** paymentKeys are not secret, but they are long and unhelpful in logs; keep a short tail. */
function redactPath(path: string): string {
  return path.replace(/^\/v1\/payments\/(?!orders\/|confirm$)([^/]+)/, (_m, key: string) => `/v1/payments/…${key.slice(-6)}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function classifyHttpError(method: Method, path: string, status: number, text: string): ConnectorError {
  const parsed = TossErrorSchema.safeParse(parseJson(text));
  const code = parsed.success ? parsed.data.code : undefined;
  const message = parsed.success ? parsed.data.message : `HTTP ${status}`;
  const describe = `Toss ${method} ${path}: ${status}${code ? ` ${code}` : ""}: ${message}`;
  if (status === 401 || (code !== undefined && FATAL_CODES.has(code))) return new ConnectorError("fatal", describe, code, status);
  if (status === 429 || (code !== undefined && RETRY_LATER_CODES.has(code))) return new ConnectorError("retryable", describe, code, status); // refused unprocessed
  if (status >= 500 || (code !== undefined && TRANSIENT_CODES.has(code))) {
    return new ConnectorError(method === "GET" ? "retryable" : "indeterminate", describe, code, status);
  }
  // A 4xx without Toss's error body is not Toss talking (a wrong apiBase, a proxy): misconfiguration.
  if (code === undefined) return new ConnectorError("fatal", describe, undefined, status);
  return new ConnectorError("declined", describe, code, status);
}

function classifyNetworkError(method: Method, path: string, error: unknown): ConnectorError {
  const name = (error as { name?: string } | null)?.name;
  const causeCode = ((error as { cause?: { code?: string } } | null)?.cause?.code ?? "") as string;
  if (name === "TimeoutError" || name === "AbortError") {
    return new ConnectorError(method === "GET" ? "retryable" : "indeterminate", `Toss ${method} ${path}: no answer in time`, "TIMEOUT");
  }
  if (method === "GET" || NOT_SENT_CODES.has(causeCode)) {
    return new ConnectorError("retryable", `Toss ${method} ${path}: ${causeCode || "network error"}`, causeCode || "NETWORK");
  }
  return new ConnectorError("indeterminate", `Toss ${method} ${path}: connection lost (${causeCode || "network error"})`, causeCode || "NETWORK");
}

// ---------------------------------------------------------------------------------------------

function isConnectorError(error: unknown): error is ConnectorError {
  return error instanceof ConnectorError;
}

const enc = encodeURIComponent;

class TossConnector implements Connector {
  readonly pg = PG;
  readonly #tenant: string;
  readonly #api: TossApi;
  readonly #store: CheckoutStore;
  readonly #cancels: CancelLedger;
  readonly #publicUrl: string;
  readonly #logger: Logger;

  constructor(settings: TossSettings, tenant: string, deps: ConnectorDeps) {
    this.#tenant = tenant;
    this.#logger = deps.logger.child({ pg: PG, tenant });
    this.#api = new TossApi(settings, this.#logger);
    this.#store = new CheckoutStore(deps.db);
    this.#cancels = new CancelLedger(deps.db);
    this.#publicUrl = deps.publicUrl.replace(/\/+$/, "");
  }

  async createCheckout(input: CheckoutInput): Promise<CheckoutCreated> {
    if (input.amount.currency !== "KRW") {
      throw new ConnectorError("fatal", `Toss settles in KRW; this payment is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
    }
    if (sdkMethodFor(input.payType) === undefined) {
      throw new ConnectorError("fatal", `Toss does not take PayType ${input.payType}; fix the tenant's routes`, "UNSUPPORTED_PAY_TYPE");
    }
    await this.#store.create({
      paymentReference: input.paymentId,
      tenant: this.#tenant,
      tossOrderId: tossOrderIdFor(input.paymentId),
      orderName: orderNameOf(input),
      amount: input.amount,
      payType: input.payType,
      returnUrl: input.returnUrl,
      expiresAt: input.expiresAt,
    });
    return {
      // Toss has no id before the customer opens its window; the paymentKey replaces this on return.
      pgTransactionId: input.paymentId,
      checkoutUrl: `${this.#publicUrl}/PGBReturn/toss/checkout/${enc(input.paymentId)}`,
    };
  }

  async handleReturn(input: {
    pgTransactionId: string | null;
    paymentReference: string;
    amount: Money;
    query: Record<string, string>;
    details?: Record<string, unknown>;
  }): Promise<PgPayment> {
    const reference = input.paymentReference;
    const knownId = input.pgTransactionId ?? reference;
    const row = await this.#store.find(reference);
    if (row?.status === "RETURNED") {
      // Already confirmed (an issued virtual account, a reloaded success page): a later return URL,
      // forged or stale, must not fail it. Toss's record answers.
      return this.fetchPayment({ pgTransactionId: knownId, paymentReference: reference, details: input.details });
    }
    const success = successReturnParams(input.query);
    if (success === undefined) {
      if (input.query.result === "fail" || input.query.code !== undefined) {
        // Anyone can call the fail URL with any code, and Toss ends nothing on it either (the
        // customer may open the payment window again): only Toss's own record may end the payment.
        this.#logger.info({ paymentReference: reference, code: (input.query.code ?? "").slice(0, 64) }, "Toss fail return; asking Toss instead of believing it");
      }
      // A bare or fail return (back button, a bookmark, a closed window) says nothing: answer Toss's current truth.
      return this.fetchPayment({ pgTransactionId: knownId, paymentReference: reference, details: input.details });
    }

    // The query is the customer's browser talking: nothing in it is confirmed before it matches.
    const expectedOrderId = row?.tossOrderId ?? tossOrderIdFor(reference);
    if (success.orderId !== expectedOrderId) {
      return mismatch(reference, knownId, input.amount, "ORDER_ID_MISMATCH", "The orderId in the return does not match this payment; not confirmed.");
    }
    const amountMatches = returnAmountMatches(success.amount, input.amount) && (row === undefined || row.amount.minor === input.amount.minor);
    if (!amountMatches) {
      this.#logger.warn({ paymentReference: reference, returned: success.amount.slice(0, 20) }, "Toss return amount differs from the stored amount; not confirming");
      return mismatch(reference, knownId, input.amount, "AMOUNT_MISMATCH", "The amount in the return differs from the payment's amount; not confirmed.");
    }
    if (row?.status === "EXPIRED") {
      return {
        pgTransactionId: knownId,
        status: "EXPIRED",
        amount: input.amount,
        paymentReference: reference,
        failure: { code: "CHECKOUT_EXPIRED", message: "The checkout was expired before the customer finished; not confirmed." },
      };
    }

    let payment: TossPayment;
    try {
      payment = await this.#confirm(reference, { paymentKey: success.paymentKey, orderId: success.orderId, amount: moneyToWon(input.amount) });
    } catch (error) {
      if (isConnectorError(error) && error.errorClass === "declined") {
        // Toss refused the confirm (card rejected, deadline passed...): the payment failed there.
        await this.#store.setStatus(reference, "FAILED", ["OPEN"]);
        return {
          pgTransactionId: knownId,
          // Past Toss's 10-minute confirm window the payment session is gone: 404 NOT_FOUND_PAYMENT_SESSION.
          status: error.pgCode === "NOT_FOUND_PAYMENT_SESSION" ? "EXPIRED" : "FAILED",
          amount: input.amount,
          paymentReference: reference,
          failure: { code: error.pgCode ?? "DECLINED", message: tossMessageOf(error) },
        };
      }
      throw error;
    }
    assertOurs(payment, expectedOrderId);
    await this.#store.remember(reference, payment);
    await this.#store.setStatus(reference, "RETURNED", ["OPEN", "FAILED"]);
    return toPgPayment(payment, reference);
  }

  /**
   * Confirms once. When the answer is lost (time-out, 5xx) Toss's record of the payment decides:
   * confirmed → that is the answer; still IN_PROGRESS → it did not happen, so one more try with the
   * same Idempotency-Key (a confirm that did land is then replayed, never repeated).
   */
  async #confirm(reference: string, request: TossConfirmRequest): Promise<TossPayment> {
    const key = confirmIdempotencyKey(reference, request.paymentKey);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#api.post("/v1/payments/confirm", request, key);
      } catch (error) {
        if (!isConnectorError(error)) throw error;
        if (error.errorClass === "declined" && error.pgCode === "ALREADY_PROCESSED_PAYMENT") {
          return this.#api.get(`/v1/payments/${enc(request.paymentKey)}`);
        }
        if (error.errorClass !== "retryable" && error.errorClass !== "indeterminate") throw error;
        let current: TossPayment;
        try {
          current = await this.#api.get(`/v1/payments/${enc(request.paymentKey)}`);
        } catch {
          throw error; // still unknown: the original failure says so best
        }
        if (current.status !== "IN_PROGRESS" && current.status !== "READY") return current;
        if (attempt >= 2) throw error;
        this.#logger.info({ paymentReference: reference }, "Toss confirm did not take effect; trying once more");
      }
    }
  }

  async fetchPayment(ref: { pgTransactionId: string; paymentReference: string; details?: Record<string, unknown> }): Promise<PgPayment> {
    const reference = ref.paymentReference;
    const row = await this.#store.find(reference);
    const tossOrderId = row?.tossOrderId ?? tossOrderIdFor(reference);
    const paymentKey = paymentKeyOf(ref, row);
    let payment: TossPayment;
    try {
      payment = await this.#api.get(paymentKey !== undefined ? `/v1/payments/${enc(paymentKey)}` : `/v1/payments/orders/${enc(tossOrderId)}`);
    } catch (error) {
      // No Toss payment for this order yet: the customer never opened Toss's window.
      if (isConnectorError(error) && error.pgCode === "NOT_FOUND_PAYMENT" && paymentKey === undefined && row !== undefined) {
        return notStarted(row, ref.pgTransactionId);
      }
      throw error;
    }
    assertOurs(payment, tossOrderId);
    if (row !== undefined) await this.#store.remember(reference, payment);
    return toPgPayment(payment, reference);
  }

  async refund(input: RefundInput): Promise<RefundOutcome> {
    if (input.amount.currency !== "KRW") {
      throw new ConnectorError("fatal", `Toss refunds in KRW; this refund is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
    }
    // A retry (the core's, or the reconciler's without the refund account) resends the first request.
    const earlier = await this.#cancels.find(input.idempotencyKey);
    if (earlier !== undefined) return this.#resume(earlier, "refund");

    const row = await this.#store.find(input.paymentReference);
    const tossOrderId = row?.tossOrderId ?? tossOrderIdFor(input.paymentReference);
    let paymentKey = paymentKeyOf(input, row);
    let method = readDetails(input.details).method;
    if (paymentKey === undefined || method === undefined) {
      const current = await this.#api.get(paymentKey !== undefined ? `/v1/payments/${enc(paymentKey)}` : `/v1/payments/orders/${enc(tossOrderId)}`);
      assertOurs(current, tossOrderId);
      paymentKey = current.paymentKey;
      method = methodOf(current);
    }
    // Money deposited into a virtual account can only go back to a bank account the customer names.
    if (method === "VIRTUAL_ACCOUNT" && input.refundAccount === undefined) {
      throw new ConnectorError(
        "declined",
        "A paid virtual account is refunded into the customer's own bank account: send the refund account (bank, account number, holder name) with the cancel.",
        "REFUND_ACCOUNT_REQUIRED",
      );
    }
    const request: TossCancelRequest = {
      cancelReason: (input.reason.trim() || "Refund requested by the merchant").slice(0, CANCEL_REASON_MAX),
      cancelAmount: moneyToWon(input.amount),
    };
    if (input.refundAccount !== undefined) {
      request.refundReceiveAccount = {
        bank: input.refundAccount.bank.trim(),
        // Toss takes digits only; hosts often keep the hyphens banks print.
        accountNumber: input.refundAccount.accountNumber.replace(/[\s-]/g, ""),
        holderName: input.refundAccount.holderName.trim(),
      };
    }
    const sent = await this.#cancels.begin({
      idempotencyKey: input.idempotencyKey,
      tenant: this.#tenant,
      paymentReference: input.paymentReference,
      paymentKey,
      amount: input.amount,
      request,
    });
    return this.#resume(sent, "refund");
  }

  /**
   * For the reconciler: what became of the cancel sent under `idempotencyKey`. Never sent (no row:
   * rows are written before the call) → NOT_FOUND; outcome known → that; unknown → the stored
   * request is sent again under the same key, which Toss answers without cancelling twice.
   */
  async lookupRefund(ref: { pgTransactionId: string; paymentReference: string; idempotencyKey: string; pgRefundId?: string; amount: Money }): Promise<RefundLookup> {
    const row = await this.#cancels.find(ref.idempotencyKey);
    if (row === undefined) return { status: "NOT_FOUND" };
    return this.#resume(row, "lookup");
  }

  async #resume(row: CancelRow, purpose: "refund" | "lookup"): Promise<RefundOutcome> {
    switch (row.status) {
      case "DONE":
        return { status: "SUCCEEDED", pgRefundId: row.transactionKey ?? row.idempotencyKey };
      case "FAILED": {
        const code = row.failureCode ?? "DECLINED";
        const message = row.failureMessage ?? "Toss refused this cancel.";
        // The first answer was a refusal; a refund call repeats it the way it came, a lookup as data.
        if (purpose === "refund") throw new ConnectorError("declined", message, code);
        return { status: "FAILED", ...(row.transactionKey ? { pgRefundId: row.transactionKey } : {}), code, message };
      }
      case "PENDING": {
        const payment = await this.#api.get(`/v1/payments/${enc(row.paymentKey)}`);
        const cancel = (payment.cancels ?? []).find((c) => c.transactionKey === row.transactionKey);
        const outcome = cancel === undefined ? undefined : refundOutcomeOf({ ...payment, cancels: [cancel] });
        if (outcome === undefined) return { status: "PENDING", pgRefundId: row.transactionKey ?? row.idempotencyKey };
        if (outcome.status !== "PENDING") await this.#cancels.settle(row.idempotencyKey, outcome);
        return outcome;
      }
      case "SENT":
        return this.#send(row, purpose);
      default:
        return assertUnreachable(row.status);
    }
  }

  async #send(row: CancelRow, purpose: "refund" | "lookup"): Promise<RefundOutcome> {
    if (row.request === null) throw new ConnectorError("fatal", "a cancel whose outcome is unknown lost its stored request", "CANCEL_REQUEST_LOST");
    // Past Toss's 15-day idempotency window a resend would be a second cancel: a person decides.
    if (Date.now() - row.createdAt.getTime() > IDEMPOTENCY_WINDOW_MS) {
      throw new ConnectorError("fatal", "the cancel's outcome is unknown and Toss no longer remembers its Idempotency-Key; check Toss's console", "IDEMPOTENCY_WINDOW_PASSED");
    }
    let payment: TossPayment;
    try {
      payment = await this.#api.post(`/v1/payments/${enc(row.paymentKey)}/cancel`, row.request, row.idempotencyKey);
    } catch (error) {
      if (isConnectorError(error) && error.errorClass === "declined") {
        const failed: RefundOutcome = { status: "FAILED", code: error.pgCode ?? "DECLINED", message: tossMessageOf(error) };
        await this.#cancels.settle(row.idempotencyKey, failed);
        if (purpose === "lookup") return failed;
      }
      throw error;
    }
    assertOurs(payment, tossOrderIdFor(row.paymentReference));
    const outcome = refundOutcomeOf(payment);
    if (outcome === undefined) throw new ConnectorError("indeterminate", "Toss answered the cancel without any cancel entry", undefined, 200);
    await this.#cancels.settle(row.idempotencyKey, outcome);
    return outcome;
  }

  async expireCheckout(ref: { pgTransactionId: string; paymentReference: string }): Promise<void> {
    const row = await this.#store.find(ref.paymentReference);
    await this.#store.setStatus(ref.paymentReference, "EXPIRED", ["OPEN", "RETURNED", "FAILED"]);
    // An issued virtual account would still take a deposit for a superseded payment: withdraw it.
    // Toss has no expire call for anything else; the page refusing is enough there.
    const paymentKey = paymentKeyOf(ref, row);
    if (paymentKey === undefined) return;
    const payment = await this.#api.get(`/v1/payments/${enc(paymentKey)}`);
    if (payment.status !== "WAITING_FOR_DEPOSIT" || payment.orderId !== (row?.tossOrderId ?? tossOrderIdFor(ref.paymentReference))) return;
    await this.#api.post(`/v1/payments/${enc(paymentKey)}/cancel`, { cancelReason: "Checkout expired before the deposit" } satisfies TossCancelRequest, `pgb-expire-${ref.paymentReference}`);
  }

  async parseWebhook(input: WebhookInput): Promise<WebhookAction> {
    const body = parseJson(input.rawBody.toString("utf8"));
    const envelope = TossWebhookEnvelopeSchema.safeParse(body);
    if (!envelope.success || body === null || typeof body !== "object") return { kind: "rejected", reason: "not a Toss webhook body" };
    const eventType = envelope.data.eventType;

    if (eventType === "PAYMENT_STATUS_CHANGED") {
      const event = TossPaymentStatusChangedSchema.safeParse(body);
      if (!event.success) return { kind: "rejected", reason: "PAYMENT_STATUS_CHANGED without a Toss Payment in data" };
      const row = await this.#store.findByOrderId(this.#tenant, event.data.data.orderId);
      const eventId = statusChangedEventId(event.data);
      if (row === undefined) return { kind: "ignored", eventId, reason: "no PGB payment has this orderId" };
      return { kind: "payment", eventId, pgTransactionId: event.data.data.paymentKey, paymentReference: row.paymentReference, unsigned: true };
    }

    if (eventType === undefined || eventType === "DEPOSIT_CALLBACK") {
      const callback = TossDepositCallbackSchema.safeParse(body);
      if (!callback.success) return { kind: "rejected", reason: "not a Toss DEPOSIT_CALLBACK body" };
      const deposit = callback.data;
      const eventId = depositCallbackEventId(deposit);
      const row = await this.#store.findByOrderId(this.#tenant, deposit.orderId);
      if (row === undefined) return { kind: "ignored", eventId, reason: "no PGB payment has this orderId" };
      // Unsigned: the secret Toss gave at issuance is the only proof the callback is Toss's.
      if (row.depositSecret !== null && !sameSecret(row.depositSecret, deposit.secret)) {
        this.#logger.warn({ paymentReference: row.paymentReference }, "DEPOSIT_CALLBACK with a wrong secret rejected");
        return { kind: "rejected", reason: "DEPOSIT_CALLBACK secret does not match the virtual account's" };
      }
      const action: WebhookAction = { kind: "payment", eventId, paymentReference: row.paymentReference };
      if (row.paymentKey !== null) action.pgTransactionId = row.paymentKey;
      if (row.depositSecret === null) action.unsigned = true;
      return action;
    }

    const digest = createHash("sha256").update(input.rawBody).digest("hex").slice(0, 32);
    return { kind: "ignored", eventId: `${eventType}:${envelope.data.createdAt ?? ""}:${digest}`, reason: `${eventType} is not a payment event` };
  }
}

function sameSecret(expected: string, given: string): boolean {
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b);
}

/** Where a payment is addressed at Toss: the paymentKey once known, from whichever source has it. */
function paymentKeyOf(ref: { pgTransactionId: string; paymentReference: string; details?: Record<string, unknown> }, row: CheckoutRow | undefined): string | undefined {
  const fromDetails = readDetails(ref.details).paymentKey;
  if (fromDetails !== undefined) return fromDetails;
  if (ref.pgTransactionId !== "" && ref.pgTransactionId !== ref.paymentReference) return ref.pgTransactionId;
  return row?.paymentKey ?? undefined;
}

/** A paymentKey from a browser or a stale record must not let one order read or refund another. */
function assertOurs(payment: TossPayment, tossOrderId: string): void {
  if (payment.orderId !== tossOrderId) {
    throw new ConnectorError("fatal", "Toss returned a payment of another order for this paymentKey", "ORDER_ID_MISMATCH");
  }
}

function mismatch(reference: string, pgTransactionId: string, amount: Money, code: string, message: string): PgPayment {
  return { pgTransactionId, status: "FAILED", amount, paymentReference: reference, failure: { code, message } };
}

function notStarted(row: CheckoutRow, pgTransactionId: string): PgPayment {
  const expired = row.status === "EXPIRED" || row.expiresAt.getTime() <= Date.now();
  const result: PgPayment = { pgTransactionId, status: expired ? "EXPIRED" : "PENDING", amount: row.amount, paymentReference: row.paymentReference };
  if (expired) result.failure = { code: "CHECKOUT_EXPIRED", message: "The customer never opened Toss's payment window before the checkout expired." };
  return result;
}

/** ConnectorError messages carry our prefix; the history keeps Toss's own words. */
function tossMessageOf(error: ConnectorError): string {
  const at = error.message.indexOf(`${error.pgCode}: `);
  return at >= 0 ? error.message.slice(at + (error.pgCode?.length ?? 0) + 2) : error.message;
}

function orderNameOf(input: CheckoutInput): string {
  const name = input.description.trim() || `Order ${input.orderId}`;
  return [...name].slice(0, ORDER_NAME_MAX).join("");
}

// ---------------------------------------------------------------------------------------------
// The checkout page: loads Toss's SDK with the tenant's client key and opens the payment window.

/** JSON that cannot end the <script> element it sits in nor be read as HTML. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function withQuery(url: string, params: Record<string, string>): string {
  const target = new URL(url);
  for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
  return target.toString();
}

interface PageRequest {
  clientKey: string;
  payment: Record<string, unknown>;
}

const PAGE_SCRIPT = `(function () {
  var request = JSON.parse(document.getElementById("toss-request").textContent);
  var status = document.getElementById("status");
  var button = document.getElementById("pay");
  var leave = document.getElementById("leave");
  function fail(error) {
    button.disabled = false;
    leave.hidden = false;
    status.textContent = (error && error.message) || "결제창을 열지 못했습니다. / The payment window could not be opened.";
  }
  function start() {
    if (typeof TossPayments !== "function") { fail({ message: "결제 모듈을 불러오지 못했습니다. / Toss's payment script did not load." }); return; }
    button.disabled = true;
    status.textContent = "결제창을 여는 중… / Opening the payment window…";
    try {
      var payment = TossPayments(request.clientKey).payment({ customerKey: TossPayments.ANONYMOUS });
      Promise.resolve(payment.requestPayment(request.payment)).catch(fail);
    } catch (error) { fail(error); }
  }
  button.addEventListener("click", start);
  start();
})();`;

function page(status: number, title: string, body: string, head = ""): { status: number; html: string } {
  return {
    status,
    html: `<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}button{font-size:1.1rem;padding:.6rem 1.4rem}.amount{font-size:1.6rem;font-weight:600}</style>
${head}</head><body>
${body}
</body></html>`,
  };
}

export function renderCheckoutPage(row: CheckoutRow, settings: TossSettings, now: Date): { status: number; html: string } {
  if (row.status === "EXPIRED" || row.expiresAt.getTime() <= now.getTime()) {
    return page(410, "결제 시간 만료 / Checkout expired", `<h1>결제 시간이 만료되었습니다</h1><p>This checkout has expired. Please return to the shop and start the payment again.</p>`);
  }
  if (row.status !== "OPEN") {
    return page(409, "이미 처리된 결제 / Already processed", `<h1>이미 처리된 결제입니다</h1><p>This checkout has already been completed or cancelled. Please return to the shop.</p>`);
  }
  const method = sdkMethodFor(PayTypeSchema.parse(row.payType));
  if (method === undefined) return page(500, "Unsupported", `<h1>This payment method is not available.</h1>`);
  const failUrl = withQuery(row.returnUrl, { result: "fail" });
  const payment: Record<string, unknown> = {
    method,
    amount: { currency: "KRW", value: moneyToWon(row.amount) },
    orderId: row.tossOrderId,
    orderName: row.orderName,
    successUrl: row.returnUrl,
    failUrl,
  };
  if (method === "VIRTUAL_ACCOUNT" && settings.virtualAccountValidHours !== undefined) {
    payment.virtualAccount = { validHours: settings.virtualAccountValidHours };
  }
  const request: PageRequest = { clientKey: settings.clientKey, payment };
  const cancelUrl = withQuery(failUrl, { code: "PAY_PROCESS_CANCELED", message: "사용자에 의해 결제가 취소되었습니다.", orderId: row.tossOrderId });
  return page(
    200,
    `${row.orderName} — 결제`,
    `<h1>${escapeHtml(row.orderName)}</h1>
<p class="amount">${escapeHtml(formatWon(row.amount))}</p>
<p><button id="pay" type="button">결제하기 / Pay</button></p>
<p id="status" role="status"></p>
<p><a id="leave" href="${escapeHtml(cancelUrl)}" hidden>결제 취소하고 돌아가기 / Cancel and return to the shop</a></p>
<script id="toss-request" type="application/json">${jsonForScript(request)}</script>
<script>${PAGE_SCRIPT}</script>`,
    `<script src="${escapeHtml(settings.sdkScriptUrl)}"></script>`,
  );
}

async function registerRoutes(app: FastifyInstance, deps: ConnectorRouteDeps<TossSettings>): Promise<void> {
  const store = new CheckoutStore(deps.db);
  app.get<{ Params: { ref: string } }>("/PGBReturn/toss/checkout/:ref", async (request, reply) => {
    const row = await store.find(request.params.ref);
    const settings = row === undefined ? undefined : deps.tenantsWithSettings().find((t) => t.tenant === row.tenant)?.settings;
    const rendered =
      row === undefined || settings === undefined
        ? page(404, "결제를 찾을 수 없음 / Unknown checkout", `<h1>결제 정보를 찾을 수 없습니다</h1><p>This checkout does not exist. Please return to the shop and start the payment again.</p>`)
        : renderCheckoutPage(row, settings, new Date());
    return reply
      .code(rendered.status)
      .header("content-type", "text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", "frame-ancestors 'none'")
      .send(rendered.html);
  });
}

export const tossConnector: ConnectorFactory<typeof TossSettingsSchema> = {
  capabilities: { currencies: ["KRW"], payTypes: PAY_TYPES.filter((t) => sdkMethodFor(t) !== undefined) },
  pg: PG,
  settingsSchema: TossSettingsSchema,
  // A PAYMENT_STATUS_CHANGED carries one Payment object (a few KiB); a DEPOSIT_CALLBACK is smaller.
  maxWebhookBytes: 64 * 1024,
  create: (settings, context) => new TossConnector(settings, context.tenant, context.deps),
  migrations: { "toss-0001": migration0001, "toss-0002": migration0002 },
  registerRoutes,
};
