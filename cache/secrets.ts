/**
 * Keeps credentials out of everything distillery writes. Credentials only ever come from the environment (the AWS
 * variables and profiles, DISTILLERY_HTTP_TOKEN, DISTILLERY_HTTP_USER/PASSWORD); remote URLs with a user, password or
 * query string are refused where they are read (remote-url.ts). As a second line of defence every message that comes
 * back from a remote passes through `redact`, which blanks the values of the secret variables wherever they appear.
 */

/** The environment variables whose values are secrets. */
export const SECRET_VARIABLES: readonly string[] = [
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_ACCESS_KEY_ID',
  'DISTILLERY_HTTP_TOKEN',
  'DISTILLERY_HTTP_PASSWORD',
];

/** Replaces every secret value found in `env` (and in this process's environment) with `***`. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const source of env === process.env ? [env] : [env, process.env]) {
    for (const name of SECRET_VARIABLES) {
      const value = source[name];
      // Very short values would blank ordinary words; no real credential is that short.
      if (value !== undefined && value.length >= 4) out = out.split(value).join('***');
    }
  }
  return out;
}
