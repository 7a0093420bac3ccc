/**
 * Every PG PGB can route to. Adding a PG: one folder under src/connectors/ and one line here.
 */
import type { ConnectorFactory } from "./factory.ts";
import { paypalConnector } from "./paypal/index.ts";
import { kakaoPayConnector } from "./kakaopay/index.ts";
import { stripeConnector } from "./stripe/index.ts";
import { testConnector } from "./test-pg/index.ts";
import { tossConnector } from "./toss/index.ts";

export const CONNECTOR_FACTORIES: readonly ConnectorFactory[] = [testConnector, stripeConnector, tossConnector, paypalConnector, kakaoPayConnector];
