// Unit tests run on the deterministic pure-JS cpu backend unless a test picks another.
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
await tf.ready();
