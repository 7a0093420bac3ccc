/**
 * Server-rendered HTML with escaping by default: every value interpolated into `html` is escaped
 * unless it is itself the result of `html` (or `raw`). Pages need no front-end build step.
 */
import { escapeHtml } from "../html.ts";

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | bigint | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => (out += render(value) + strings[i + 1]!));
  return new Html(out);
}

/** Trusted markup only (never anything from a request or the database). */
export function raw(text: string): Html {
  return new Html(text);
}

export function when(condition: unknown, content: () => Html): Html {
  return condition ? content() : new Html("");
}

export function iso(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return "";
  return new Date(value)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}
