/** The PayPal simulator's signing certificate is valid DER for any serial its random bytes give. */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { makeSigningIdentity, positiveInteger } from "./signing.ts";

describe("the PayPal simulator's signing certificate", () => {
  it("encodes serial numbers in DER's shortest form, so a random serial starting with a zero byte still parses", () => {
    assert.deepEqual([...positiveInteger(Buffer.from([0x00, 0x01, 0x02]))], [0x02, 0x02, 0x01, 0x02]);
    assert.deepEqual([...positiveInteger(Buffer.from([0x00, 0x00, 0x80]))], [0x02, 0x02, 0x00, 0x80]);
    assert.deepEqual([...positiveInteger(Buffer.from([0x80, 0x01]))], [0x02, 0x03, 0x00, 0x80, 0x01]);
    assert.deepEqual([...positiveInteger(Buffer.from([0x7f]))], [0x02, 0x01, 0x7f]);
    // One random serial in 512 starts like this one; OpenSSL refused such a certificate ("illegal padding").
    const serial = Buffer.from([0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33]);
    const certificate = new X509Certificate(makeSigningIdentity("messageverificationcerts.paypal.com", serial).certificatePem);
    assert.equal(certificate.serialNumber.toUpperCase(), "123456789ABCDEF0112233");
    assert.match(certificate.subject, /CN=messageverificationcerts\.paypal\.com/);
  });
});
