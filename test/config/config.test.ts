import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, it } from "node:test";
import { ConfigError, interpolateEnv, loadConfig, parseFileConfig } from "../../src/config/config.ts";
import { bindCaseInsensitive } from "../../src/api/case-insensitive.ts";

const tenant = {
  apiKeys: ["${SHOP_KEY}"],
  notifyUrl: "https://shop.example.com/pg/notify",
  notifySecret: "whsec_c2hvcC1ub3RpZnktc2VjcmV0LTEyMzQ=",
  redirectOrigins: ["https://shop.example.com"],
  routes: [{ nationCode: "*", payType: "*", pg: "TEST" }],
  pgs: { TEST: { webhookSecret: "whsec_dGVzdC1wZy1zZWNyZXQtMTIzNDU2Nzg5MA==" } },
};

describe("configuration", () => {
  it("fills ${VAR} and ${VAR:-default} from the environment", () => {
    assert.deepEqual(interpolateEnv({ a: "${X}", b: ["${Y:-dflt}"], c: "k=${X}!" }, { X: "1" }), { a: "1", b: ["dflt"], c: "k=1!" });
  });

  it("names the environment variable that is missing", () => {
    assert.throws(() => parseFileConfig({ publicUrl: "http://x", tenants: { SHOP: tenant } }, {}), /tenants\.SHOP\.apiKeys\[0\]: environment variable SHOP_KEY is not set/);
  });

  it("names the bad field when validation fails", () => {
    const bad = { publicUrl: "http://x", tenants: { SHOP: { ...tenant, notifySecret: "plain-text" } } };
    assert.throws(() => parseFileConfig(bad, { SHOP_KEY: "k" }), (e: Error) => e instanceof ConfigError && /tenants\.SHOP\.notifySecret/.test(e.message));
    const badRoute = { publicUrl: "http://x", tenants: { SHOP: { ...tenant, routes: [{ nationCode: "*", payType: "*", pg: "STRIPE" }] } } };
    assert.throws(() => parseFileConfig(badRoute, { SHOP_KEY: "k" }), /tenants\.SHOP\.routes\[0\]\.pg: "STRIPE" has no entry/);
    const badOrigin = { publicUrl: "http://x", tenants: { SHOP: { ...tenant, redirectOrigins: ["https://shop.example.com/path"] } } };
    assert.throws(() => parseFileConfig(badOrigin, { SHOP_KEY: "k" }), /tenants\.SHOP\.redirectOrigins\.0/);
  });

  it("refuses one API key shared by two tenants", () => {
    assert.throws(() => parseFileConfig({ publicUrl: "http://x", tenants: { A: tenant, B: tenant } }, { SHOP_KEY: "k" }), /shared with tenant A/);
  });

  it("never prints a secret, in JSON or in inspect output", () => {
    const config = parseFileConfig({ publicUrl: "http://x", tenants: { SHOP: tenant } }, { SHOP_KEY: "super-secret-key" });
    assert.doesNotMatch(JSON.stringify(config), /super-secret-key|c2hvcC1ub3RpZnk/);
    assert.doesNotMatch(inspect(config, { depth: 10 }), /super-secret-key|c2hvcC1ub3RpZnk/);
    assert.equal(config.tenants.SHOP!.apiKeys[0]!.reveal(), "super-secret-key");
  });

  it("loads the committed example config with no environment at all", () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.databaseUrl, undefined);
    assert.ok(config.tenants.DEMO);
  });

  it("reports an unreadable config file and a bad PORT clearly", () => {
    assert.throws(() => loadConfig({ PGB_CONFIG: "/nonexistent/pgb.json" }), /cannot read config \/nonexistent\/pgb\.json/);
    const dir = mkdtempSync(join(tmpdir(), "pgb-config-"));
    writeFileSync(join(dir, "c.json"), "{ not json");
    assert.throws(() => loadConfig({ PGB_CONFIG: join(dir, "c.json") }), /cannot read config/);
    assert.throws(() => loadConfig({ PORT: "http" }), /PORT: "http" is not a port number/);
  });
});

describe("case-insensitive binding", () => {
  it("maps any casing and the aliases onto canonical names and ignores unknown properties", () => {
    const bound = bindCaseInsensitive({ dbtype: "A", MODIFEDTOTALPRICE: "1", extra: 1 }, ["DBType", "ModifiedTotalPrice"], { ModifedTotalPrice: "ModifiedTotalPrice" });
    assert.deepEqual(bound, { ok: true, value: { DBType: "A", ModifiedTotalPrice: "1" } });
  });

  it("refuses two spellings of one property that disagree, and accepts them when they agree", () => {
    assert.equal(bindCaseInsensitive({ DBType: "A", DbType: "B" }, ["DBType"]).ok, false);
    assert.equal(bindCaseInsensitive({ DBType: "A", DbType: "A" }, ["DBType"]).ok, true);
  });
});
