/**
 * .NET's JSON binding is case-insensitive, and the host relies on it (`DBType` vs `DbType`). This
 * maps whatever casing arrives onto the canonical property names before schema validation.
 */
export type Binding = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

/**
 * `aliases` maps each accepted spelling to its canonical name (ModifedTotalPrice → ModifiedTotalPrice).
 * Unknown properties are ignored, as .NET ignores them. Two spellings of one property with different
 * values are refused rather than guessed between.
 */
export function bindCaseInsensitive(body: unknown, canonical: readonly string[], aliases: Readonly<Record<string, string>> = {}): Binding {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return { ok: false, message: "the body must be a JSON object" };
  const lookup = new Map<string, string>();
  for (const name of canonical) lookup.set(name.toLowerCase(), name);
  for (const [alias, name] of Object.entries(aliases)) lookup.set(alias.toLowerCase(), name);
  const bound: Record<string, unknown> = {};
  const seenAs: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    const name = lookup.get(key.toLowerCase());
    if (name === undefined) continue;
    if (Object.hasOwn(bound, name) && JSON.stringify(bound[name]) !== JSON.stringify(value)) {
      return { ok: false, message: `${seenAs[name]} and ${key} both name ${name} with different values` };
    }
    bound[name] = value;
    seenAs[name] = key;
  }
  return { ok: true, value: bound };
}
