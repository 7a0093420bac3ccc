/** PayPal's JSON representations of the simulator's records: orders, captures, refunds and their HATEOAS links. */
import { formatAmount, paypalFee, type SimCapture, type SimOrder, type SimRefund } from "./model.ts";

type Link = { href: string; rel: string; method: string };

export function approveHref(base: string, order: SimOrder): string {
  return `${base}/checkoutnow?token=${order.id}`;
}

export function orderLinks(base: string, order: SimOrder): Link[] {
  const self = `${base}/v2/checkout/orders/${order.id}`;
  const links = [{ href: self, rel: "self", method: "GET" }];
  if (order.status === "CREATED" || order.status === "PAYER_ACTION_REQUIRED") {
    links.push({ href: approveHref(base, order), rel: order.usesExperienceContext ? "payer-action" : "approve", method: "GET" });
  }
  if (order.status !== "COMPLETED" && order.status !== "VOIDED") {
    links.push({ href: self, rel: "update", method: "PATCH" }, { href: `${self}/capture`, rel: "capture", method: "POST" });
  }
  return links;
}

export function minimalOrder(base: string, order: SimOrder): Record<string, unknown> {
  return { id: order.id, status: order.status, links: orderLinks(base, order) };
}

/** `refunds`: the capture's refunds and reversals, which PayPal lists in the order's purchase unit beside the capture. */
export function renderOrder(base: string, order: SimOrder, capture: SimCapture | undefined, refunds: readonly SimRefund[] = []): Record<string, unknown> {
  const unit: Record<string, unknown> = {
    reference_id: order.referenceId,
    amount: formatAmount(order.amount),
    payee: { email_address: "merchant@example.com", merchant_id: "SIMMERCHANT01" },
    ...(order.description === undefined ? {} : { description: order.description }),
    ...(order.customId === undefined ? {} : { custom_id: order.customId }),
    ...(order.invoiceId === undefined ? {} : { invoice_id: order.invoiceId }),
  };
  if (capture)
    unit.payments = { captures: [renderCapture(base, capture, false)], ...(refunds.length > 0 ? { refunds: refunds.map((r) => renderRefund(base, r)) } : {}) };
  return {
    id: order.id,
    intent: "CAPTURE",
    status: order.status,
    ...(order.payerId === undefined
      ? {}
      : {
          payment_source: {
            paypal: {
              email_address: "buyer@example.com",
              account_id: order.payerId,
              account_status: "VERIFIED",
              name: { given_name: "Sim", surname: "Buyer" },
            },
          },
          payer: { name: { given_name: "Sim", surname: "Buyer" }, email_address: "buyer@example.com", payer_id: order.payerId },
        }),
    purchase_units: [unit],
    create_time: order.createTime,
    update_time: order.updateTime,
    links: orderLinks(base, order),
  };
}

export function renderCapture(base: string, capture: SimCapture, withSupplementary = true): Record<string, unknown> {
  const fee = paypalFee(capture.amount);
  const self = `${base}/v2/payments/captures/${capture.id}`;
  return {
    id: capture.id,
    status: capture.status,
    ...(capture.reason === undefined ? {} : { status_details: { reason: capture.reason } }),
    amount: formatAmount(capture.amount),
    final_capture: true,
    seller_protection: { status: "ELIGIBLE", dispute_categories: ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"] },
    ...(capture.status === "COMPLETED" || capture.status === "PARTIALLY_REFUNDED" || capture.status === "REFUNDED"
      ? {
          seller_receivable_breakdown: {
            gross_amount: formatAmount(capture.amount),
            paypal_fee: formatAmount(fee),
            net_amount: formatAmount({ minor: capture.amount.minor - fee.minor, currency: capture.amount.currency }),
          },
        }
      : {}),
    ...(capture.invoiceId === undefined ? {} : { invoice_id: capture.invoiceId }),
    ...(capture.customId === undefined ? {} : { custom_id: capture.customId }),
    ...(withSupplementary ? { supplementary_data: { related_ids: { order_id: capture.orderId } } } : {}),
    links: [
      { href: self, rel: "self", method: "GET" },
      { href: `${self}/refund`, rel: "refund", method: "POST" },
      { href: `${base}/v2/checkout/orders/${capture.orderId}`, rel: "up", method: "GET" },
    ],
    create_time: capture.createTime,
    update_time: capture.updateTime,
  };
}

export function refundLinks(base: string, refund: SimRefund): Link[] {
  return [
    { href: `${base}/v2/payments/refunds/${refund.id}`, rel: "self", method: "GET" },
    { href: `${base}/v2/payments/captures/${refund.captureId}`, rel: "up", method: "GET" },
  ];
}

export function renderRefund(base: string, refund: SimRefund): Record<string, unknown> {
  return {
    id: refund.id,
    amount: formatAmount(refund.amount),
    status: refund.status,
    ...(refund.reason === undefined ? {} : { status_details: { reason: refund.reason } }),
    ...(refund.invoiceId === undefined ? {} : { invoice_id: refund.invoiceId }),
    ...(refund.customId === undefined ? {} : { custom_id: refund.customId }),
    ...(refund.noteToPayer === undefined ? {} : { note_to_payer: refund.noteToPayer }),
    seller_payable_breakdown: {
      gross_amount: formatAmount(refund.amount),
      net_amount: formatAmount(refund.amount),
      total_refunded_amount: formatAmount(refund.amount),
    },
    links: refundLinks(base, refund),
    create_time: refund.createTime,
    update_time: refund.updateTime,
  };
}
