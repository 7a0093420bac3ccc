/**
 * The fake host the delivery and crash tests rely on: a PGB process killed while it sends a
 * notification must leave nothing recorded as delivered and must not take the host (or the test
 * file) down with it.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Webhook } from "standardwebhooks";
import { NOTIFY_SECRET } from "../support/pgb.ts";
import { FakeHost } from "./support.ts";

describe("the fake host", () => {
  const host = new FakeHost();
  before(() => host.up());
  after(() => host.down());

  it("records nothing from a sender that dies mid-body, and still takes the next notification", async () => {
    const url = new URL(host.url);
    const socket = connect(Number(url.port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"OrderId":`);
    await sleep(50);
    socket.destroy();
    await sleep(50);
    assert.equal(host.requests.length, 0);

    const body = JSON.stringify({ Type: "PAYMENT_COMPLETED", OrderId: 5 });
    const timestamp = new Date();
    const response = await fetch(host.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": "ntf_after_abort",
        "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
        "webhook-signature": new Webhook(NOTIFY_SECRET).sign("ntf_after_abort", timestamp, body),
      },
      body,
    });
    assert.equal(response.status, 204);
    assert.deepEqual(
      host.requests.map((r) => [r.id, r.orderId]),
      [["ntf_after_abort", 5]],
    );
  });
});
