import { lossInfo, resolveLossParams, type LossId } from '../losses/catalog';
import type { MethodModule } from './types';
import { createNtxent } from '../losses/ntxent';
import { createDcl } from '../losses/dcl';
import { createDclw } from '../losses/dclw';
import { createSupcon } from '../losses/supcon';
import { createMvInfonce } from '../losses/mv_infonce';
import { createMvDhel } from '../losses/mv_dhel';
import { createAlignUniform } from '../losses/align_uniform';
import { createBarlowTwins } from '../losses/barlow_twins';
import { createVicreg } from '../losses/vicreg';
import { createCacr } from '../losses/cacr';
import { createClip } from '../losses/clip';
import { createMnr } from '../losses/mnr';
import { createMoco } from './moco';
import { createByol } from './byol';
import { createSimsiam } from './simsiam';
import { createSwavModule } from './swav';
import { createHydra } from './hydra';
import { createAmclModule } from './amcl';
import { createBeclr } from './beclr';
import { createSepclr } from './sepclr';
import { createPixpro } from './pixpro';
import { createCmim } from './cmim';
import { createMcl } from './mcl';
import { createSupremix } from './supremix';
import { createM3col } from './m3col';

type Factory = (params: Record<string, number>) => MethodModule;

/**
 * Every loss id -> its factory: a pure loss (src/losses/) or a stateful method that owns networks or buffers
 * (this folder). Names, parameters and their ranges live in losses/catalog.ts.
 */
export const OBJECTIVES: Readonly<Record<LossId, { kind: 'loss' | 'method'; create: Factory }>> = {
  ntxent: { kind: 'loss', create: createNtxent as unknown as Factory },
  dcl: { kind: 'loss', create: createDcl as unknown as Factory },
  dclw: { kind: 'loss', create: createDclw as unknown as Factory },
  supcon: { kind: 'loss', create: createSupcon as unknown as Factory },
  mv_infonce: { kind: 'loss', create: createMvInfonce as unknown as Factory },
  mv_dhel: { kind: 'loss', create: createMvDhel as unknown as Factory },
  align_uniform: { kind: 'loss', create: createAlignUniform as unknown as Factory },
  barlow_twins: { kind: 'loss', create: createBarlowTwins as unknown as Factory },
  vicreg: { kind: 'loss', create: createVicreg as unknown as Factory },
  cacr: { kind: 'loss', create: createCacr as unknown as Factory },
  clip: { kind: 'loss', create: createClip as unknown as Factory },
  mnr: { kind: 'loss', create: createMnr as unknown as Factory },
  moco: { kind: 'method', create: createMoco as unknown as Factory },
  byol: { kind: 'method', create: createByol as unknown as Factory },
  simsiam: { kind: 'method', create: createSimsiam as unknown as Factory },
  swav: { kind: 'method', create: createSwavModule as unknown as Factory },
  hydra: { kind: 'method', create: createHydra as unknown as Factory },
  amcl: { kind: 'method', create: createAmclModule as unknown as Factory },
  beclr: { kind: 'method', create: createBeclr as unknown as Factory },
  sepclr: { kind: 'method', create: createSepclr as unknown as Factory },
  pixpro: { kind: 'method', create: createPixpro as unknown as Factory },
  cmim: { kind: 'method', create: createCmim as unknown as Factory },
  mcl: { kind: 'method', create: createMcl as unknown as Factory },
  supremix: { kind: 'method', create: createSupremix as unknown as Factory },
  m3col: { kind: 'method', create: createM3col as unknown as Factory },
};

/** createLoss(id, params?): defaults from the catalogue, clear errors for bad ids and params (docs/losses.md). */
export function createLoss(id: LossId | string, params: Record<string, unknown> = {}): MethodModule {
  const resolved = resolveLossParams(id, params);
  return OBJECTIVES[lossInfo(id).id].create(resolved);
}
