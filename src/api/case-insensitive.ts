/**
 * .NET's JSON binding is case-insensitive, and the host relies on it (`DBType` vs `DbType`). This
 * maps whatever casing arrives onto the canonical property names before schema validation.
 */

/** No other spellings: the default, one object so that its lookup is made once. */
export const NO_ALIASES: Readonly<Record<string, string>> = Object.freeze({});

export type Binding = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

/**
 * `aliases` maps each accepted spelling to its canonical name (ModifedTotalPrice → ModifiedTotalPrice).
 * Unknown properties are ignored, as .NET ignores them. Two spellings of one property with different
 * values are refused rather than guessed between.
 */
export function bindCaseInsensitive(body: unknown, canonical: readonly string[], aliases: Readonly<Record<string, string>> = NO_ALIASES): Binding {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return { ok: false, message: "the body must be a JSON object" };
  const lookup = lookupOf(canonical, aliases);
  const bound: Record<string, unknown> = {};
  const seenAs: Record<string, string> = {};
  for (const key in body) {
    if (!Object.hasOwn(body, key)) continue;
    const value = (body as Record<string, unknown>)[key];
    // The host's own spelling is found as it is; another casing is lower-cased first.
    const name = lookup.get(key) ?? lookup.get(key.toLowerCase());
    if (name === undefined) continue;
    if (Object.hasOwn(bound, name) && JSON.stringify(bound[name]) !== JSON.stringify(value)) {
      return { ok: false, message: `${seenAs[name]} and ${key} both name ${name} with different values` };
    }
    bound[name] = value;
    seenAs[name] = key;
  }
  return { ok: true, value: bound };
}

// Every request binds with one of a few constant field lists: their lookups are made once.
const lookups = new WeakMap<readonly string[], WeakMap<Readonly<Record<string, string>>, Map<string, string>>>();

function lookupOf(canonical: readonly string[], aliases: Readonly<Record<string, string>>): Map<string, string> {
  let byAliases = lookups.get(canonical);
  if (byAliases === undefined) lookups.set(canonical, (byAliases = new WeakMap()));
  let lookup = byAliases.get(aliases);
  if (lookup === undefined) {
    lookup = new Map();
    for (const name of canonical) lookup.set(name.toLowerCase(), name).set(name, name);
    for (const [alias, name] of Object.entries(aliases)) lookup.set(alias.toLowerCase(), name).set(alias, name);
    byAliases.set(aliases, lookup);
  }
  return lookup;
}
