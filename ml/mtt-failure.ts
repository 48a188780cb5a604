/**
 * The expected ways a distillation run stops early, as a discriminated union on `reason`, plus the sentence a user
 * reads. Divergence (NaN pixels, a student learning rate driven through zero) is what users of the reference code hit
 * most (mtt-distillation issues #6, #16, #20, #42), so those messages name the iteration and the knob to turn.
 */

/** The matching loss was NaN or infinite at `iteration` (before that iteration's update). */
export interface NonFiniteLoss {
  readonly reason: 'non-finite-loss';
  readonly iteration: number;
  readonly loss: number;
}

/** The synthetic images held NaN or infinite values after the update of `iteration`. */
export interface NonFiniteImages {
  readonly reason: 'non-finite-images';
  readonly iteration: number;
}

/** The learnable student learning rate became <= 0 (or non-finite) after the update of `iteration`. */
export interface NonPositiveLr {
  readonly reason: 'non-positive-lr';
  readonly iteration: number;
  readonly synLr: number;
}

/** The options were inconsistent; nothing was computed. */
export interface InvalidOptions {
  readonly reason: 'invalid-options';
  readonly problems: readonly string[];
}

/** The AbortSignal fired; `iteration` updates were completed. */
export interface Aborted {
  readonly reason: 'aborted';
  readonly iteration: number;
}

/** Why {@link distill} stopped without a result. */
export type MttFailure = NonFiniteLoss | NonFiniteImages | NonPositiveLr | InvalidOptions | Aborted;

/** A one-paragraph explanation of `failure` with the fix to try. */
export function describeMttFailure(failure: MttFailure): string {
  switch (failure.reason) {
    case 'non-finite-loss':
      return (
        `distill: the matching loss became ${failure.loss} at iteration ${failure.iteration}: the synthetic images or ` +
        `the student learning rate diverged. Lower lrImg (pixels) and/or lrLr (learning rate), e.g. by 10x.`
      );
    case 'non-finite-images':
      return (
        `distill: the synthetic images contain NaN or Infinity after iteration ${failure.iteration}. ` +
        `Lower lrImg (e.g. by 10x); a smaller lrLr or fewer synSteps can also help.`
      );
    case 'non-positive-lr':
      return (
        `distill: the learned student learning rate syn_lr went to ${failure.synLr} (<= 0) after iteration ` +
        `${failure.iteration}. Lower lrLr (e.g. by 10x) or lrImg; a larger lrTeacher (initial syn_lr) also helps.`
      );
    case 'invalid-options':
      return `distill: invalid options:\n${failure.problems.map((p) => `  - ${p}`).join('\n')}`;
    case 'aborted':
      return `distill: aborted after ${failure.iteration} iterations`;
    default: {
      const never: never = failure;
      throw new Error(`Internal error: unknown MTT failure ${JSON.stringify(never)}`);
    }
  }
}

/** An Error carrying an {@link MttFailure}, for callers that prefer to throw (e.g. a node adapter). */
export class MttError extends Error {
  readonly failure: MttFailure;

  constructor(failure: MttFailure) {
    super(describeMttFailure(failure));
    this.name = 'MttError';
    this.failure = failure;
  }
}
