/**
 * The `trainLimit` / `testLimit` params of the loader nodes: a quick run on a subset must keep the classes balanced
 * (a prefix of the file need not be), so a limit becomes floor(limit / classes) random images per class.
 * The subset itself is drawn by limitSplit (limit-split.ts), which only the loaders' run files import.
 */

/** The JSON Schema properties of the loaders' subset params. */
export const LIMIT_PARAMS = {
  trainLimit: {
    type: 'integer',
    minimum: 1,
    description: 'Keep about this many training images (floor(trainLimit / classes) per class, drawn with subsetSeed).',
  },
  testLimit: {
    type: 'integer',
    minimum: 1,
    description: 'Keep about this many test images (stratified like trainLimit).',
  },
  subsetSeed: {type: 'integer', default: 0, description: 'Seed of the stratified subsets.'},
} as const;
