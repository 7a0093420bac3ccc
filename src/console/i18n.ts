/**
 * Labels in English and Korean (the host's staff are Korean). The language is chosen with ?lang=ko|en
 * and remembered in a cookie; anything not translated here is shown in English.
 */
export type Lang = "en" | "ko";

const KO: Record<string, string> = {
  Payments: "결제",
  Alerts: "알림",
  Overview: "개요",
  "Audit log": "감사 로그",
  "Sign out": "로그아웃",
  "Sign in": "로그인",
  Username: "아이디",
  Password: "비밀번호",
  Search: "검색",
  "OrderId, PaymentId, PG transaction, refund id, virtual account or JoinerId": "주문번호, 결제ID, PG 거래번호, 환불ID, 가상계좌 또는 회원번호",
  Tenant: "테넌트",
  Status: "상태",
  From: "시작",
  To: "종료",
  Any: "전체",
  "Next page": "다음 페이지",
  "First page": "첫 페이지",
  "No payments match.": "일치하는 결제가 없습니다.",
  Attempts: "시도",
  Timeline: "타임라인",
  Amounts: "금액",
  Total: "총액",
  Paid: "결제됨",
  Refunded: "환불됨",
  Remaining: "잔액",
  "Virtual account": "가상계좌",
  Actions: "작업",
  "Sync with the PG now": "지금 PG와 동기화",
  "Expire this checkout": "결제창 만료",
  Refund: "환불",
  Reason: "사유",
  "Amount (empty = everything remaining)": "금액 (비우면 잔액 전체)",
  "I have checked this and confirm": "확인했습니다",
  Replay: "재전송",
  Acknowledge: "확인 처리",
  Note: "메모",
  Open: "미처리",
  Acknowledged: "처리됨",
  All: "전체",
  Notifications: "호스트 알림",
  Refunds: "환불 내역",
  Window: "기간",
  "Payments per hour": "시간별 결제",
  Conversion: "전환율",
  "Refund volume": "환불 금액",
  "Notification delivery": "알림 전달",
  "Webhook processing": "웹훅 처리",
  Backlog: "대기",
  Dead: "실패(중단)",
  Started: "시작",
  Failed: "실패",
};

export function translator(lang: Lang): (text: string) => string {
  return lang === "ko" ? (text) => KO[text] ?? text : (text) => text;
}
