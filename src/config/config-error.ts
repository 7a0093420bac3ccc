/** A configuration PGB refuses to start with; the message names the setting and says why. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
