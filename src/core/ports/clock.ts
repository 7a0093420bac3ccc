/**
 * The one way PGB reads the current time. Every layer gets it injected (CoreDeps, ConnectorDeps,
 * the workers' and the console's deps); src/app.ts builds one, `systemClock`, and tests may hand in
 * their own. Reading the time anywhere else (`Date.now`, a `Date` built with no argument) is refused
 * by the lint (eslint.config.js). Turning a stored or received value into a Date (`new Date(row.at)`)
 * is parsing, not reading the clock, and stays where it is.
 */
export interface Clock {
  /** The current time. */
  now(): Date;
  /** The current time in milliseconds since the epoch. */
  nowMs(): number;
}
