// Live on the device: the webcam at the camera's rate, every face tracked and labelled in this
// browser, no frame sent anywhere. The rhythm of the server's Live (fer.pipeline.live): faces are
// detected and classified at most every second frame and their boxes held on the frames between;
// they are looked for only around the faces last found, with a look at the whole frame every few
// analyses (fer.pipeline.regions); and each person's scores are smoothed by fer.pipeline.tracking's
// FaceTracker. The models run in a worker, so every camera frame is drawn while the last one is
// analysed; a slow device labels fewer frames afresh, never shows fewer frames. New labels are
// drawn on the frame on screen as soon as they come, not a camera frame later. The camera may
// start before the models have loaded: its frames are drawn bare until the first analysis.

import { drawFaces } from "./draw.js";
import { FaceTracker, LIVE_DETECTION_SIDE, regionCost, regionsAround } from "./pipeline.js";
import { DeviceError } from "./runtime.js";

const DETECT_EVERY = 2; // fer.pipeline.live.DETECT_EVERY
const RATE_WINDOW = 20; // fer.pipeline.live.RATE_WINDOW
const WHOLE_LOOK_EVERY = 16; // fer.pipeline.live.WHOLE_LOOK_EVERY
const CAMERA = { video: { width: 320, height: 240 }, audio: false };

/** One sentence for why the camera could not be opened. */
export function cameraProblem(error) {
  if (!navigator.mediaDevices?.getUserMedia) return "This page cannot use a camera here: open it over https or from localhost.";
  if (error?.name === "NotAllowedError" || error?.name === "SecurityError") {
    return "The camera permission was denied: allow the camera for this page (the icon in the address bar) and start again.";
  }
  if (error?.name === "NotFoundError" || error?.name === "OverconstrainedError") return "No camera was found on this device.";
  if (error?.name === "NotReadableError") return "The camera is in use by another program, or could not be started.";
  return "The camera could not be opened.";
}

export class DeviceLive {
  /** `view`: { canvas, onFrame(keyframe, rate), onError(sentence) }; `analyser`: a RemoteAnalyser,
   * or null until the models have loaded (set `analyser` then). */
  constructor(view, analyser = null) {
    Object.assign(this, { view, analyser, running: false });
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.scratch = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
    this.trace = null; // set to [] to keep every analysed frame and its people (tests compare with Python)
    this.reset();
  }

  /** Forget the people and the measurements: a new stream starts numbering at 1. */
  reset() {
    this.tracker = new FaceTracker();
    this.keyframe = null;
    this.inFlight = false;
    this.sinceDetection = DETECT_EVERY;
    this.sinceWholeLook = 0;
    this.lookedFor = 0;
    // shown: camera frames drawn; labelAge: their labels' age; painted: [time, labels' capture]
    // at every paint, camera frame or new labels, from which the age on screen over time is read.
    this.stats = { shown: [], frameLag: [], labelAge: [], painted: [], detections: 0 };
  }

  /** Open the camera and label its frames until stop(); DeviceError with one sentence if it cannot.
   * Resolves to false when stop() came while the camera was opening (the models failed, or another
   * model was picked): the camera is then closed again, not left running unseen. */
  async start() {
    const attempt = (this.attempt = {});
    const stopped = () => this.attempt !== attempt;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CAMERA);
    } catch (error) {
      if (stopped()) return false;
      throw new DeviceError(cameraProblem(error));
    }
    if (stopped()) {
      stream.getTracks().forEach((track) => track.stop());
      return false;
    }
    this.video.srcObject = stream;
    try {
      await this.video.play();
    } catch (error) {
      if (stopped()) return false; // stop() took the stream away mid-play
      throw error;
    }
    if (stopped()) return false;
    this.running = true;
    this.video.requestVideoFrameCallback((now, frame) => this.onFrame(now, frame));
    return true;
  }

  stop() {
    this.attempt = null;
    this.running = false;
    this.video.srcObject?.getTracks().forEach((track) => track.stop());
    this.video.srcObject = null;
  }

  onFrame(now, frame) {
    if (!this.running) return;
    const captured = frame.captureTime ?? now;
    const { videoWidth: width, videoHeight: height } = this.video;
    const scratch = this.scratch;
    if (scratch.canvas.width !== width || scratch.canvas.height !== height) Object.assign(scratch.canvas, { width, height });
    scratch.drawImage(this.video, 0, 0, width, height);
    this.sinceDetection += 1;
    if (this.analyser && !this.inFlight && this.sinceDetection >= DETECT_EVERY) {
      this.sinceDetection = 0;
      this.detect(scratch.getImageData(0, 0, width, height), captured);
    }
    if (this.keyframe?.width === width) this.show(captured);
    else this.drawFrame();
    this.video.requestVideoFrameCallback((t, f) => this.onFrame(t, f));
  }

  /** fer.pipeline.live.LiveState.look: the regions around the faces last found, or null for the whole frame. */
  look(width, height) {
    const keyframe = this.keyframe;
    let regions = null;
    if (keyframe?.faces.length && keyframe.width === width && keyframe.height === height) {
      const lostOne = keyframe.faces.length < this.lookedFor;
      if (!lostOne && this.sinceWholeLook + 1 < WHOLE_LOOK_EVERY) {
        regions = regionsAround(keyframe.faces.map((face) => face.box), width, height);
      }
    }
    if (regions && 2 * regionCost(regions) > width * height) regions = null;
    this.sinceWholeLook = regions ? this.sinceWholeLook + 1 : 0;
    this.lookedFor = regions ? regions.length : 0;
    return regions;
  }

  /** fer.app.live.detect_keyframe, in the worker: faces found (around those last found, or in the
   * whole frame) and followed (a frame without faces ages nobody); the result is held on the frames
   * drawn until the next one. */
  async detect(imageData, captured) {
    this.inFlight = true;
    let faces;
    try {
      const regions = this.look(imageData.width, imageData.height);
      faces = (await this.analyser.predict(imageData, LIVE_DETECTION_SIDE, regions)).filter((face) => face.detected);
    } catch (error) {
      this.stop();
      this.view.onError?.(error instanceof DeviceError ? error.message : "The models failed on a camera frame.");
      return;
    } finally {
      this.inFlight = false;
    }
    const rows = faces.map((face) => Object.values(face.scores));
    const tracks = faces.length ? this.tracker.update(faces.map((face) => face.box), rows) : [];
    const threshold = this.analyser.model.uncertain_below || 0;
    const steady = faces.map((face, i) => ({
      ...face,
      scores: Object.fromEntries(Object.keys(face.scores).map((label, j) => [label, tracks[i].scores[j]])),
      uncertain: Math.max(...tracks[i].scores) < threshold,
    }));
    const { width, height } = imageData;
    this.keyframe = { width, height, faces: steady, people: tracks.map((t) => t.id), captured };
    this.stats.detections += 1;
    this.trace?.push({ frame: imageData, people: this.keyframe.people, faces: steady, lookedFor: this.lookedFor });
    if (this.running && this.scratch.canvas.width === width) this.paint();
  }

  /** The camera frame just drawn to the scratch canvas, with the held faces, on the page. */
  show(captured) {
    const shown = this.paint();
    const stats = this.stats;
    stats.shown.push(shown);
    stats.frameLag.push(shown - captured);
    stats.labelAge.push(shown - this.keyframe.captured);
    if (stats.shown.length > 1000) for (const key of ["shown", "frameLag", "labelAge"]) stats[key] = stats[key].slice(-500);
  }

  /** The frame on the scratch canvas with the held faces, on the page; returns when. */
  paint() {
    drawFaces(this.drawFrame(), this.keyframe.faces, this.keyframe.people);
    const painted = performance.now();
    this.stats.painted.push([painted, this.keyframe.captured]);
    if (this.stats.painted.length > 2000) this.stats.painted = this.stats.painted.slice(-1000);
    this.view.onFrame?.(this.keyframe, this.rate());
    return painted;
  }

  /** The frame on the scratch canvas, bare, on the page; its context, to draw the faces on. */
  drawFrame() {
    const canvas = this.view.canvas;
    const { width, height } = this.scratch.canvas;
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    const context = canvas.getContext("2d");
    context.drawImage(this.scratch.canvas, 0, 0);
    return context;
  }

  /** Labelled frames shown per second over the last RATE_WINDOW frames. */
  rate() {
    const recent = this.stats.shown.slice(-RATE_WINDOW);
    return recent.length < 2 ? null : (recent.length - 1) / ((recent[recent.length - 1] - recent[0]) / 1000);
  }
}
