/**
 * Every PG PGB can route to. Adding a PG: one folder under src/connectors/ and one line here.
 */
import type { ConnectorFactory } from "./connector.ts";
import { testConnector } from "./test/index.ts";

export const CONNECTOR_FACTORIES: readonly ConnectorFactory[] = [testConnector];
