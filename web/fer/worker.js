// The models run here, off the page's thread: a camera frame keeps being drawn while the last one
// is analysed. Messages: { id, call, args } -> { id, result } or { id, error } (a sentence, or null
// for a fault of ours, logged to the console).

import { Analyser } from "./analyser.js";
import { DeviceError } from "./runtime.js";

let analyser = null;

self.onmessage = async ({ data: { id, call, args } }) => {
  try {
    let result;
    if (call === "load") {
      analyser = await Analyser.load(args[0]);
      result = analyser.model;
    } else if (call === "timings") {
      result = analyser.timings;
    } else {
      result = await analyser[call](...args);
    }
    self.postMessage({ id, result });
  } catch (error) {
    if (!(error instanceof DeviceError)) console.error(error);
    self.postMessage({ id, error: error instanceof DeviceError ? error.message : null });
  }
};
