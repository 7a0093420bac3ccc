/** The PayPal simulator (test tree) as its own process for the benchmark: prints "ready <url>". */
import { PayPalSimulator } from "../test/simulators/paypal/simulator.ts";

const simulator = await PayPalSimulator.start({ clientId: "BENCHPAYPALCLIENT0001", clientSecret: "BENCHPAYPALSECRET0001" });
process.stdout.write(`ready ${simulator.url}\n`);
process.on("SIGTERM", () => process.exit(0));
