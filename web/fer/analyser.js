// The device's Predictor: an ImageData in, what the server's /predict returns out
// (fer.pipeline.predict.Predictor.predict and FacePrediction.as_json).

import * as P from "./pipeline.js";
import { DeviceError, loadRuntime, loadSession } from "./runtime.js";

const DETECTOR_INPUT = "pixels"; // fer.pipeline.faces.PIXELS_INPUT
const DETECTOR_OUTPUTS = ["537", "538", "539", "540"]; // heatmap, box scale, offset, landmarks
const CLASSIFIER_INPUT = "faces";

export class Analyser {
  constructor(ort, detector, classifier, model) {
    Object.assign(this, { ort, detector, classifier, model });
    // Milliseconds, for the benchmark: each whole-image detection, each look in regions (all of its
    // regions), each classifier call, and each predict() from pixels in to scores out.
    this.timings = { detector: [], regions: [], classifier: [], analysis: [] };
  }

  /** The runtime and both sessions, from the page's config (fer/device/bundle.py writes it). */
  static async load(config) {
    const ort = await loadRuntime(config.runtime);
    const [detector, classifier] = await Promise.all([
      loadSession(ort, config.detector.url, "face detector model", DETECTOR_INPUT, DETECTOR_OUTPUTS),
      loadSession(ort, config.model.url, "expression model", CLASSIFIER_INPUT, null),
    ]);
    return new Analyser(ort, detector, classifier, config.model);
  }

  /** CenterFaceDetector.detect: faces in `rgb`, in its pixels, largest first. */
  async detect(rgb, maxSide) {
    const { pixels, dims, scale } = P.detectorInput(rgb, maxSide);
    const started = performance.now();
    const outputs = await this.detector.run({ [DETECTOR_INPUT]: new this.ort.Tensor("uint8", pixels, dims) });
    this.timings.detector.push(performance.now() - started);
    const [, , h, w] = outputs[DETECTOR_OUTPUTS[0]].dims;
    const heads = DETECTOR_OUTPUTS.map((name) => outputs[name].data);
    return P.toInputPixels(P.decodeHeads(heads, h, w), scale, rgb.width, rgb.height);
  }

  /** fer.pipeline.regions.RegionDetector.detect: faces only in `regions` of `rgb` (each shrunk to
   * REGION_DETECTION_SIDE), in its pixels, a face found in two regions kept once, largest first. */
  async detectInRegions(rgb, regions) {
    const timed = this.timings.detector.length;
    const found = [];
    for (const [left, top, width, height] of regions) {
      for (const face of await this.detect(P.cropImage(rgb, left, top, width, height), P.REGION_DETECTION_SIDE)) {
        face.box = [face.box[0] + left, face.box[1] + top, face.box[2], face.box[3]];
        face.landmarks = face.landmarks.map(([x, y]) => [x + left, y + top]);
        found.push(face);
      }
    }
    this.timings.regions.push(this.timings.detector.splice(timed).reduce((sum, ms) => sum + ms, 0));
    return P.nms(found, P.NMS_IOU).sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  }

  /** Predictor.classify: 48x48 crops -> probability rows. */
  async classify(crops) {
    const input = P.classifierInput(crops, this.model.mean, this.model.std);
    const tensor = new this.ort.Tensor("float32", input, [crops.length, 1, P.FACE_SIZE, P.FACE_SIZE]);
    const started = performance.now();
    const outputs = await this.classifier.run({ [CLASSIFIER_INPUT]: tensor });
    this.timings.classifier.push(performance.now() - started);
    const logits = outputs[this.classifier.outputNames[0]];
    if (logits.dims[1] !== this.model.labels.length) {
      throw new DeviceError("The expression model gives another number of scores than it has labels.");
    }
    return P.softmaxRows(logits.data, this.model.labels.length);
  }

  /** Predictor.predict: every face with its box, scores and uncertainty; the whole image when none is found.
   * `maxSide` is the detector's working side (640 for photos, 320 for Live, as on the server);
   * `regions`, when given, the only parts of the image to look in (Live's RegionDetector). */
  async predict(imageData, maxSide = P.PHOTO_DETECTION_SIDE, regions = null) {
    const started = performance.now();
    const { rgb, scale } = workingImage(imageData);
    const faces = regions ? await this.detectInRegions(rgb, regions) : await this.detect(rgb, maxSide);
    const described = await this.describe(rgb, faces, scale);
    this.timings.analysis.push(performance.now() - started);
    return described;
  }

  /** The rest of Predictor.predict for faces found already (boxes and landmarks in `rgb`'s pixels):
   * their crops, scores and uncertainty; with no face, the whole image as one. */
  async describe(rgb, faces, scale = 1) {
    const gray = P.toGray(rgb);
    const detected = faces.length > 0;
    const crops = detected ? faces.map((face) => P.alignFace(gray, face)) : [P.wholeImageCrop(gray)];
    if (!detected) faces = [{ box: [0, 0, rgb.width, rgb.height] }];
    const rows = await this.classify(crops);
    const described = faces.map((face, i) => ({
      box: P.intBox(face.box, scale),
      detected,
      scores: Object.fromEntries(this.model.labels.map((label, j) => [label, rows[i][j]])),
      uncertain: Math.max(...rows[i]) < (this.model.uncertain_below || 0),
      crop: crops[i],
    }));
    // Largest first by the boxes the caller sees, as Predictor.predict sorts them (stable).
    return described.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  }

  /** `describe` for an ImageData and faces the caller found (tests hold the server's detections to it). */
  async describeFaces(imageData, faces) {
    return this.describe(P.rgbFromImageData(imageData), faces);
  }
}

/** The RGB pixels the pipeline works on: the server decodes large images reduced to WORKING_SIDE,
 * and so does the device, after decoding; `scale` maps them back to the input's pixels. */
function workingImage(imageData) {
  const rgb = P.rgbFromImageData(imageData);
  const longest = Math.max(rgb.width, rgb.height);
  if (longest <= P.WORKING_SIDE) return { rgb, scale: 1 };
  const factor = P.WORKING_SIDE / longest;
  const width = Math.max(1, P.roundHalfEven(rgb.width * factor));
  const height = Math.max(1, P.roundHalfEven(rgb.height * factor));
  return { rgb: P.resizeBilinear(rgb, width, height), scale: longest / Math.max(width, height) };
}
