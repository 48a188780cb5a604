/** Instance ids: `name`, `name[i]` for repeats, `name{T=1,alpha=0.3}` for grid variants, `name[i]{...}` for both. */
import type {JsonValue} from '../nodes/api.js';
import {canonicalJson} from './canonical-json.js';

/**
 * The id of one instance. Grid keys are sorted and values written as canonical JSON, so ids are stable and a
 * string value is quoted (`{opt="adam"}`) and never confused with a number.
 */
export function instanceId(name: string, index: number | undefined, grid: Readonly<Record<string, JsonValue>>): string {
  let id = index === undefined ? name : `${name}[${index}]`;
  const keys = Object.keys(grid).sort();
  if (keys.length > 0) {
    const parts = keys.map((k) => {
      const json = canonicalJson(grid[k]);
      return `${k}=${json.ok ? json.value : String(grid[k])}`;
    });
    id += `{${parts.join(',')}}`;
  }
  return id;
}
