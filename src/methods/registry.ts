import type { LossDefinition, LossId, LossModule, ParamSpec } from '../losses/types';
import { LOSS_IDS } from '../losses/types';
import { ntxent } from '../losses/ntxent';
import { dcl } from '../losses/dcl';
import { dclw } from '../losses/dclw';
import { supcon } from '../losses/supcon';
import { mvInfonce } from '../losses/mv_infonce';
import { mvDhel } from '../losses/mv_dhel';
import { alignUniform } from '../losses/align_uniform';
import { barlowTwins } from '../losses/barlow_twins';
import { vicreg } from '../losses/vicreg';
import { cacr } from '../losses/cacr';
import { clip } from '../losses/clip';
import { mnr } from '../losses/mnr';
import { moco } from './moco';
import { byol } from './byol';
import { simsiam } from './simsiam';
import { swav } from './swav';
import { hydra } from './hydra';
import { amcl } from './amcl';

export * from '../losses/types';

type AnyDefinition = LossDefinition<Record<string, number>>;

export const LOSSES: Record<LossId, AnyDefinition> = {
  ntxent,
  dcl,
  dclw,
  supcon,
  mv_infonce: mvInfonce,
  mv_dhel: mvDhel,
  align_uniform: alignUniform,
  barlow_twins: barlowTwins,
  vicreg,
  cacr,
  clip,
  mnr,
  moco,
  byol,
  simsiam,
  swav,
  hydra,
  amcl,
} as unknown as Record<LossId, AnyDefinition>;

export function isLossId(id: string): id is LossId {
  return (LOSS_IDS as readonly string[]).includes(id);
}

export function lossDefinition(id: string): AnyDefinition {
  if (!isLossId(id)) throw new Error(`unknown loss '${id}'; valid ids: ${LOSS_IDS.join(', ')}`);
  return LOSSES[id];
}

/** Describes why `value` is outside `spec`, or returns null when it is valid. */
export function paramProblem(name: string, value: number, spec: ParamSpec): string | null {
  const range = `${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}]`;
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `${name} must be a finite number in ${range}, got ${String(value)}`;
  if (spec.integer && !Number.isInteger(value)) return `${name} must be an integer in ${range}, got ${value}`;
  const belowMin = spec.exclusiveMin ? value <= spec.min : value < spec.min;
  if (belowMin || value > spec.max) return `${name} must be in ${range}, got ${value}`;
  return null;
}

/** Fills defaults and validates every param; throws naming the loss, the param and the valid range. */
export function resolveLossParams(id: string, params: Record<string, unknown> = {}): Record<string, number> {
  const def = lossDefinition(id);
  const resolved: Record<string, number> = {};
  for (const name of Object.keys(params)) {
    if (!(name in def.params)) {
      throw new Error(
        `loss '${id}' has no parameter '${name}'; its parameters are: ${Object.keys(def.params).join(', ') || 'none'}`,
      );
    }
  }
  for (const [name, spec] of Object.entries(def.params)) {
    const value = name in params ? params[name] : spec.default;
    const problem = paramProblem(name, value as number, spec);
    if (problem) throw new Error(`loss '${id}': ${problem}`);
    resolved[name] = value as number;
  }
  return resolved;
}

/** createLoss(id, params?) as in losses.md: defaults from the table, clear errors for bad ids/params. */
export function createLoss(id: LossId | string, params: Record<string, unknown> = {}): LossModule {
  const resolved = resolveLossParams(id, params);
  return lossDefinition(id).create(resolved);
}
