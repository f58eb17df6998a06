// The page's handle on the Analyser in worker.js: the same calls, answered by the worker.

import { asJson } from "./pipeline.js";
import { DeviceError, missingFeature } from "./runtime.js";

const FAULT = "The models failed on this device.";

/** `config` with its file URLs absolute: the worker would resolve relative ones against its own script. */
function absoluteUrls(config) {
  const absolute = (url) => new URL(url, document.baseURI).href;
  const { runtime, detector, model } = config;
  return {
    runtime: { ...runtime, module: absolute(runtime.module), wasm: absolute(runtime.wasm) },
    detector: { ...detector, url: absolute(detector.url) },
    model: { ...model, url: absolute(model.url) },
  };
}

export class RemoteAnalyser {
  constructor(worker, model) {
    Object.assign(this, { worker, model, pending: new Map(), nextId: 0 });
    worker.onmessage = ({ data: { id, result, error } }) => {
      const { resolve, reject } = this.pending.get(id);
      this.pending.delete(id);
      if (error === undefined) resolve(result);
      else reject(new DeviceError(error || FAULT));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      for (const { reject } of this.pending.values()) reject(new DeviceError(FAULT));
      this.pending.clear();
    };
  }

  /** A worker with the runtime and both models loaded from `config`; DeviceError with one sentence if not. */
  static async load(config) {
    const missing = missingFeature(); // checked here, so the page learns it before starting a worker
    if (missing) throw new DeviceError(missing);
    let worker;
    try {
      worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    } catch {
      throw new DeviceError("This browser cannot run the models on your device: it has no module workers.");
    }
    const remote = new RemoteAnalyser(worker, null);
    remote.model = await remote.call("load", [absoluteUrls(config)]);
    return remote;
  }

  call(name, args = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, call: name, args });
    });
  }

  predict(imageData, maxSide, regions = null) {
    return this.call("predict", [imageData, maxSide, regions]);
  }

  describeFaces(imageData, faces) {
    return this.call("describeFaces", [imageData, faces]);
  }

  timings() {
    return this.call("timings");
  }

  /** What /predict returns for this image. */
  async analyse(imageData, topK = 3) {
    const faces = await this.predict(imageData);
    return { model: this.model.name, faces: faces.map((face) => asJson(face, topK)) };
  }

  terminate() {
    this.worker.terminate();
  }
}
