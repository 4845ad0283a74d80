import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
await initBackend({ preferred: 'wasm', environment: 'node' });
function med(name: string, f: () => tf.Tensor) {
  const ts: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now(); const out = f(); out.dataSync(); ts.push(performance.now() - t0); out.dispose();
  }
  ts.sort((a, b) => a - b);
  console.log(name.padEnd(40), ts[3].toFixed(1), 'ms');
}
for (const [N, H, C, O, s] of [[128, 32, 32, 32, 1], [128, 16, 64, 64, 1], [128, 8, 128, 128, 1]] as const) {
  console.log(`--- N=${N} H=${H} C=${C} O=${O}`);
  const x = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const dy = tf.randomNormal([N, H, H, O]) as tf.Tensor4D;
  const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]);
  med('kernel', () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: [s, s], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, C, O] }) as tf.Tensor);
  med('forward conv', () => tf.conv2d(x, tf.zeros([3,3,C,O]) as tf.Tensor4D, 1, 'same'));
  med('pad x', () => tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]));
  med('transpose xp 3120', () => tf.transpose(xp, [3, 1, 2, 0]));
  med('transpose dy 1203', () => tf.transpose(dy, [1, 2, 0, 3]));
  const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
  const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
  med('conv only', () => tf.conv2d(xT, dyT, 1, 'valid'));
  med('2-step transpose xp', () => tf.tidy(() => {
    const a = tf.transpose(xp.reshape([N, (H+2)*(H+2)*C]), [1, 0]).reshape([(H+2)*(H+2), C, N]);
    return tf.transpose(a, [1, 0, 2]);
  }));
  tf.dispose([x, dy, xp, xT, dyT]);
}
