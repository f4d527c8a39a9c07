// Reference descriptors of face-api's face recogniser, computed by the package itself on tfjs.
//
// Runs @vladmandic/face-api's own FaceRecognitionNet (its node build, dist/face-api.node.js) on
// pure-JavaScript @tensorflow/tfjs with the CPU backend: the node build asks for
// @tensorflow/tfjs-node (native bindings), and this script hands it @tensorflow/tfjs instead,
// which has the same API for what the network uses. Weights are decoded by tfjs itself
// (tf.io.decodeWeights: its own uint8 dequantisation), so nothing of the Python port is reused.
//
// Usage (tools/face_api_reference.py calls it):
//   NODE_PATH=<folder holding node_modules> node tools/face_api_reference.cjs \
//     MODEL_DIR INPUTS.bin N OUT.json
// INPUTS.bin: N images of 150x150x3 uint8 (RGB, row-major HWC), one after another.
// Setup: npm install @tensorflow/tfjs@4.22.0 @vladmandic/face-api@1.7.15
'use strict';

const fs = require('fs');
const path = require('path');
const Module = require('module');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, request === '@tensorflow/tfjs-node' ? '@tensorflow/tfjs' : request, ...rest);
};
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api');

async function main() {
  const [modelDir, inputsPath, count, outPath] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: face_api_reference.cjs MODEL_DIR INPUTS.bin N OUT.json');
  await tf.setBackend('cpu');
  await tf.ready();
  const manifestFile = path.join(modelDir, 'face_recognition_model-weights_manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const specs = [];
  const shards = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(modelDir, p)));
  }
  const all = Buffer.concat(shards);
  const weights = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.length), specs);
  const net = faceapi.nets.faceRecognitionNet;
  net.loadFromWeightMap(weights);
  const pixels = fs.readFileSync(inputsPath);
  const n = Number(count);
  const size = 150 * 150 * 3;
  if (pixels.length !== n * size) throw new Error(`${inputsPath}: expected ${n * size} bytes, got ${pixels.length}`);
  const descriptors = [];
  for (let k = 0; k < n; k += 1) {
    const img = tf.tensor3d(Int32Array.from(pixels.subarray(k * size, (k + 1) * size)), [150, 150, 3], 'int32');
    const d = await net.computeFaceDescriptor(img);
    descriptors.push(Array.from(d));
    img.dispose();
  }
  const out = {
    computed_with: `@vladmandic/face-api ${faceapi.version} FaceRecognitionNet.computeFaceDescriptor on @tensorflow/tfjs ${tf.version.tfjs} (${tf.getBackend()} backend), node ${process.version}`,
    descriptors,
  };
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
