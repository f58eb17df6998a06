// The face pipeline of fer.pipeline, ported once to JavaScript for the browser.
//
// Pure functions over typed arrays: no DOM and no onnxruntime, so Node can test them too.
// Each one names the Python function it mirrors. Pixel arithmetic follows Pillow's own C code
// (Resample.c, Geometry.c, Convert.c) step for step, rounding included, because the browser's
// canvas scaling filters differently in each browser and the boxes and scores must match the
// server's.

export const FACE_SIZE = 48;
export const PHOTO_DETECTION_SIDE = 640; // fer.pipeline.faces.PHOTO_DETECTION_SIDE
export const LIVE_DETECTION_SIDE = 320; // fer.app.served.LIVE_DETECTION_SIDE
export const DETECTION_THRESHOLD = 0.4; // fer.pipeline.faces.THRESHOLDS["int8"]
export const WORKING_SIDE = 2048; // fer.pipeline.predict.WORKING_SIDE
export const MAX_PIXELS = 50_000_000; // fer.pipeline.images.MAX_PIXELS
const LANDMARK_STEPS = 16; // fer.pipeline.faces.LANDMARK_STEPS: landmarks kept to 1/16 px, as the server keeps them
const EYE_DISTANCE_FRACTION = 1 / 2.78; // fer.pipeline.faces
const EYE_HEIGHT_FRACTION = 0.405;
export const NMS_IOU = 0.3; // fer.pipeline.faces.NMS_IOU
export const REGION_MARGIN = 2; // fer.pipeline.regions.REGION_MARGIN
export const REGION_DETECTION_SIDE = 128; // fer.pipeline.regions.REGION_DETECTION_SIDE
const PRECISION_BITS = 32 - 8 - 2; // Pillow's Resample.c

/** Python's round(): halves go to the even neighbour, as the server's boxes are rounded. */
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** An image of `channels` uint8 planes interleaved: { width, height, channels, data }. */
export function makeImage(width, height, channels, data) {
  return { width, height, channels, data: data || new Uint8Array(width * height * channels) };
}

/** The `width` x `height` part of `image` whose top-left corner is (left, top): a numpy slice's copy. */
export function cropImage(image, left, top, width, height) {
  const { channels } = image;
  const out = makeImage(width, height, channels);
  for (let y = 0; y < height; y++) {
    const start = ((top + y) * image.width + left) * channels;
    out.data.set(image.data.subarray(start, start + width * channels), y * width * channels);
  }
  return out;
}

/** fer.pipeline.regions.regions_around: the region to look in around each whole-pixel box, in the frame. */
export function regionsAround(boxes, width, height) {
  const regions = [];
  for (const [x, y, w, h] of boxes) {
    const half = Math.floor((Math.max(w, h) * REGION_MARGIN) / 2);
    const centreX = x + Math.floor(w / 2), centreY = y + Math.floor(h / 2);
    const left = Math.max(0, centreX - half), top = Math.max(0, centreY - half);
    const right = Math.min(width, centreX + half), bottom = Math.min(height, centreY + half);
    if (right > left && bottom > top) regions.push([left, top, right - left, bottom - top]);
  }
  return regions;
}

/** fer.pipeline.regions.region_cost: the pixels the detector works on for `regions`, about. */
export function regionCost(regions) {
  return regions.reduce((sum, [, , w, h]) => sum + Math.min(w * h, REGION_DETECTION_SIDE ** 2), 0);
}

/** RGBA ImageData -> RGB image; transparent pixels become white, as fer.pipeline.images.to_rgb does. */
export function rgbFromImageData(imageData) {
  const { width, height, data } = imageData;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    const alpha = data[i + 3];
    for (let c = 0; c < 3; c++) {
      // Pillow's alpha_composite over opaque white, in its integer arithmetic.
      rgb[j + c] = alpha === 255 ? data[i + c] : compositeOverWhite(data[i + c], alpha);
    }
  }
  return makeImage(width, height, 3, rgb);
}

function compositeOverWhite(value, alpha) {
  // Pillow's AlphaComposite.c with an opaque white destination: outA = 255, and
  // out = (src * alpha + 255 * (255 - alpha)) / 255 with its shift-based rounding.
  const tmp = value * alpha + 255 * (255 - alpha) + 0x80;
  return (tmp + (tmp >> 8)) >> 8;
}

/** RGB -> 8-bit gray with Pillow's convert("L") weights and rounding (Convert.c, L24). */
export function toGray(rgb) {
  const gray = new Uint8Array(rgb.width * rgb.height);
  const d = rgb.data;
  for (let i = 0, j = 0; j < gray.length; i += 3, j++) {
    gray[j] = (d[i] * 19595 + d[i + 1] * 38470 + d[i + 2] * 7471 + 0x8000) >> 16;
  }
  return makeImage(rgb.width, rgb.height, 1, gray);
}

// Pillow's precompute_coeffs and normalize_coeffs_8bpc for the bilinear (triangle) filter:
// when shrinking, the filter widens with the scale, which is Pillow's antialiasing.
function resampleCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = filterScale;
  const kernelSize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * kernelSize);
  const raw = new Float64Array(kernelSize);
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    let xmin = Math.trunc(centre - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(centre + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const ss = 1 / filterScale;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - centre + 0.5) * ss);
      raw[x] = t < 1 ? 1 - t : 0;
      total += raw[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? raw[x] / total : raw[x];
      weights[xx * kernelSize + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, kernelSize };
}

function clip8(sum) {
  if (sum >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (sum <= 0) return 0;
  return Math.floor(sum / 2 ** PRECISION_BITS);
}

/** Pillow's Image.resize(size, BILINEAR) for 8-bit images: a horizontal pass, then a vertical one. */
export function resizeBilinear(image, width, height) {
  const { channels } = image;
  let current = image;
  if (width !== image.width) {
    const { bounds, weights, kernelSize } = resampleCoefficients(image.width, width);
    const out = makeImage(width, image.height, channels);
    for (let y = 0; y < image.height; y++) {
      const row = y * image.width * channels;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], k = xx * kernelSize;
        for (let c = 0; c < channels; c++) {
          let sum = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) sum += image.data[row + (x + xmin) * channels + c] * weights[k + x];
          out.data[(y * width + xx) * channels + c] = clip8(sum);
        }
      }
    }
    current = out;
  }
  if (height !== current.height) {
    const { bounds, weights, kernelSize } = resampleCoefficients(current.height, height);
    const out = makeImage(width, height, channels);
    const stride = width * channels;
    for (let yy = 0; yy < height; yy++) {
      const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1], k = yy * kernelSize;
      for (let i = 0; i < stride; i++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) sum += current.data[(y + ymin) * stride + i] * weights[k + y];
        out.data[yy * stride + i] = clip8(sum);
      }
    }
    current = out;
  }
  return current === image ? makeImage(width, height, channels, image.data.slice()) : current;
}

/** The detector's input, as CenterFaceDetector.detect builds it: shrunk to `maxSide`, padded to
 * multiples of 32 with black, 1 x H x W x 3 uint8 (the int8 graph's "pixels"). */
export function detectorInput(rgb, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(rgb.width, rgb.height));
  const smallW = Math.max(1, roundHalfEven(rgb.width * scale));
  const smallH = Math.max(1, roundHalfEven(rgb.height * scale));
  const small = scale === 1 ? rgb : resizeBilinear(rgb, smallW, smallH);
  const padW = Math.ceil(smallW / 32) * 32, padH = Math.ceil(smallH / 32) * 32;
  const pixels = new Uint8Array(padW * padH * 3);
  for (let y = 0; y < smallH; y++) {
    pixels.set(small.data.subarray(y * smallW * 3, (y + 1) * smallW * 3), y * padW * 3);
  }
  return { pixels, dims: [1, padH, padW, 3], scale };
}

/** fer.pipeline.faces._decode: CenterFace's merged heads (stride 4) -> faces after NMS.
 * `heads` holds the four outputs' data (heatmap 1, scale 2, offset 2, landmarks 10 channels)
 * over an h x w map. */
export function decodeHeads(heads, h, w, threshold = DETECTION_THRESHOLD) {
  const [heatmap, boxScale, offset, landmarks] = heads;
  const plane = h * w;
  const candidates = [];
  for (let i = 0; i < plane; i++) {
    if (!(heatmap[i] > threshold)) continue;
    const row = Math.floor(i / w), col = i % w;
    const height = Math.exp(boxScale[i]) * 4;
    const width = Math.exp(boxScale[plane + i]) * 4;
    const x0 = (col + offset[plane + i] + 0.5) * 4 - width / 2;
    const y0 = (row + offset[i] + 0.5) * 4 - height / 2;
    const points = [];
    for (let p = 0; p < 5; p++) {
      points.push([landmarks[(2 * p + 1) * plane + i] * width + x0, landmarks[2 * p * plane + i] * height + y0]);
    }
    candidates.push({ box: [x0, y0, width, height], score: heatmap[i], landmarks: points });
  }
  return nms(candidates, NMS_IOU);
}

/** fer.pipeline.faces.nms: best score first (a stable order, as the server's), dropping overlaps. */
export function nms(candidates, iouThreshold) {
  let order = candidates.map((_, i) => i).sort((a, b) => candidates[b].score - candidates[a].score);
  const keep = [];
  while (order.length) {
    const best = candidates[order[0]];
    keep.push(best);
    const [bx, by, bw, bh] = best.box;
    order = order.slice(1).filter((i) => {
      const [x, y, w, h] = candidates[i].box;
      const interW = Math.max(0, Math.min(bx + bw, x + w) - Math.max(bx, x));
      const interH = Math.max(0, Math.min(by + bh, y + h) - Math.max(by, y));
      const inter = interW * interH;
      return inter / (bw * bh + w * h - inter) < iouThreshold;
    });
  }
  return keep;
}

/** The end of CenterFaceDetector.detect: faces back in input pixels, clipped, largest first. */
export function toInputPixels(faces, scale, width, height) {
  for (const face of faces) {
    const [x, y, w, h] = face.box.map((v) => v / scale);
    const x0 = Math.max(0, x), y0 = Math.max(0, y);
    face.box = [x0, y0, Math.min(x + w, width) - x0, Math.min(y + h, height) - y0];
    const snap = (v) => roundHalfEven((v / scale) * LANDMARK_STEPS) / LANDMARK_STEPS;
    face.landmarks = face.landmarks.map(([px, py]) => [snap(px), snap(py)]);
  }
  return faces.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
}

// Pillow's bilinear_filter8 (Geometry.c): the sample at (xin, yin), or null outside the image.
function bilinearSample(gray, xin, yin) {
  const { width, height, data } = gray;
  if (xin < 0 || xin >= width || yin < 0 || yin >= height) return null;
  xin -= 0.5;
  yin -= 0.5;
  const x = Math.floor(xin), y = Math.floor(yin);
  const dx = xin - x, dy = yin - y;
  const clipX = (v) => (v < 0 ? 0 : v < width ? v : width - 1);
  const clipY = (v) => (v < 0 ? 0 : v < height ? v : height - 1);
  const x0 = clipX(x), x1 = clipX(x + 1);
  let row = clipY(y) * width;
  const v1 = data[row + x0] + (data[row + x1] - data[row + x0]) * dx;
  let v2 = v1;
  if (y + 1 >= 0 && y + 1 < height) {
    row = (y + 1) * width;
    v2 = data[row + x0] + (data[row + x1] - data[row + x0]) * dx;
  }
  return Math.trunc(v1 + (v2 - v1) * dy);
}

/** fer.pipeline.faces.align_face: the 48x48 crop of `face` with FER2013's framing (eyes level,
 * 2.78 eye distances across, the eyes 40.5% from the top); the box's square without landmarks. */
export function alignFace(gray, face) {
  let side, angle, centreX, centreY;
  if (face.landmarks) {
    const [left, right] = face.landmarks.slice(0, 2).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const eyeDx = right[0] - left[0], eyeDy = right[1] - left[1];
    const eyeDistance = Math.max(Math.hypot(eyeDx, eyeDy), 1);
    angle = Math.atan2(eyeDy, eyeDx);
    centreX = (left[0] + right[0]) / 2;
    centreY = (left[1] + right[1]) / 2;
    side = eyeDistance / EYE_DISTANCE_FRACTION;
    const below = (0.5 - EYE_HEIGHT_FRACTION) * side;
    centreX -= below * Math.sin(angle);
    centreY += below * Math.cos(angle);
  } else {
    const [x, y, w, h] = face.box;
    side = 1.1 * Math.max(w, h);
    angle = 0;
    centreX = x + w / 2;
    centreY = y + h / 2;
  }
  const render = FACE_SIZE * Math.trunc(Math.min(4, Math.max(1, Math.floor(side / FACE_SIZE))));
  const step = side / render;
  const cos = Math.cos(angle) * step, sin = Math.sin(angle) * step;
  const half = render / 2;
  const a = [cos, -sin, centreX - cos * half + sin * half, sin, cos, centreY - sin * half - cos * half];
  const crop = makeImage(render, render, 1);
  for (let v = 0; v < render; v++) {
    for (let u = 0; u < render; u++) {
      const xin = a[0] * (u + 0.5) + a[1] * (v + 0.5) + a[2];
      const yin = a[3] * (u + 0.5) + a[4] * (v + 0.5) + a[5];
      const sample = bilinearSample(gray, xin, yin);
      crop.data[v * render + u] = sample === null ? 128 : sample;
    }
  }
  return render === FACE_SIZE ? crop : resizeBilinear(crop, FACE_SIZE, FACE_SIZE);
}

/** Predictor._crop without a detected face: the whole image, squashed to 48x48. */
export function wholeImageCrop(gray) {
  return resizeBilinear(gray, FACE_SIZE, FACE_SIZE);
}

/** OnnxClassifier.probabilities' input: uint8 faces -> N x 1 x 48 x 48 float32, normalised in
 * float32 steps as numpy does. */
export function classifierInput(crops, mean, std) {
  const size = FACE_SIZE * FACE_SIZE;
  const input = new Float32Array(crops.length * size);
  const m = Math.fround(mean), s = Math.fround(std);
  crops.forEach((crop, n) => {
    for (let i = 0; i < size; i++) {
      input[n * size + i] = Math.fround(Math.fround(Math.fround(crop.data[i] / 255) - m) / s);
    }
  });
  return input;
}

/** fer.model.onnx_classifier._softmax over each row of `logits` (N x classes). */
export function softmaxRows(logits, classes) {
  const rows = [];
  for (let start = 0; start < logits.length; start += classes) {
    const row = Array.from(logits.subarray(start, start + classes));
    const top = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    rows.push(exps.map((v) => Math.fround(v / total)));
  }
  return rows;
}

/** fer.pipeline.predict._int_box: a box in whole input pixels, at least 1 wide and high. */
export function intBox(box, scale = 1) {
  const [x, y, w, h] = box.map((v) => v * scale);
  return [roundHalfEven(x), roundHalfEven(y), Math.max(1, roundHalfEven(w)), Math.max(1, roundHalfEven(h))];
}

/** FacePrediction.top_k: the k best labels with their scores. */
export function topK(scores, k) {
  return Object.entries(scores)
    .sort((a, b) => b[1] - a[1])
    .slice(0, Math.max(1, k))
    .map(([label, score]) => ({ label, score }));
}

/** FacePrediction.as_json: one face as the server's /predict returns it. */
export function asJson(face, k) {
  return { box: face.box, detected: face.detected, uncertain: face.uncertain, scores: face.scores, top_k: topK(face.scores, k) };
}

/** fer.pipeline.tracking.box_iou for two xywh boxes. */
export function boxIou(a, b) {
  const left = Math.max(a[0], b[0]), top = Math.max(a[1], b[1]);
  const right = Math.min(a[0] + a[2], b[0] + b[2]), bottom = Math.min(a[1] + a[3], b[1] + b[3]);
  const overlap = Math.max(0, right - left) * Math.max(0, bottom - top);
  return overlap / Math.max(a[2] * a[3] + b[2] * b[3] - overlap, 1e-9);
}

/** fer.pipeline.tracking.FaceTracker: ids by greedy box overlap, scores smoothed exponentially. */
export class FaceTracker {
  constructor({ iouThreshold = 0.3, smoothing = 0.3, maxMissed = 10 } = {}) {
    Object.assign(this, { iouThreshold, smoothing, maxMissed, tracks: [], nextId: 1 });
  }

  /** This frame's faces (boxes and score arrays) -> each face's track, in the order given. */
  update(boxes, scores) {
    const matched = new Map();
    if (this.tracks.length && boxes.length) {
      const pairs = [];
      boxes.forEach((box, face) =>
        this.tracks.forEach((track, t) => pairs.push({ face, t, iou: boxIou(box, track.box) })),
      );
      pairs.sort((a, b) => b.iou - a.iou); // stable, as Python's sorted
      const used = new Set();
      for (const { face, t, iou } of pairs) {
        if (iou < this.iouThreshold) break;
        if (matched.has(face) || used.has(t)) continue;
        matched.set(face, this.tracks[t]);
        used.add(t);
      }
    }
    for (const track of this.tracks) track.missed += 1;
    const result = boxes.map((box, face) => {
      let track = matched.get(face);
      if (!track) {
        track = { id: this.nextId++, box, scores: scores[face].slice(), missed: 0 };
        this.tracks.push(track);
      } else {
        track.scores = track.scores.map((s, i) => (1 - this.smoothing) * s + this.smoothing * scores[face][i]);
        track.box = box;
      }
      track.missed = 0;
      return track;
    });
    this.tracks = this.tracks.filter((t) => t.missed <= this.maxMissed);
    return result;
  }
}
