import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currencyForNation, SUPPORTED_NATIONS } from "../../src/core/currency.ts";
import { formatMinor, MAX_MINOR_UNITS, parseMoney } from "../../src/core/money.ts";

describe("money parsing", () => {
  it("reads whole-unit currencies as their own minor units", () => {
    assert.deepEqual(parseMoney("10000", "KRW"), { ok: true, value: { minor: 10000n, currency: "KRW" } });
    assert.deepEqual(parseMoney("500", "JPY"), { ok: true, value: { minor: 500n, currency: "JPY" } });
  });

  it("reads two-decimal currencies into cents exactly, including values floats get wrong", () => {
    for (const [text, minor] of [
      ["19.99", 1999n],
      ["0.1", 10n],
      ["0.29", 29n],
      ["1.005".slice(0, 4), 100n],
      ["1234567.89", 123456789n],
      ["0.01", 1n],
      ["7", 700n],
    ] as const) {
      const parsed = parseMoney(text, "USD");
      assert.ok(parsed.ok, text);
      assert.equal(parsed.value.minor, minor, text);
    }
  });

  it("refuses more decimals than the currency has instead of rounding", () => {
    for (const [text, currency] of [
      ["19.999", "USD"],
      ["10.5", "KRW"],
      ["100.0", "KRW"],
      ["1.000", "EUR"],
    ] as const) {
      const parsed = parseMoney(text, currency);
      assert.ok(!parsed.ok && parsed.error.kind === "precision", `${text} ${currency}`);
    }
  });

  it("refuses anything that is not a plain non-negative decimal", () => {
    for (const text of ["", "-1", "+1", "1e3", "0x10", " 1", "1 ", "1,000", "01", ".5", "5.", "NaN", "Infinity", "１２"]) {
      const parsed = parseMoney(text, "USD");
      assert.ok(!parsed.ok && parsed.error.kind === "format", JSON.stringify(text));
    }
  });

  it("refuses amounts beyond the maximum", () => {
    assert.ok(!parseMoney("99999999999999999999", "KRW").ok);
    assert.ok(parseMoney(MAX_MINOR_UNITS.toString(), "KRW").ok);
    assert.ok(!parseMoney((MAX_MINOR_UNITS + 1n).toString(), "KRW").ok);
  });

  it("prints minor units back to the host's decimal strings", () => {
    assert.equal(formatMinor(1999n, "USD"), "19.99");
    assert.equal(formatMinor(5n, "USD"), "0.05");
    assert.equal(formatMinor(0n, "EUR"), "0.00");
    assert.equal(formatMinor(15000n, "KRW"), "15000");
  });

  it("round-trips every cent value from 0.00 to 100.00 without drift", () => {
    for (let cents = 0n; cents <= 10000n; cents++) {
      const text = formatMinor(cents, "USD");
      const parsed = parseMoney(text, "USD");
      assert.ok(parsed.ok && parsed.value.minor === cents, text);
    }
  });
});

describe("nation to currency", () => {
  it("maps the nations PGB sells in", () => {
    assert.equal(currencyForNation("KR"), "KRW");
    assert.equal(currencyForNation("jp"), "JPY");
    assert.equal(currencyForNation("US"), "USD");
    assert.equal(currencyForNation("GB"), "GBP");
    assert.equal(currencyForNation("DE"), "EUR");
    assert.equal(currencyForNation("FR"), "EUR");
    assert.equal(currencyForNation("SG"), "SGD");
    assert.equal(currencyForNation("TW"), "TWD");
    assert.equal(currencyForNation("VN"), "VND");
    assert.equal(currencyForNation("TH"), "THB");
    assert.equal(currencyForNation("BG"), "EUR");
    assert.equal(currencyForNation("PL"), "PLN");
    assert.equal(currencyForNation("SE"), "SEK");
    assert.equal(currencyForNation("ZZ"), undefined);
    // All 27 EU members plus KR, JP, US, GB, SG, TW, VN, TH.
    assert.equal(SUPPORTED_NATIONS.length, 35);
  });
});
