/**
 * Every registered connector against its simulator, on each database: the battery's cases by name
 * (battery.ts), skipped by name where the PG's capabilities rule one out.
 */
import { after, before, describe } from "node:test";
import { migrate, type DatabaseHandle } from "../../../src/storage/database.ts";
import { testConnector } from "../../../src/connectors/test-pg/index.ts";
import { tossConnector } from "../../../src/connectors/toss/index.ts";
import { paypalConnector } from "../../../src/connectors/paypal/index.ts";
import { kakaoPayConnector } from "../../../src/connectors/kakaopay/index.ts";
import { backends, openTestDatabase } from "../../support/backends.ts";
import { battery, type ConformanceDriver } from "./battery.ts";
import { DECLARED, kakaoPayDriver, paypalDriver, stripeDriver, testPgDriver, tossDriver, WebhookReceiver } from "./drivers.ts";

for (const backend of backends()) {
  describe(`connector conformance on ${backend}`, () => {
    let db: DatabaseHandle;
    let receiver: WebhookReceiver;
    const drivers = new Map<string, ConformanceDriver & { close(): Promise<void> }>();

    before(async () => {
      db = await openTestDatabase(backend);
      await migrate(db.db, { ...testConnector.migrations, ...tossConnector.migrations, ...paypalConnector.migrations, ...kakaoPayConnector.migrations });
      receiver = await WebhookReceiver.start();
      drivers.set("TEST", await testPgDriver(db, receiver));
      drivers.set("STRIPE", await stripeDriver(receiver));
      drivers.set("TOSS", await tossDriver(db, receiver));
      drivers.set("PAYPAL", await paypalDriver(db, receiver));
      drivers.set("KAKAOPAY", await kakaoPayDriver(db));
    });

    after(async () => {
      for (const driver of drivers.values()) await driver.close();
      await receiver.close();
      await db.close();
    });

    for (const declared of Object.values(DECLARED)) {
      describe(declared.pg, () =>
        battery(
          declared,
          () => drivers.get(declared.pg)!,
          () => db.db,
        ),
      );
    }
  });
}
