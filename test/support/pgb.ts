/**
 * Starts a real PGB (HTTP on a loopback port, so the TEST PG's webhooks travel over HTTP as a real
 * PG's would) on a fresh database, and talks to it the way the .NET host does.
 */
import type { Logger } from "pino";
import { appendFileSync } from "node:fs";
import { buildApp as buildAppFromSource, type PgbApp } from "../../src/app.ts";
import { testPgSettings as testPgSettingsFromSource } from "../../src/connectors/test-pg/index.ts";
import { parseFileConfig, type FileConfig } from "../../src/config/config.ts";
import type { ConnectorFactory } from "../../src/connectors/factory.ts";
import type { Clock } from "../../src/core/ports/clock.ts";
import type { DatabaseHandle } from "../../src/storage/database.ts";
import { openTestDatabase, type Backend } from "./backends.ts";
import { freePort } from "./scratch.ts";

export { freePort };

export const DEMO_KEY = "key-demo-1";
export const DEMO_KEY_ROTATED = "key-demo-2";
export const OTHER_KEY = "key-other-1";
export const NOTIFY_SECRET = "whsec_dGVzdC1ub3RpZnktc2VjcmV0LTEyMzQ1Njc4";
export const TEST_PG_SECRET = "whsec_dGVzdC1wZy1zZWNyZXQtMTIzNDU2Nzg5MA==";
export const HOST_ORIGIN = "https://shop.example.com";

export interface TestPgb extends PgbApp {
  url: string;
  database: DatabaseHandle;
  close(): Promise<void>;
}

/**
 * A tenant block as the config file spells it: the DEMO tenant routing everything to the TEST PG,
 * with whatever a test changes (its own routes and PGs, its notifyUrl or redirect origins).
 */
export function demoTenant(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiKeys: [DEMO_KEY],
    notifyUrl: "http://127.0.0.1:9/notify",
    notifySecret: NOTIFY_SECRET,
    redirectOrigins: [HOST_ORIGIN],
    routes: [{ nationCode: "*", payType: "*", pg: "TEST" }],
    pgs: { TEST: { webhookSecret: TEST_PG_SECRET } },
    ...overrides,
  };
}

export function testConfig(
  url: string,
  overrides: { tenants?: Record<string, unknown>; extra?: Record<string, unknown>; console?: Record<string, unknown> } = {},
): FileConfig {
  return parseFileConfig(
    {
      publicUrl: url,
      demoHost: false,
      ...overrides.extra,
      ...(overrides.console ? { console: overrides.console } : {}),
      tenants: overrides.tenants ?? {
        DEMO: demoTenant({
          apiKeys: [DEMO_KEY, DEMO_KEY_ROTATED],
          routes: [
            { nationCode: "GB", payType: "*", pg: "TEST" },
            { nationCode: "*", payType: "CARD", pg: "TEST" },
            { nationCode: "KR", payType: "VIRTUAL_ACCOUNT", pg: "TEST" },
            { nationCode: "US", payType: "*", pg: "TEST" },
          ],
        }),
        OTHER: demoTenant({ apiKeys: [OTHER_KEY], redirectOrigins: ["https://other.example.com"] }),
      },
    },
    {},
  );
}

/**
 * PGB_TEST_BUILT=1 runs the suite against the production build (dist/, from `npm run build`) instead
 * of the TypeScript sources: test/build/built-server.test.ts runs the flows suite that way.
 */
const built = process.env.PGB_TEST_BUILT
  ? {
      app: (await import(new URL("../../dist/app.js", import.meta.url).href)) as { buildApp: typeof buildAppFromSource },
      testPg: (await import(new URL("../../dist/connectors/test-pg/index.js", import.meta.url).href)) as { testPgSettings: typeof testPgSettingsFromSource },
    }
  : undefined;
const buildApp = built?.app.buildApp ?? buildAppFromSource;
/** The TEST PG's settings behind a running PGB (from the build when the suite runs against it). */
export const testPgSettings = built?.testPg.testPgSettings ?? testPgSettingsFromSource;

/**
 * PGB_RECORD_REQUESTS=<file> appends every host request and its answer to <file> (JSON lines), so
 * test/api/openapi.test.ts can replay the contract tests' requests against the OpenAPI document.
 */
function record(method: string, path: string, headers: Record<string, string>, body: string | undefined, status: number, answer: unknown): void {
  const file = process.env.PGB_RECORD_REQUESTS;
  if (file) appendFileSync(file, JSON.stringify({ method, path, headers, body, status, answer }) + "\n");
}

export async function startPgb(
  backend: Backend,
  /** `config`: more top-level config fields (http, workers, demoHost...), as the file spells them. */
  options: {
    tenants?: Record<string, unknown>;
    factories?: readonly ConnectorFactory[];
    config?: Record<string, unknown>;
    logger?: Logger;
    port?: number;
    console?: Record<string, unknown>;
    clock?: Clock;
  } = {},
): Promise<TestPgb> {
  const database = await openTestDatabase(backend);
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const config = testConfig(url, {
    ...(options.tenants ? { tenants: options.tenants } : {}),
    ...(options.config ? { extra: options.config } : {}),
    ...(options.console ? { console: options.console } : {}),
  });
  const pgb = await buildApp({
    config,
    database,
    ...(options.factories ? { factories: options.factories } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await pgb.app.listen({ port, host: "127.0.0.1" });
  return {
    ...pgb,
    url,
    database,
    async close() {
      await pgb.app.close();
      await database.close();
    },
  };
}

export interface HostResponse {
  status: number;
  body: Record<string, unknown>;
}

/** POSTs exactly the bytes given (or the object serialised), with the headers a .NET HttpClient sends. */
export async function hostPost(
  pgb: { url: string },
  path: string,
  body: unknown,
  options: { key?: string | null; headers?: Record<string, string> } = {},
): Promise<HostResponse> {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8", ...options.headers };
  const key = options.key === undefined ? DEMO_KEY : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(`${pgb.url}${path}`, { method: "POST", headers, body: text });
  const answer = (await response.json()) as Record<string, unknown>;
  record("POST", path, headers, text, response.status, answer);
  return { status: response.status, body: answer };
}

export async function hostGet(pgb: { url: string }, path: string, key: string | null = DEMO_KEY): Promise<HostResponse> {
  const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
  const response = await fetch(`${pgb.url}${path}`, { headers });
  const answer = (await response.json()) as Record<string, unknown>;
  record("GET", path, headers, undefined, response.status, answer);
  return { status: response.status, body: answer };
}

let nextOrder = 1000;
/** A fresh OrderId per call, so tests in one file never share an order. */
export function newOrderId(): number {
  return nextOrder++;
}

/** PayStart exactly as the .NET host's PayStartRequest serialises (PascalCase, null description). */
export function payStartBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    DBType: "DEMO",
    OrderId: newOrderId(),
    PayType: "CARD",
    TotalPrice: "15000",
    JoinerId: 42,
    OrderDescription: null,
    RedirectUrl: `${HOST_ORIGIN}/order/complete`,
    NationCode: "KR",
    ...overrides,
  };
}

/** PartialCancel of `refund` from an order whose balance is `current` (the host's spelling, ModifedTotalPrice). */
export function partialCancelBody(orderId: number, refund: number, current: number): Record<string, unknown> {
  return {
    DBType: "DEMO",
    OrderId: orderId,
    RefundPrice: String(refund),
    CurrentTotalPrice: String(current),
    ModifedTotalPrice: String(current - refund),
    JoinerId: 42,
    NationCode: "KR",
  };
}
