/** The notification signature PGB computes with node's crypto is the one standardwebhooks makes and verifies. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { standardWebhookSignature } from "../../src/workers/notification-sender.ts";

describe("notification signatures", () => {
  const secrets = ["whsec_YmVuY2gtbm90aWZ5LXNlY3JldC0xMjM0NTY=", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2VjcmV0LXdpdGgtKy9zbGFzaGVzLT8/Pz8+Pj4+"];
  const bodies = ['{"OrderId":1,"Type":"PAYMENT_COMPLETED"}', '{"OrderDescription":"한글 주문 – €5 ✓","OrderId":2}', ""];
  it("equals standardwebhooks' signature and verifies with it, for any secret and body (UTF-8 included)", () => {
    const timestamp = new Date();
    for (const secret of secrets) {
      const key = Buffer.from(secret.slice("whsec_".length), "base64");
      const library = new Webhook(secret);
      for (const body of bodies) {
        const signature = standardWebhookSignature(key, "ntf_01abc", timestamp, body);
        assert.equal(signature, library.sign("ntf_01abc", timestamp, body));
        const headers = { "webhook-id": "ntf_01abc", "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)), "webhook-signature": signature };
        assert.doesNotThrow(() => library.verify(body, headers, { jsonParse: false }));
        assert.notEqual(standardWebhookSignature(key, "ntf_01abd", timestamp, body), signature, "the id is signed");
      }
    }
  });
});
