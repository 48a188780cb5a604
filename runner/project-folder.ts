/** The project folder: where `run` and `worker` agree that custom node modules are found. */
import {dirname, resolve} from 'node:path';
import {findConfigFile} from './project-config.js';

/**
 * The project folder of a working directory: the folder of the `distillery.config.yaml` that applies there, else the
 * working directory itself. Jobs name custom modules relative to it, so a `run` and a `worker` started anywhere
 * inside their checkouts of one project agree.
 */
export function projectFolder(cwd: string): string {
  const config = findConfigFile(cwd);
  return config === undefined ? resolve(cwd) : dirname(config);
}
