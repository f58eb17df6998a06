// Device Live inside the Gradio app (fer/app/device_live.py mounts it with gr.HTML's js_on_load).
// The same DeviceLive as the static page; when this browser cannot run the models, or the picked
// model has no ONNX export, it hands Live to the server and says why.

import { DeviceLive } from "./live.js";
import { showLiveFrame } from "./draw.js";
import { RemoteAnalyser } from "./remote.js";
import { DeviceError } from "./runtime.js";

const ON_DEVICE = "Live runs on this device: your camera's frames never leave your browser.";

/** Mount into `element` (the gr.HTML's root). `config()`: the picked model's page config (JSON
 * text); `fallBack(sentence)`: switch Live to the server, saying why. */
export function mountDeviceLive(element, config, fallBack) {
  const $ = (name) => element.querySelector(`.fer-${name}`);
  const status = $("status");
  const button = $("start");
  let live = null;

  const say = (text, problem = false) => {
    status.textContent = text;
    status.classList.toggle("fer-problem", problem);
  };
  const fail = (error) => {
    const sentence = error instanceof DeviceError ? error.message : "The models failed on this device.";
    live?.stop();
    say(sentence, true);
    button.textContent = "Start";
    fallBack(sentence);
  };

  const view = {
    canvas: $("canvas"),
    onFrame: (keyframe, rate) => showLiveFrame($("rate"), $("panel"), keyframe, rate),
    onError: (sentence) => fail(new DeviceError(sentence)),
  };

  /** Load the picked model (again, after the picker changed). Live can start at once: the camera
   * opens while the models load, as on the static page. Only the latest pick is used: a slower,
   * earlier load that finishes last is dropped, not run under the newer pick's name. */
  let generation = 0;
  const load = () => {
    const mine = ++generation;
    live?.stop();
    button.textContent = "Start";
    live?.analyser?.terminate();
    const parsed = JSON.parse(config() || "{}");
    if (parsed.unavailable) {
      live = null;
      fail(new DeviceError(parsed.unavailable));
      return;
    }
    live = new DeviceLive(view, null);
    window.ferDeviceLive = live; // the mode switch stops it; tests and the benchmark read its trace and stats
    say("Loading the models into this browser (once; it keeps them)...");
    RemoteAnalyser.load(parsed).then(
      (analyser) => {
        if (mine !== generation) return analyser.terminate();
        live.analyser = analyser;
        say(ON_DEVICE);
      },
      (error) => {
        if (mine !== generation) return;
        fail(error);
        live = null; // Start has nothing to run until another pick loads
      },
    );
  };

  button.addEventListener("click", async () => {
    const device = live;
    if (!device) return;
    if (device.running) {
      device.stop();
      button.textContent = "Start";
      return;
    }
    device.reset();
    try {
      if (!(await device.start())) return; // stopped while the camera opened: a new pick, or a failure
      button.textContent = "Stop";
      if (device.analyser) say(ON_DEVICE);
    } catch (error) {
      fail(error);
    }
  });
  load();
  return { reload: load };
}
