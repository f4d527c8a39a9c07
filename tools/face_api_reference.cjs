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
//     MODEL_DIR INPUTS.bin N OUT.json [recogniser|landmarks]
// INPUTS.bin: N images of 150x150x3 uint8 (recogniser) or 112x112x3 (landmarks), RGB, row-major
// HWC, one after another. The landmark model's output for a square 112x112 input is its raw
// output: the 68 points' x, y as fractions of the input's side (FaceLandmark68Net.forward).
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
  const [modelDir, inputsPath, count, outPath, kind = 'recogniser'] = process.argv.slice(2);
  const landmarks = kind === 'landmarks';
  if (!landmarks && kind !== 'recogniser') throw new Error(`unknown kind ${kind}`);
  if (!outPath) throw new Error('usage: face_api_reference.cjs MODEL_DIR INPUTS.bin N OUT.json');
  await tf.setBackend('cpu');
  await tf.ready();
  const manifestFile = path.join(modelDir, landmarks ? 'face_landmark_68_model-weights_manifest.json' : 'face_recognition_model-weights_manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const specs = [];
  const shards = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(modelDir, p)));
  }
  const all = Buffer.concat(shards);
  const weights = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.length), specs);
  const net = landmarks ? faceapi.nets.faceLandmark68Net : faceapi.nets.faceRecognitionNet;
  net.loadFromWeightMap(weights);
  const pixels = fs.readFileSync(inputsPath);
  const n = Number(count);
  const side = landmarks ? 112 : 150;
  const size = side * side * 3;
  if (pixels.length !== n * size) throw new Error(`${inputsPath}: expected ${n * size} bytes, got ${pixels.length}`);
  const descriptors = [];
  for (let k = 0; k < n; k += 1) {
    const img = tf.tensor3d(Int32Array.from(pixels.subarray(k * size, (k + 1) * size)), [side, side, 3], 'int32');
    if (landmarks) {
      const out = await net.forward(img);
      descriptors.push(Array.from(out.dataSync()));
      out.dispose();
    } else {
      descriptors.push(Array.from(await net.computeFaceDescriptor(img)));
    }
    img.dispose();
  }
  const out = {
    computed_with: `@vladmandic/face-api ${faceapi.version} ${landmarks ? 'FaceLandmark68Net.forward' : 'FaceRecognitionNet.computeFaceDescriptor'} on @tensorflow/tfjs ${tf.version.tfjs} (${tf.getBackend()} backend), node ${process.version}`,
    descriptors,
  };
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
