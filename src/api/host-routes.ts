/**
 * The host API (README, "Host API"): POST /PGB/PayStart, /PGB/PartialCancel, /PGB/FullCancel and
 * GET /PGB/Payment. A route only binds and validates input, calls a use case and renders its result.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { currencyForNation, type CurrencyCode } from "../core/currency.ts";
import type { CoreDeps } from "../core/deps.ts";
import { fail, type Failure } from "../core/errors.ts";
import { formatMinor, parseMoney, type Money } from "../core/money.ts";
import { parsePayType } from "../core/pay-type.ts";
import { payStart } from "../core/use-cases/pay-start.ts";
import { cancelPayment } from "../core/use-cases/cancel-payment.ts";
import type { CancelInput, CancelOutput } from "../core/use-cases/cancel-answer.ts";
import { getOrderPayment } from "../core/use-cases/get-order-payment.ts";
import { ApiKeyIndex, requireTenantKey } from "./auth.ts";
import { bindCaseInsensitive, NO_ALIASES } from "./case-insensitive.ts";
import {
  firstIssue,
  FULL_CANCEL_FIELDS,
  FullCancelBodySchema,
  PARTIAL_CANCEL_ALIASES,
  PARTIAL_CANCEL_FIELDS,
  PartialCancelBodySchema,
  PAY_START_FIELDS,
  PayStartBodySchema,
  PaymentQuerySchema,
} from "./host-schemas.ts";
import { sendFailure, sendResult } from "./host-result.ts";
import { ROUTE_DOCS } from "./openapi/api-docs.ts";
import { brand, type PaymentId } from "../core/ids.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The DBType whose API key authenticated this request. */
    tenant?: string;
  }
}

const PAYMENT_QUERY_FIELDS = ["DBType", "OrderId"] as const;
const PAY_START_EMPTY = { RedirectUrl: null, Type: null, PaymentId: null };
const CANCEL_EMPTY = {
  OrderId: null,
  PaymentId: null,
  Currency: null,
  RefundPrice: null,
  CurrentTotalPrice: null,
  ModifiedTotalPrice: null,
  RemainingPrice: null,
  PaidPrice: null,
  RefundStatus: null,
};

export function registerHostRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const keys = new ApiKeyIndex(deps.config.tenants);

  void app.register(async (scope) => {
    // The host speaks JSON only; anything else is a 415, not a string to guess at.
    scope.removeContentTypeParser("text/plain");
    requireTenantKey(scope, keys);

    scope.post("/PGB/PayStart", ROUTE_DOCS.payStart, async (request, reply) => {
      const body = bind(request, PayStartBodySchema, PAY_START_FIELDS);
      if (!body.ok) return sendFailure(reply, body, PAY_START_EMPTY);
      const b = body.value;
      const currency = currencyForNation(b.NationCode);
      if (currency === undefined) return sendFailure(reply, fail("UNSUPPORTED_NATION", `NationCode ${b.NationCode} is not supported`), PAY_START_EMPTY);
      const payType = parsePayType(b.PayType);
      if (payType === undefined) return sendFailure(reply, fail("UNSUPPORTED_PAY_TYPE", `PayType ${b.PayType} is not supported`), PAY_START_EMPTY);
      const amount = price("TotalPrice", b.TotalPrice, currency, { allowZero: false });
      if (!amount.ok) return sendFailure(reply, amount, PAY_START_EMPTY);
      const redirect = checkRedirectUrl(b.RedirectUrl, deps.config.tenants[b.DBType]!.redirectOrigins);
      if (!redirect.ok) return sendFailure(reply, redirect, PAY_START_EMPTY);

      const result = await payStart(deps, {
        tenant: b.DBType,
        orderId: b.OrderId,
        joinerId: b.JoinerId,
        payType,
        amount: amount.value,
        nationCode: b.NationCode.toUpperCase(),
        description: b.OrderDescription ?? "",
        redirectUrl: redirect.value,
      });
      if (!result.ok) return sendFailure(reply, result, PAY_START_EMPTY);
      return sendResult(reply, "OK", null, { RedirectUrl: result.value.checkoutUrl, Type: result.value.pg, PaymentId: result.value.paymentId });
    });

    scope.post("/PGB/PartialCancel", ROUTE_DOCS.partialCancel, async (request, reply) => {
      const body = bind(request, PartialCancelBodySchema, PARTIAL_CANCEL_FIELDS, PARTIAL_CANCEL_ALIASES);
      if (!body.ok) return sendFailure(reply, body, CANCEL_EMPTY);
      const b = body.value;
      const common = cancelCommon(request, b);
      if (!common.ok) return sendFailure(reply, common, CANCEL_EMPTY);
      const refund = price("RefundPrice", b.RefundPrice, common.currency, { allowZero: false });
      if (!refund.ok) return sendFailure(reply, refund, CANCEL_EMPTY);
      const current = price("CurrentTotalPrice", b.CurrentTotalPrice, common.currency, { allowZero: false });
      if (!current.ok) return sendFailure(reply, current, CANCEL_EMPTY);
      const modified = price("ModifiedTotalPrice", b.ModifiedTotalPrice, common.currency, { allowZero: true });
      if (!modified.ok) return sendFailure(reply, modified, CANCEL_EMPTY);
      const result = await cancelPayment(deps, {
        ...common.input,
        current: current.value,
        refund: refund.value,
        modified: modified.value,
        reason: "partial cancel requested by the host",
      });
      return renderCancel(reply, b.OrderId, result);
    });

    scope.post("/PGB/FullCancel", ROUTE_DOCS.fullCancel, async (request, reply) => {
      const body = bind(request, FullCancelBodySchema, FULL_CANCEL_FIELDS);
      if (!body.ok) return sendFailure(reply, body, CANCEL_EMPTY);
      const b = body.value;
      const common = cancelCommon(request, b);
      if (!common.ok) return sendFailure(reply, common, CANCEL_EMPTY);
      const current = price("CurrentTotalPrice", String(b.CurrentTotalPrice), common.currency, { allowZero: false });
      if (!current.ok) return sendFailure(reply, current, CANCEL_EMPTY);
      const result = await cancelPayment(deps, {
        ...common.input,
        current: current.value,
        refund: undefined,
        modified: undefined,
        expectPg: b.PGType,
        expectPayType: b.PayType,
        ...(b.PaymentId ? { paymentId: brand<PaymentId>(b.PaymentId) } : {}),
        reason: "full cancel requested by the host",
      });
      return renderCancel(reply, b.OrderId, result);
    });

    scope.get("/PGB/Payment", ROUTE_DOCS.payment, async (request, reply) => {
      const bound = bindCaseInsensitive(request.query, PAYMENT_QUERY_FIELDS);
      if (!bound.ok) return sendResult(reply, "INVALID_FIELD", bound.message);
      const query = PaymentQuerySchema.safeParse(bound.value);
      if (!query.success) return sendResult(reply, "INVALID_FIELD", firstIssue(query.error));
      if (query.data.DBType !== request.tenant) return sendResult(reply, "TENANT_FORBIDDEN", "this API key does not act on that DBType");
      const view = await getOrderPayment(deps, query.data.DBType, query.data.OrderId);
      if (!view.ok) return sendFailure(reply, view);
      return sendResult(reply, "OK", null, view.value);
    });
  });

  /** Binds case-insensitively, validates, and checks that the body's DBType is the key's tenant. */
  function bind<S extends z.ZodType<{ DBType: string }>>(
    request: FastifyRequest,
    schema: S,
    fields: readonly string[],
    aliases: Readonly<Record<string, string>> = NO_ALIASES,
  ): { ok: true; value: z.infer<S> } | Failure {
    const bound = bindCaseInsensitive(request.body, fields, aliases);
    if (!bound.ok) return fail("INVALID_FIELD", bound.message);
    const parsed = schema.safeParse(bound.value);
    if (!parsed.success) return fail("INVALID_FIELD", firstIssue(parsed.error));
    if (parsed.data.DBType !== request.tenant) return fail("TENANT_FORBIDDEN", `this API key does not act on DBType ${parsed.data.DBType}`);
    return { ok: true, value: parsed.data };
  }
}

/** What both cancels read alike: the currency of the nation, the Idempotency-Key, the refund account. */
function cancelCommon(
  request: FastifyRequest,
  b: { DBType: string; OrderId: number; NationCode: string; RefundAccount?: { Bank: string; AccountNumber: string; HolderName: string } | null | undefined },
): { ok: true; currency: CurrencyCode; input: Pick<CancelInput, "tenant" | "orderId" | "nationCode" | "idempotencyKey" | "refundAccount"> } | Failure {
  const currency = currencyForNation(b.NationCode);
  if (currency === undefined) return fail("UNSUPPORTED_NATION", `NationCode ${b.NationCode} is not supported`);
  const key = idempotencyKey(request);
  if (!key.ok) return key;
  const account = b.RefundAccount
    ? { bank: b.RefundAccount.Bank, accountNumber: b.RefundAccount.AccountNumber, holderName: b.RefundAccount.HolderName }
    : undefined;
  return {
    ok: true,
    currency,
    input: { tenant: b.DBType, orderId: b.OrderId, nationCode: b.NationCode, idempotencyKey: key.value, ...(account ? { refundAccount: account } : {}) },
  };
}

function price(field: string, text: string, currency: CurrencyCode, options: { allowZero: boolean }): { ok: true; value: Money } | Failure {
  const parsed = parseMoney(text, currency);
  if (!parsed.ok) return fail("INVALID_AMOUNT", `${field}: ${parsed.error.message}`);
  if (!options.allowZero && parsed.value.minor === 0n) return fail("INVALID_AMOUNT", `${field} must be greater than zero`);
  return parsed;
}

function checkRedirectUrl(value: string, origins: readonly string[]): { ok: true; value: string } | Failure {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail("REDIRECT_URL_NOT_ALLOWED", "RedirectUrl is not an absolute URL");
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "" || !origins.includes(url.origin)) {
    return fail("REDIRECT_URL_NOT_ALLOWED", `RedirectUrl's origin ${url.origin} is not one of this tenant's redirectOrigins`);
  }
  return { ok: true, value: url.toString() };
}

function idempotencyKey(request: FastifyRequest): { ok: true; value: string | undefined } | Failure {
  const raw = request.headers["idempotency-key"];
  if (raw === undefined) return { ok: true, value: undefined };
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || !/^[\x21-\x7e]{1,255}$/.test(value)) return fail("INVALID_FIELD", "Idempotency-Key must be 1–255 visible ASCII characters");
  return { ok: true, value };
}

function renderCancel(reply: FastifyReply, orderId: number, result: Awaited<ReturnType<typeof cancelPayment>>): FastifyReply {
  if (!result.ok) {
    const remaining = typeof result.detail?.remaining === "string" ? result.detail.remaining : null;
    return sendFailure(reply, result, { ...CANCEL_EMPTY, OrderId: orderId, RemainingPrice: remaining });
  }
  return sendResult(reply, "OK", null, cancelFields(orderId, result.value));
}

function cancelFields(orderId: number, out: CancelOutput): Record<string, unknown> {
  const f = (minor: bigint) => formatMinor(minor, out.currency);
  return {
    OrderId: orderId,
    PaymentId: out.paymentId,
    RefundId: out.refundId,
    Currency: out.currency,
    RefundPrice: f(out.refunded),
    CurrentTotalPrice: f(out.balanceBefore),
    ModifiedTotalPrice: f(out.balanceAfter),
    RemainingPrice: f(out.balanceAfter),
    PaidPrice: f(out.paid),
    RefundStatus: out.refundStatus,
    Replayed: out.replayed,
  };
}
