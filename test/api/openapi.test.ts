/**
 * The OpenAPI document PGB serves: valid OpenAPI 3.1, every ErrorCode with its HTTP status, and in
 * agreement with the server. The contract tests run again (in a child process, recording every
 * request and answer), and each request is checked against the document's schemas: what the server
 * took, the document accepts; what it refused as INVALID_FIELD, the document rejects; every answer
 * matches the document's response for its status. Real notifications match the `webhooks` schema.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { ERROR_CATALOGUE, type ErrorCode } from "../../src/core/errors.ts";
import { hostPost, startPgb, type TestPgb } from "../support/pgb.ts";
import { notificationsOf, paidOrder, pressButton, waitForOrder } from "../support/checkout.ts";
import { payStartBody } from "../support/pgb.ts";

type Json = Record<string, any>;
const CONTRACT_TESTS = ["test/api/host-contract.test.ts", "test/api/error-codes.test.ts", "test/flows/cancel.test.ts"];
/** Answered before the body is looked at: the document's body schema has nothing to say. */
const BEFORE_BINDING = new Set(["UNAUTHORIZED", "INVALID_JSON", "UNSUPPORTED_MEDIA_TYPE", "BODY_TOO_LARGE", "NOT_FOUND"]);

describe("OpenAPI document", () => {
  let pgb: TestPgb;
  let doc: Json;
  let ajv: Ajv2020;

  before(async () => {
    pgb = await startPgb("pglite");
    const response = await fetch(`${pgb.url}/openapi.json`);
    assert.equal(response.status, 200);
    doc = (await response.json()) as Json;
    ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema(doc, "openapi");
    documentRef = doc;
  });
  after(async () => pgb?.close());

  const compiled = new Map<string, ReturnType<Ajv2020["compile"]>>();
  const validatorAt = (pointer: string) => {
    if (!compiled.has(pointer)) compiled.set(pointer, ajv.compile({ $ref: `openapi#${pointer}` }));
    return compiled.get(pointer)!;
  };
  const ptr = (...parts: string[]) => "/" + parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

  it("is valid OpenAPI 3.1 by a maintained validator", async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.equal(validator.version, "3.1");
    assert.ok(result.valid, JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
  });

  it("documents the host and operations routes, the bearer scheme, and the notifications as webhooks", () => {
    for (const [path, method] of [
      ["/PGB/PayStart", "post"],
      ["/PGB/PartialCancel", "post"],
      ["/PGB/FullCancel", "post"],
      ["/PGB/Payment", "get"],
      ["/PGB/Sync", "post"],
      ["/PGB/Notifications", "get"],
      ["/PGB/Notifications/Replay", "post"],
    ] as const) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path} missing`);
    }
    assert.deepEqual(doc.components.securitySchemes.apiKey, { type: "http", scheme: "bearer", description: doc.components.securitySchemes.apiKey.description });
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
    assert.equal(doc.webhooks.notification.post.requestBody.content["application/json"].schema.$ref, "#/components/schemas/Notification");
    assert.ok(
      !Object.keys(doc.paths).some((p) => p.startsWith("/test-pg") || p.startsWith("/PGBReturn") || p.startsWith("/docs")),
      "PG-facing and docs routes stay out",
    );
  });

  it("lists every ErrorCode under its HTTP status on every host route", () => {
    for (const path of ["/PGB/PayStart", "/PGB/PartialCancel", "/PGB/FullCancel", "/PGB/Payment"]) {
      const operation = doc.paths[path].post ?? doc.paths[path].get;
      for (const [code, { status }] of Object.entries(ERROR_CATALOGUE) as Array<[ErrorCode, { status: number }]>) {
        const schema = operation.responses[String(status)]?.content?.["application/json"]?.schema;
        assert.ok(schema, `${path}: no ${status} response`);
        const codes: string[] = schema.$ref ? [] : schema.properties.ErrorCode.enum;
        if (code === "OK") continue;
        assert.ok(codes.includes(code), `${path}: ${code} not under ${status}`);
      }
    }
  });

  it("gives examples exactly as the .NET host sends them", () => {
    const example = (name: string) => doc.components.schemas[`${name}Input`].examples[0];
    assert.equal(example("FullCancelRequest").DbType, "SHOP");
    assert.equal(typeof example("FullCancelRequest").CurrentTotalPrice, "number");
    assert.equal(example("PartialCancelRequest").ModifedTotalPrice, "10000");
    assert.equal(example("PayStartRequest").OrderDescription, null);
    for (const name of ["PayStartRequest", "PartialCancelRequest", "FullCancelRequest"]) {
      const body = example(name);
      assert.ok(validatorAt(ptr("components", "schemas", `${name}Input`))(body), `${name}'s example fails its own schema`);
    }
  });

  it("agrees with the server on every request the contract tests send", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "pgb-contract-")), "requests.jsonl");
    const env: NodeJS.ProcessEnv = { ...process.env, PGB_RECORD_REQUESTS: file };
    delete env.TEST_DATABASE_URL; // the requests are the same on both databases
    delete env.NODE_TEST_CONTEXT; // a test run of its own, not a subtest of this one
    const run = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=dot", ...CONTRACT_TESTS], { env, encoding: "utf8" });
    assert.equal(run.status, 0, `contract tests failed:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`);
    const records = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Json);

    let bodiesChecked = 0;
    let answersChecked = 0;
    const disagreements: string[] = [];
    for (const r of records) {
      const url = new URL(r.path, "http://x");
      const operation = doc.paths[url.pathname]?.[r.method.toLowerCase()];
      if (operation === undefined) continue;
      const opPtr = ptr("paths", url.pathname, r.method.toLowerCase());
      const where = `${r.method} ${r.path} ${r.body ?? ""} → ${r.status} ${r.answer.ErrorCode}`;

      const response = operation.responses[String(r.status)];
      assert.ok(response, `${where}: the document has no ${r.status} response`);
      const answerValid = validatorAt(`${opPtr}/responses/${r.status}/content/application~1json/schema`);
      if (!answerValid(r.answer)) disagreements.push(`answer of ${where}: ${ajv.errorsText(answerValid.errors)}`);
      answersChecked++;

      if (BEFORE_BINDING.has(r.answer.ErrorCode)) continue;
      const input = inputOf(r, url, operation);
      if (input === undefined) continue; // two spellings of one property with different values: refused by binding, not expressible in a schema
      const ok = validateInput(opPtr, operation, input);
      const refusedAsInput = r.answer.ErrorCode === "INVALID_FIELD";
      if (ok !== !refusedAsInput) disagreements.push(`${where}: the document ${ok ? "accepts" : "rejects"} it`);
      bodiesChecked++;
    }
    console.log(`# replayed ${records.length} recorded requests: ${bodiesChecked} inputs and ${answersChecked} answers checked against the document`);
    assert.ok(bodiesChecked > 50 && answersChecked > 80, `too few requests recorded (${bodiesChecked}, ${answersChecked})`);
    assert.deepEqual(disagreements, []);
  });

  it("describes the notifications the host really receives", async () => {
    const { orderId } = await paidOrder(pgb);
    const partial = await hostPost(pgb, "/PGB/PartialCancel", {
      DBType: "DEMO",
      OrderId: orderId,
      RefundPrice: "5000",
      CurrentTotalPrice: "15000",
      ModifedTotalPrice: "10000",
      JoinerId: 42,
      NationCode: "KR",
    });
    assert.equal(partial.status, 200, JSON.stringify(partial.body));
    const full = await hostPost(pgb, "/PGB/FullCancel", {
      DbType: "DEMO",
      OrderId: orderId,
      PGType: "TEST",
      PayType: "CARD",
      CurrentTotalPrice: 10000,
      JoinerId: 42,
      NationCode: "KR",
    });
    assert.equal(full.status, 200, JSON.stringify(full.body));
    const va = payStartBody({ PayType: "VIRTUAL_ACCOUNT" });
    const started = await hostPost(pgb, "/PGB/PayStart", va);
    await pressButton(String(started.body.RedirectUrl), "issue-account");
    await waitForOrder(pgb, Number(va.OrderId), (b) => b.Status === "WAITING_FOR_DEPOSIT");

    const sent = [...(await notificationsOf(pgb, orderId)), ...(await notificationsOf(pgb, Number(va.OrderId)))];
    assert.deepEqual(
      sent.map((n) => n.type),
      ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_CANCELLED", "DEPOSIT_WAITING"],
    );
    const valid = validatorAt(ptr("components", "schemas", "Notification"));
    for (const n of sent) assert.ok(valid(n.payload), `${n.type}: ${ajv.errorsText(valid.errors)} in ${JSON.stringify(n.payload)}`);
  });

  function validateInput(opPtr: string, operation: Json, input: { body?: unknown; query?: Json; headers: Json }): boolean {
    if (operation.requestBody) {
      if (!validatorAt(`${opPtr}/requestBody/content/application~1json/schema`)(input.body)) return false;
    }
    for (const [i, parameter] of (operation.parameters ?? []).entries()) {
      const source = parameter.in === "query" ? input.query : parameter.in === "header" ? input.headers : undefined;
      const value = source?.[parameter.name];
      if (value === undefined) {
        if (parameter.required) return false;
        continue;
      }
      if (!validatorAt(`${opPtr}/parameters/${i}/schema`)(value)) return false;
    }
    return true;
  }
});

/**
 * The request as the document names things: property names matched case-insensitively onto the
 * schema's, with the aliases the operation declares in `x-pgb-binding`.
 */
function inputOf(r: Json, url: URL, operation: Json): { body?: unknown; query?: Json; headers: Json } | undefined {
  const headers = Object.fromEntries(Object.entries(r.headers as Json).map(([k, v]) => [k.toLowerCase(), v]));
  if (r.method === "GET") {
    const names = new Map<string, string>(
      (operation.parameters as Json[]).filter((p) => p.in === "query").map((p) => [String(p.name).toLowerCase(), String(p.name)]),
    );
    return { query: Object.fromEntries([...url.searchParams].map(([k, v]) => [names.get(k.toLowerCase()) ?? k, v])), headers };
  }
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    return { body: undefined, headers };
  }
  const binding = operation["x-pgb-binding"];
  if (binding === undefined || body === null || typeof body !== "object" || Array.isArray(body)) return { body, headers };
  const names = documentedNames(operation);
  const lookup = new Map<string, string>(names.map((n) => [n.toLowerCase(), n]));
  for (const [alias, name] of Object.entries(binding.aliases as Json)) lookup.set(alias.toLowerCase(), name as string);
  const bound: Json = {};
  for (const [key, value] of Object.entries(body)) {
    const name = lookup.get(key.toLowerCase());
    if (name === undefined) continue;
    if (Object.hasOwn(bound, name) && JSON.stringify(bound[name]) !== JSON.stringify(value)) return undefined;
    bound[name] = value;
  }
  return { body: bound, headers };
}

let documentRef: Json;
function documentedNames(operation: Json): string[] {
  const schema: Json = operation.requestBody.content["application/json"].schema;
  return Object.keys((schema.$ref ? documentRef.components.schemas[String(schema.$ref).split("/").pop()!] : schema).properties);
}
