/**
 * Small HTTP and field helpers of the KakaoPay simulator.
 */
import { randomInt } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const KST_OFFSET_MS = 9 * 3_600_000;

export function str(value: unknown, max: number): string | undefined {
  return typeof value === "string" && value.length > 0 && value.length <= max ? value : undefined;
}

/** KakaoPay's own samples send integers as JSON strings ("quantity": "1"), and it accepts both. */
export function int(value: unknown): number | undefined {
  const n = typeof value === "string" && /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function digits(n: number): string {
  let out = "";
  while (out.length < n) out += String(randomInt(0, 10));
  return out;
}

export function cardInfo(): Record<string, string> {
  return {
    interest_free_install: "N",
    bin: "621640",
    card_type: "체크",
    card_mid: "123456789",
    approved_id: digits(8),
    install_month: "00",
    installment_type: "CARD_INSTALLMENT",
    kakaopay_purchase_corp: "비씨카드",
    kakaopay_purchase_corp_code: "104",
    kakaopay_issuer_corp: "수협은행",
    kakaopay_issuer_corp_code: "212",
  };
}

/** KakaoPay's datetimes: Korea local time, seconds, no zone ("2023-07-15T21:18:22"). */
export function kstLocal(date: Date): string {
  return new Date(date.getTime() + KST_OFFSET_MS).toISOString().slice(0, 19);
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json;charset=UTF-8" });
  res.end(JSON.stringify(body));
}

export function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(body);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location });
  res.end();
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function parseObject(raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
