/**
 * Stripe's request encoding: application/x-www-form-urlencoded with bracket nesting, e.g.
 * `line_items[0][price_data][unit_amount]=5000`, `metadata[order_id]=7`, `expand[]=payment_intent`.
 * Objects whose keys are all indices become arrays, as Stripe reads them.
 */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

export class FormError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

const FORBIDDEN_SEGMENTS = new Set(["__proto__", "prototype", "constructor"]);

/** Splits `a[b][0][]` into ["a", "b", "0", ""]; "" means "append". */
export function keySegments(key: string): string[] {
  const open = key.indexOf("[");
  if (open === -1) return [key];
  const head = key.slice(0, open);
  const rest = key.slice(open);
  const segments = [head];
  const pattern = /\[([^\[\]]*)\]/g;
  let consumed = 0;
  for (const match of rest.matchAll(pattern)) {
    if (match.index !== consumed) throw new FormError(`Invalid parameter name: ${key}`, key);
    segments.push(match[1]!);
    consumed = match.index + match[0].length;
  }
  if (consumed !== rest.length || head === "") throw new FormError(`Invalid parameter name: ${key}`, key);
  return segments;
}

function decode(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, " "));
}

/** Parses a form body or a query string (without the leading "?"). */
export function parseForm(body: string): FormObject {
  const root: FormObject = {};
  if (body === "") return root;
  for (const pair of body.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? "" : pair.slice(eq + 1);
    let key: string;
    let value: string;
    try {
      key = decode(rawKey);
      value = decode(rawValue);
    } catch {
      throw new FormError(`Invalid URL encoding in ${rawKey}`, rawKey);
    }
    const segments = keySegments(key);
    if (segments.some((segment) => FORBIDDEN_SEGMENTS.has(segment))) throw new FormError(`Invalid parameter name: ${key}`, key);
    assign(root, segments, value, key);
  }
  return arraysFromIndices(root) as FormObject;
}

function assign(target: FormObject, segments: string[], value: string, key: string): void {
  let node: FormObject = target;
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === "") segment = String(Object.keys(node).length);
    if (last) {
      if (Object.hasOwn(node, segment)) {
        throw new FormError(`Received both ${key} and another value for the same parameter`, key);
      }
      node[segment] = value;
      return;
    }
    const existing = Object.hasOwn(node, segment) ? node[segment] : undefined;
    if (existing === undefined) {
      const child: FormObject = {};
      node[segment] = child;
      node = child;
    } else if (typeof existing === "object" && !Array.isArray(existing)) {
      node = existing;
    } else {
      throw new FormError(`Invalid hash: ${key} mixes a value and nested parameters`, key);
    }
  }
}

function arraysFromIndices(value: FormValue): FormValue {
  if (typeof value === "string" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const key of keys) value[key] = arraysFromIndices(value[key]!);
  const isArray = keys.length > 0 && keys.every((key) => /^(0|[1-9][0-9]*)$/.test(key));
  if (!isArray) return value;
  const indices = keys.map(Number).sort((a, b) => a - b);
  return indices.map((index) => value[String(index)]!);
}

/** Canonical text of parsed parameters (sorted keys): how the idempotency layer compares requests. */
export function canonicalForm(value: FormValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalForm).join(",")}]`;
  return `{${Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalForm(value[key]!)}`)
    .join(",")}}`;
}
