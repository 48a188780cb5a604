/**
 * Random hex digits for names that only must not collide: temp files and folders, lock and lease names, lock owner
 * tokens, run ids. From `Math.random`, which V8 seeds afresh in every process: nothing here is a secret, and loading
 * node:crypto would cost every command, a fully cached run included, several milliseconds.
 */

/** `bytes` random bytes as 2 x `bytes` lowercase hex digits. */
export function randomHex(bytes: number): string {
  let text = '';
  for (let i = 0; i < bytes; i++) text += Math.floor(Math.random() * 256).toString(16).padStart(2, '0');
  return text;
}
