/**
 * The built-in node types. The runner's registry reads this list; a pipeline names a type by its `type:` string.
 * Add a built-in by importing its module here, appending it to the default export and naming its file in
 * `builtinModules` (so editing that file changes the type's implementation hash and invalidates its cache entries).
 */
import type {NodeDefinition} from './api.js';

/** Every built-in node type. */
export default [] as NodeDefinition[];

/**
 * Built-in type name -> URL of the module that implements it (`new URL('./load-cifar.js', import.meta.url)`).
 * Types without an entry are hashed by this index file's source.
 */
export const builtinModules: Readonly<Record<string, URL>> = {};
