import * as tf from '@tensorflow/tfjs';

/** The global average pooling layer that ends the convnet and resnet backbones (convnet.ts, resnet.ts). */
export const POOL_LAYER = 'bb_gap';

/** True when the backbone ends in the global pooling layer, so its map before pooling can be read. */
export function hasSpatialMap(backbone: tf.LayersModel): boolean {
  return backbone.layers.some((layer) => layer.name === POOL_LAYER);
}

/**
 * The backbone with two outputs: its spatial map before global pooling [N, h, w, F] and its pooled features [N, F]
 * (the backbone's own output). A view of the same graph: it shares every layer, and so every weight and BatchNorm
 * statistic, with `backbone`, and a training-mode pass updates the same moving averages. Never dispose it: a
 * container disposes its layers, which are the backbone's; it holds nothing of its own.
 */
export function spatialBackbone(backbone: tf.LayersModel): tf.LayersModel {
  if (!hasSpatialMap(backbone)) {
    throw new Error(
      `the backbone '${backbone.name}' has no spatial map before a '${POOL_LAYER}' pooling layer (the mlp encoder ` +
        'flattens the image); pixel-level objectives need a convnet or resnet encoder',
    );
  }
  const pool = backbone.getLayer(POOL_LAYER);
  const map = pool.input as tf.SymbolicTensor;
  return tf.model({ inputs: backbone.inputs, outputs: [map, backbone.outputs[0]], name: 'backbone_spatial' });
}
