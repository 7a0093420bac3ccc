import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createLogger, maskCardNumbers } from "../../src/logging.ts";
import { Secret } from "../../src/core/secret.ts";

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, stream };
}

describe("logging", () => {
  it("masks card-like numbers in messages and nested fields, keeping the last four digits", () => {
    const { lines, stream } = capture();
    const logger = createLogger("info", stream);
    logger.info({ pg: { message: "card 4111 1111 1111 1111 declined" }, other: "ref 4242-4242-4242-4242" }, "PG said 5555555555554444");
    const line = lines.join("");
    assert.doesNotMatch(line, /4111 1111 1111 1111|4242-4242-4242-4242|5555555555554444/);
    assert.match(line, /\[card …1111\]/);
    assert.match(line, /\[card …4444\]/);
  });

  it("leaves ordinary numbers alone", () => {
    assert.equal(maskCardNumbers("order 123456 paid 15000 KRW at 2026-11-29"), "order 123456 paid 15000 KRW at 2026-11-29");
  });

  it("never writes credentials: redacted paths and Secret values", () => {
    const { lines, stream } = capture();
    const logger = createLogger("info", stream);
    logger.info(
      { req: { headers: { authorization: "Bearer top-secret" } }, tenant: { secretKey: "sk_live_abc", apiKey: "k" }, key: new Secret("whsec_zzz") },
      "request",
    );
    const line = lines.join("");
    assert.doesNotMatch(line, /top-secret|sk_live_abc|whsec_zzz/);
  });

  it("masks card numbers inside logged error objects: message, stack and properties such as a driver's failing query", () => {
    const { lines, stream } = capture();
    const logger = createLogger("info", stream);
    const error = Object.assign(new Error("insert failed for 4111111111111111"), {
      query: "INSERT INTO payments VALUES ('5555 5555 5555 4444')",
      code: "22021",
    });
    logger.error({ err: error }, "unhandled error");
    logger.error(error);
    const line = lines.join("");
    assert.doesNotMatch(line, /4111111111111111|5555 5555 5555 4444/);
    assert.match(line, /\[card …1111\]/);
    assert.match(line, /\[card …4444\]/);
    assert.match(line, /22021/, "the error's other fields are kept");
  });
});
