/** `pgb notifications replay`: DEAD notifications back to PENDING, as POST /PGB/Notifications/Replay does. */
import type { Command } from "commander";
import { notificationStatus, replayNotifications } from "../storage/notification-repository.ts";
import { CliError, configFor, databaseFor, EXIT, globalOptions, positiveInt, print } from "./context.ts";

export function registerNotificationCommands(program: Command): void {
  const group = program.command("notifications").description("notifications to the host");
  group
    .command("replay")
    .description("send DEAD notifications again with a fresh attempt budget (a running PGB delivers them)")
    .argument("<DBType>", "the tenant")
    .option("--id <NotificationId>", "one notification (msg_…)")
    .option("--order <OrderId>", "every DEAD notification of the order", positiveInt("--order"))
    .action(async (dbType: string, flags: { id?: string; order?: number }, command: Command) => {
      const options = globalOptions(command);
      if ((flags.id === undefined) === (flags.order === undefined)) throw new CliError("give either --id <NotificationId> or --order <OrderId>", EXIT.USAGE);
      if (flags.id !== undefined && !/^msg_[0-9a-z]{1,64}$/.test(flags.id))
        throw new CliError(`--id must be a notification id (msg_…), not "${flags.id}"`, EXIT.USAGE);
      const config = configFor(options);
      const database = await databaseFor(config);
      try {
        const db = database.db;
        const replayed = await replayNotifications(db, dbType, flags.id !== undefined ? { id: flags.id } : { orderId: flags.order! });
        if (replayed.length === 0 && flags.id !== undefined) {
          if ((await notificationStatus(db, dbType, flags.id)) === undefined) throw new CliError(`no notification ${flags.id} for DBType ${dbType}`);
        }
        print(options, { replayed }, () => (replayed.length === 0 ? "nothing DEAD to replay" : `replayed ${replayed.join(", ")}`));
      } finally {
        await database.close();
      }
    });
}
