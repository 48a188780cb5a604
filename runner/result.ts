/** Expected failures are values, not exceptions (defined in cache/result.ts, the room every other room may import). */
export type {Result} from '../cache/result.js';
export {fail, ok} from '../cache/result.js';
