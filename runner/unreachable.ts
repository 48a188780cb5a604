/** The exhaustiveness helper lives in cache/ (which imports no other room); the runner uses the same one. */
export {unreachable} from '../cache/unreachable.js';
