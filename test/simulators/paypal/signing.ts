/**
 * How PayPal signs a webhook, for the simulator: an RSA key and a self-signed X.509 certificate
 * (node:crypto parses certificates but cannot make one, so the few DER structures are built here),
 * and PayPal's signed message `<transmission id>|<transmission time>|<webhook id>|<crc32 of body>`,
 * signed SHA256withRSA and sent base64 in PAYPAL-TRANSMISSION-SIG.
 */
import { createSign, createVerify, generateKeyPairSync, type KeyObject, randomBytes, X509Certificate } from "node:crypto";
import { crc32 } from "node:zlib";

/** The text PayPal signs: the CRC32 of the exact raw body, as an unsigned decimal. */
export function paypalSignedMessage(transmissionId: string, transmissionTime: string, webhookId: string, rawBody: string | Buffer): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(rawBody) >>> 0}`;
}

export function signMessage(message: string, privateKey: KeyObject): string {
  return createSign("RSA-SHA256").update(message, "utf8").sign(privateKey, "base64");
}

export function verifyMessage(message: string, signatureBase64: string, certificatePem: string): boolean {
  return createVerify("RSA-SHA256").update(message, "utf8").verify(new X509Certificate(certificatePem).publicKey, signatureBase64, "base64");
}

// --- minimal DER ---------------------------------------------------------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), length(body.length), body]);
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, "utf8"));
const bitString = (body: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), body]));
const explicit = (n: number, body: Buffer): Buffer => tlv(0xa0 + n, body);

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = part >> 7; v > 0; v >>= 7) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A DER INTEGER from unsigned big-endian bytes, in its shortest form (OpenSSL refuses a needless leading zero). */
export function positiveInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  return tlv(0x02, body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function time(date: Date): Buffer {
  // UTCTime up to 2049, GeneralizedTime after, as RFC 5280 requires.
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const SHA256_WITH_RSA = seq(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00]));

function name(commonName: string): Buffer {
  return seq(set(seq(oid("2.5.4.10"), utf8("PayPal, Inc."))), set(seq(oid("2.5.4.3"), utf8(commonName))));
}

export interface SigningIdentity {
  privateKey: KeyObject;
  certificatePem: string;
}

/** A fresh RSA-2048 key and a self-signed certificate for it, valid from a day ago for ten years. */
export function makeSigningIdentity(commonName = "messageverificationcerts.paypal.com", serial: Buffer = randomBytes(12)): SigningIdentity {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const notBefore = new Date(Date.now() - 86_400_000);
  const notAfter = new Date(notBefore.getTime() + 10 * 365 * 86_400_000);
  const subject = name(commonName);
  const tbs = seq(
    explicit(0, tlv(0x02, Buffer.from([2]))), // v3
    positiveInteger(serial),
    SHA256_WITH_RSA,
    subject,
    seq(time(notBefore), time(notAfter)),
    subject,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = createSign("RSA-SHA256").update(tbs).sign(privateKey);
  const der = seq(tbs, SHA256_WITH_RSA, bitString(signature));
  const base64 = der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return { privateKey, certificatePem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n` };
}
