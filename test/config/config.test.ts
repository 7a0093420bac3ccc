import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, it } from "node:test";
import { ConfigError, defaultPublicUrl, interpolateEnv, loadConfig, parseFileConfig } from "../../src/config/config.ts";
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
    assert.throws(
      () => parseFileConfig({ publicUrl: "http://x", tenants: { SHOP: tenant } }, {}),
      /tenants\.SHOP\.apiKeys\[0\]: environment variable SHOP_KEY is not set/,
    );
  });

  it("names the bad field when validation fails", () => {
    const bad = { publicUrl: "http://x", tenants: { SHOP: { ...tenant, notifySecret: "plain-text" } } };
    assert.throws(
      () => parseFileConfig(bad, { SHOP_KEY: "k" }),
      (e: Error) => e instanceof ConfigError && /tenants\.SHOP\.notifySecret/.test(e.message),
    );
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
    const bound = bindCaseInsensitive({ dbtype: "A", MODIFEDTOTALPRICE: "1", extra: 1 }, ["DBType", "ModifiedTotalPrice"], {
      ModifedTotalPrice: "ModifiedTotalPrice",
    });
    assert.deepEqual(bound, { ok: true, value: { DBType: "A", ModifiedTotalPrice: "1" } });
  });

  it("refuses two spellings of one property that disagree, and accepts them when they agree", () => {
    assert.equal(bindCaseInsensitive({ DBType: "A", DbType: "B" }, ["DBType"]).ok, false);
    assert.equal(bindCaseInsensitive({ DBType: "A", DbType: "A" }, ["DBType"]).ok, true);
  });
});

describe("publicUrl's default", () => {
  const example = { PGB_CONFIG: "config/pgb.example.json" };
  it("follows HOST and PORT, so the demo links to the port PGB listens on", () => {
    const config = loadConfig({ ...example, PORT: "18181" });
    assert.equal(config.publicUrl, "http://127.0.0.1:18181");
    assert.equal(config.tenants.DEMO!.notifyUrl, "http://127.0.0.1:18181/demo/notify");
    assert.deepEqual(config.tenants.DEMO!.redirectOrigins, ["http://127.0.0.1:18181", "http://localhost:18181"]);
    // (The example config itself refuses a non-loopback address: it carries example secrets.)
    assert.equal(defaultPublicUrl("192.168.1.5", 9000), "http://192.168.1.5:9000");
    assert.equal(defaultPublicUrl("::1", 9000), "http://[::1]:9000");
    assert.equal(loadConfig({ ...example, PORT: "18181", PGB_PUBLIC_URL: "http://localhost:9999" }).publicUrl, "http://localhost:9999");
  });

  it("is not guessed for a wildcard bind address: PGB_PUBLIC_URL must say it", () => {
    assert.throws(() => loadConfig({ ...example, HOST: "0.0.0.0" }), /publicUrl: environment variable PGB_PUBLIC_URL is not set/);
  });

  it("the production example reads every secret from the environment", () => {
    const env: Record<string, string> = {
      PGB_CONFIG: "config/pgb.production.example.json",
      HOST: "0.0.0.0", // as in the container
      PGB_PUBLIC_URL: "https://pgb.example.com",
      SHOP_API_KEY: "k-1",
      SHOP_NOTIFY_URL: "https://shop.example.com/pg/notify",
      SHOP_NOTIFY_SECRET: "whsec_c2hvcC1ub3RpZnktc2VjcmV0LTEyMzQ=",
      SHOP_ORIGIN: "https://shop.example.com",
      SHOP_STRIPE_SECRET_KEY: "sk_live_abc123",
      SHOP_STRIPE_WEBHOOK_SECRET: "whsec_abc123",
      SHOP_TOSS_SECRET_KEY: "live_sk_abc123",
      SHOP_TOSS_CLIENT_KEY: "live_ck_abc123",
    };
    assert.equal(loadConfig(env).publicUrl, "https://pgb.example.com");
    for (const name of Object.keys(env).filter((n) => n !== "PGB_CONFIG" && n !== "HOST")) {
      const { [name]: _dropped, ...without } = env;
      assert.throws(() => loadConfig(without), new RegExp(`environment variable ${name} is not set`), name);
    }
  });
});
