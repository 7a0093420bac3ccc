/**
 * The simulator's stand-in for Toss's v2 browser SDK (https://js.tosspayments.com/v2/standard):
 * the same entry points, TossPayments(clientKey).payment({customerKey}).requestPayment({...}), with
 * the SDK's parameter checks (rejecting the promise with {code, message}), and instead of Toss's
 * window a navigation to the simulator's authentication page.
 */
export function sdkScript(simulatorUrl: string): string {
  return `(function () {
  "use strict";
  var SIMULATOR = ${JSON.stringify(simulatorUrl)};
  var METHODS = ["CARD", "VIRTUAL_ACCOUNT", "TRANSFER", "MOBILE_PHONE"];
  function sdkError(code, message) { var e = new Error(message); e.code = code; return e; }
  function isHttpUrl(value) {
    try { var u = new URL(value); return u.protocol === "http:" || u.protocol === "https:"; } catch (e) { return false; }
  }
  function check(p) {
    if (!p || typeof p !== "object") return "결제 요청 파라미터가 없습니다.";
    if (METHODS.indexOf(p.method) < 0) return "method가 올바르지 않습니다.";
    if (!p.amount || p.amount.currency !== "KRW" || !Number.isInteger(p.amount.value) || p.amount.value <= 0) return "amount가 올바르지 않습니다.";
    if (typeof p.orderId !== "string" || !/^[A-Za-z0-9_-]{6,64}$/.test(p.orderId)) return "orderId는 6자 이상 64자 이하의 영문 대소문자, 숫자, -, _ 로만 구성되어야 합니다.";
    if (typeof p.orderName !== "string" || p.orderName.length === 0 || p.orderName.length > 100) return "orderName이 올바르지 않습니다.";
    if (!isHttpUrl(p.successUrl) || !isHttpUrl(p.failUrl)) return "successUrl과 failUrl은 절대 URL이어야 합니다.";
    return null;
  }
  function TossPayments(clientKey) {
    if (typeof clientKey !== "string" || !/^(test|live)_ck_/.test(clientKey)) throw sdkError("INVALID_CLIENT_KEY", "클라이언트 키가 올바르지 않습니다.");
    return {
      payment: function (options) {
        if (!options || typeof options.customerKey !== "string" || options.customerKey === "") throw sdkError("INVALID_CUSTOMER_KEY", "customerKey가 필요합니다.");
        return {
          requestPayment: function (params) {
            return new Promise(function (_resolve, reject) {
              var problem = check(params);
              if (problem) { reject(sdkError("INVALID_PARAMETERS", problem)); return; }
              var q = new URLSearchParams({
                clientKey: clientKey,
                customerKey: options.customerKey,
                method: params.method,
                amount: String(params.amount.value),
                orderId: params.orderId,
                orderName: params.orderName,
                successUrl: params.successUrl,
                failUrl: params.failUrl,
                customerName: params.customerName || ""
              });
              window.location.href = SIMULATOR + "/sim/checkout?" + q.toString();
            });
          }
        };
      }
    };
  }
  TossPayments.ANONYMOUS = "@@ANONYMOUS";
  window.TossPayments = TossPayments;
})();
`;
}
