import * as tf from '@tensorflow/tfjs';
import { adamStep } from '../kernels/ops';
import type { OptimizerConfig, ScheduleConfig } from './config';

/**
 * Optimizers with explicit, checkpointable state. Weight decay (and LARS trust scaling) apply only to
 * weight matrices / kernels (rank >= 2); biases and BatchNorm parameters are excluded, as in SimCLR.
 *
 * - sgd:   g' = g + wd w;  v = mu v + g';  w -= lr v                       (PyTorch SGD with momentum)
 * - adam:  g' = g + wd w;  Adam moments with bias correction;  w -= lr m^ / (sqrt(v^) + eps)
 * - adamw: Adam on g, plus decoupled decay w -= lr wd w                     (Loshchilov & Hutter 2019)
 * - lars:  g' = g + wd w;  trust = eta ||w|| / ||g'||;  v = mu v + lr trust g';  w -= v   (You et al. 2017)
 */
export interface Optimizer {
  readonly type: OptimizerConfig['type'];
  /** One update of every variable with its gradient at learning rate lr. */
  apply(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void;
  /** Slot tensors by stable name (`m/3` = first moment of variable 3) plus the step count. */
  getState(): { step: number; slots: Record<string, tf.Tensor> };
  setState(state: { step: number; slots: Record<string, tf.Tensor> }): void;
  dispose(): void;
}

const decays = (v: tf.Variable): boolean => v.rank >= 2;

export function createOptimizer(config: OptimizerConfig): Optimizer {
  const slots = new Map<string, tf.Variable>();
  let step = 0;
  const slot = (name: string, like: tf.Tensor): tf.Variable => {
    let s = slots.get(name);
    if (!s) {
      s = tf.variable(tf.zerosLike(like), false);
      slots.set(name, s);
    }
    return s;
  };

  return {
    type: config.type,
    apply(variables, gradients, lr) {
      step += 1;
      const { momentum, weightDecay: wd, beta1, beta2, eps } = config;
      tf.tidy(() => {
        variables.forEach((w, i) => {
          const g = gradients[i];
          if (!g) return;
          const withDecay = decays(w) && wd > 0;
          switch (config.type) {
            case 'sgd': {
              const gd = withDecay ? tf.add(g, tf.mul(w, wd)) : g;
              const v = slot(`v/${i}`, w);
              v.assign(tf.add(tf.mul(v, momentum), gd));
              w.assign(tf.sub(w, tf.mul(v, lr)));
              break;
            }
            case 'adam':
            case 'adamw': {
              const m = slot(`m/${i}`, w);
              const v = slot(`v/${i}`, w);
              const [mNext, vNext, next] = adamStep(w, g, m, v, {
                l2: config.type === 'adam' && withDecay ? wd : 0,
                beta1,
                beta2,
                c1: 1 - beta1 ** step,
                c2: 1 - beta2 ** step,
                lr,
                eps,
                decay: config.type === 'adamw' && withDecay ? lr * wd : 0,
              });
              m.assign(mNext);
              v.assign(vNext);
              w.assign(next);
              break;
            }
            case 'lars': {
              const adapt = decays(w);
              const gd = withDecay ? tf.add(g, tf.mul(w, wd)) : g;
              let scaledLr: tf.Tensor = tf.scalar(lr);
              if (adapt) {
                const wNorm = tf.norm(w);
                const gNorm = tf.norm(gd);
                const trust = tf.where(
                  tf.logicalAnd(tf.greater(wNorm, 0), tf.greater(gNorm, 0)),
                  tf.div(tf.mul(wNorm, config.trustCoefficient), gNorm),
                  tf.onesLike(wNorm),
                );
                scaledLr = tf.mul(trust, lr);
              }
              const v = slot(`v/${i}`, w);
              v.assign(tf.add(tf.mul(v, momentum), tf.mul(gd, scaledLr)));
              w.assign(tf.sub(w, v));
              break;
            }
          }
        });
      });
    },
    getState() {
      return { step, slots: Object.fromEntries(slots) };
    },
    setState(state) {
      step = state.step;
      for (const [name, value] of Object.entries(state.slots)) {
        const existing = slots.get(name);
        if (existing) existing.assign(value);
        else slots.set(name, tf.variable(value, false));
      }
    },
    dispose() {
      slots.forEach((s) => s.dispose());
      slots.clear();
    },
  };
}

/**
 * Learning rate at optimizer step `step` (0-based): linear warm-up from lr / warmupSteps to lr over the
 * warm-up steps, then cosine decay to lr * minLrFactor at the last step (or constant).
 */
export function learningRate(
  baseLr: number,
  schedule: ScheduleConfig,
  step: number,
  totalSteps: number,
  stepsPerEpoch: number,
): number {
  const warmupSteps = Math.round(schedule.warmupEpochs * stepsPerEpoch);
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  if (schedule.type === 'constant') return baseLr;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  const minLr = baseLr * schedule.minLrFactor;
  return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
}
