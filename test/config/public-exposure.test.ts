/**
 * PGB refuses to start in public (a publicUrl that is not loopback) with the demo host, with any
 * secret of the example config, or with the TEST PG unless the tenant opts in, and says which setting.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { buildApp } from "../../src/app.ts";
import { ConfigError, parseFileConfig } from "../../src/config/config.ts";
import { EXAMPLE_SECRETS, isLoopbackUrl } from "../../src/config/public-exposure.ts";
import { openDatabase } from "../../src/storage/database.ts";

const tenant = {
  apiKeys: ["shop-key-0123456789"],
  notifyUrl: "https://shop.example.com/pg/notify",
  notifySecret: "whsec_c2hvcC1ub3RpZnktc2VjcmV0LTEyMzQ=",
  redirectOrigins: ["https://shop.example.com"],
  routes: [{ nationCode: "*", payType: "*", pg: "TEST" }],
  pgs: { TEST: { webhookSecret: "whsec_c2hvcC10ZXN0LXBnLXNlY3JldC0xMjM0NTY=" } },
};
const PUBLIC = "https://pgb.example.com";

describe("refusing to run in public with example settings", () => {
  it("knows loopback addresses from public ones", () => {
    for (const url of ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://127.9.9.9"]) assert.equal(isLoopbackUrl(url), true, url);
    for (const url of ["https://pgb.example.com", "http://10.0.0.5:8080", "http://0.0.0.0:8080", "http://127.0.0.1.nip.io", "http://localhost.evil.com"]) {
      assert.equal(isLoopbackUrl(url), false, url);
    }
  });

  it("refuses demoHost on a public URL, naming the setting; allows it on loopback", () => {
    assert.throws(
      () => parseFileConfig({ publicUrl: PUBLIC, demoHost: true, tenants: { SHOP: tenant } }, {}),
      (error: Error) => error instanceof ConfigError && /^config demoHost: /.test(error.message),
    );
    assert.equal(parseFileConfig({ publicUrl: "http://127.0.0.1:8080", demoHost: true, tenants: { SHOP: tenant } }, {}).demoHost, true);
  });

  it("refuses every secret of the example config on a public URL, naming where it is", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...tenant, apiKeys: ["mine-0123456789", "demo-api-key-change-me"] }, /: config tenants\.SHOP\.apiKeys\[1\]: this is the example config's secret/],
      [{ ...tenant, notifySecret: EXAMPLE_SECRETS[1] }, /: config tenants\.SHOP\.notifySecret: /],
      [{ ...tenant, pgs: { TEST: { webhookSecret: EXAMPLE_SECRETS[2] } } }, /: config tenants\.SHOP\.pgs\.TEST\.webhookSecret: /],
    ];
    for (const [shop, message] of cases) {
      assert.throws(() => parseFileConfig({ publicUrl: PUBLIC, tenants: { SHOP: shop } }, {}), message);
      assert.doesNotThrow(() => parseFileConfig({ publicUrl: "http://localhost:8080", tenants: { SHOP: shop } }, {}));
    }
  });

  it("lists exactly the secrets config/pgb.example.json falls back to", () => {
    const text = readFileSync("config/pgb.example.json", "utf8");
    const defaults = [...text.matchAll(/"(apiKeys|notifySecret|webhookSecret)":\s*\[?"\$\{[A-Z_]+:-([^}]+)\}"/g)].map((m) => m[2]);
    assert.deepEqual(defaults.sort(), [...EXAMPLE_SECRETS].sort());
  });

  it("refuses the TEST PG on a public URL unless the tenant sets pgs.TEST.allowPublicUrl", async () => {
    const database = await openDatabase({ kind: "pglite" });
    try {
      const refused = parseFileConfig({ publicUrl: PUBLIC, tenants: { SHOP: tenant } }, {});
      await assert.rejects(
        buildApp({ config: refused, database }),
        (error: Error) => error instanceof ConfigError && /^config tenants\.SHOP\.pgs\.TEST\.allowPublicUrl: /.test(error.message),
      );
      const optedIn = parseFileConfig({ publicUrl: PUBLIC, tenants: { SHOP: { ...tenant, pgs: { TEST: { ...tenant.pgs.TEST, allowPublicUrl: true } } } } }, {});
      const pgb = await buildApp({ config: optedIn, database });
      await pgb.app.close();
    } finally {
      await database.close();
    }
  });

  it("stops `npm start` with the example config on a public URL, exit code 2 and the setting named", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, PGB_PUBLIC_URL: PUBLIC, PORT: "0", PGB_DATA_DIR: "/nonexistent-never-created", PGB_CONFIG: "config/pgb.example.json" },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /PGB cannot start: config demoHost: /);
  });
});
