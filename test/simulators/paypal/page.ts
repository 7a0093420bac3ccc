/** The simulator's approval page: plain HTML forms, so a test can approve with one form POST. */
import type { SimOrder } from "./model.ts";

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
</head><body>${body}</body></html>`;
}

export function approvalPage(order: SimOrder, amount: { currency_code: string; value: string }): string {
  const action = `/checkoutnow?token=${encodeURIComponent(order.id)}`;
  const button = (choice: string, label: string) =>
    `<form method="post" action="${escape(action)}"><input type="hidden" name="choice" value="${choice}"><button type="submit" id="${choice}">${escape(label)}</button></form>`;
  return layout(
    "Pay with PayPal (simulator)",
    `<h1>PayPal (simulator)</h1>
<p>Order <code>${escape(order.id)}</code>${order.description === undefined ? "" : ` — ${escape(order.description)}`}</p>
<p id="amount">${escape(amount.value)} ${escape(amount.currency_code)}</p>
${button("approve", "Approve")}
${button("decline", "Approve with a card that will be declined")}
${button("echeck", "Pay by eCheck (clears later)")}
${button("cancel", "Cancel and return to merchant")}`,
  );
}

export function closedPage(message: string): string {
  return layout("PayPal (simulator)", `<h1>PayPal (simulator)</h1><p id="message">${escape(message)}</p>`);
}
