/**
 * The buyer's side of the simulator: the page next_redirect_pc_url / next_redirect_mobile_url
 * open. On the real service the PC page asks for a phone number (or shows a QR code) and the
 * buyer confirms in KakaoTalk; the mobile page hands over to KakaoTalk. Here one HTML page
 * stands in for both, with Approve / Cancel / Fail buttons and a choice of CARD or MONEY.
 */

export interface PageView {
  pageId: string;
  device: "PC" | "MOBILE" | "APP";
  itemName: string;
  totalAmount: number;
  status: string;
  expired: boolean;
}

export function buyerPage(view: PageView): string {
  if (view.expired) return shell(`<h1>결제 시간이 만료되었습니다</h1><p id="state">EXPIRED</p>`);
  if (!["READY", "SEND_TMS", "OPEN_PAYMENT", "SELECT_METHOD"].includes(view.status)) {
    return shell(`<h1>이미 처리된 결제입니다</h1><p id="state">${escape(view.status)}</p>`);
  }
  const action = `/pay/${encodeURIComponent(view.pageId)}/action`;
  return shell(`
    <h1>카카오페이 결제 (${view.device})</h1>
    <p id="item">${escape(view.itemName)}</p>
    <p id="amount">${view.totalAmount}원</p>
    <form method="post" action="${action}">
      <label><input type="radio" name="method" value="MONEY" checked> 카카오페이머니</label>
      <label><input type="radio" name="method" value="CARD"> 카드</label>
      <button id="approve" name="decision" value="approve">결제하기</button>
      <button id="cancel" name="decision" value="cancel">취소</button>
      <button id="fail" name="decision" value="fail">비밀번호 실패</button>
    </form>`);
}

export function messagePage(title: string, state: string): string {
  return shell(`<h1>${escape(title)}</h1><p id="state">${escape(state)}</p>`);
}

function shell(body: string): string {
  return `<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>KakaoPay simulator</title></head><body>${body}</body></html>`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Appends a query parameter to a merchant URL that may already carry a query. */
export function withParam(url: string, name: string, value: string): string {
  const target = new URL(url);
  target.searchParams.set(name, value);
  return target.toString();
}
