/**
 * Secrets never reach output (SPEC guarantee 9). URLs are printed without their
 * password, and every line pgkeel prints passes through a redactor that knows the
 * run's secrets, in case a driver or server echoes one back.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    for (const key of [...u.searchParams.keys()]) {
      if (/pass|secret|key|token/i.test(key) && !/^ssl(root)?cert$/i.test(key)) u.searchParams.set(key, "***");
    }
    return u.toString();
  } catch {
    // Not a URL we can parse: hide anything between "://user:" and "@".
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
  }
}

/** The secrets a URL holds, in every spelling they may be printed in. */
export function secretsOf(url: string | undefined): string[] {
  if (!url) return [];
  const found = new Set<string>();
  try {
    const u = new URL(url);
    for (const s of [u.password, ...[...u.searchParams].filter(([k]) => /pass|secret|key|token/i.test(k)).map(([, v]) => v)]) {
      if (!s) continue;
      found.add(s);
      try {
        found.add(decodeURIComponent(s));
      } catch {
        // keep the raw form only
      }
    }
  } catch {
    const m = /\/\/[^:/@]*:([^@]*)@/.exec(url);
    if (m?.[1]) found.add(m[1]);
  }
  return [...found].filter((s) => s.length > 0);
}

export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("***");
  return out;
}
