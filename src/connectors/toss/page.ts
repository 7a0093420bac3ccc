/** The checkout page PGB serves for Toss: loads Toss's SDK with the tenant's client key and opens the payment window. */
import { escapeHtml } from "../../html.ts";
import { PayTypeSchema } from "../../core/pay-type.ts";
import { formatWon, moneyToWon, sdkMethodFor } from "./transformers.ts";
import type { TossSettings } from "./settings.ts";
import type { CheckoutRow } from "./store.ts";

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

export function page(status: number, title: string, body: string, head = ""): { status: number; html: string } {
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
    return page(
      410,
      "결제 시간 만료 / Checkout expired",
      `<h1>결제 시간이 만료되었습니다</h1><p>This checkout has expired. Please return to the shop and start the payment again.</p>`,
    );
  }
  if (row.status !== "OPEN") {
    return page(
      409,
      "이미 처리된 결제 / Already processed",
      `<h1>이미 처리된 결제입니다</h1><p>This checkout has already been completed or cancelled. Please return to the shop.</p>`,
    );
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
