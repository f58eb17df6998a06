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
  let loading = null;

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

  /** Load the picked model (again, after the picker changed); resolves to a DeviceLive or null. */
  const load = () => {
    live?.stop();
    live?.analyser.terminate();
    live = null;
    const parsed = JSON.parse(config() || "{}");
    if (parsed.unavailable) {
      fail(new DeviceError(parsed.unavailable));
      return Promise.resolve(null);
    }
    say("Loading the models into this browser (once; it keeps them)...");
    loading = RemoteAnalyser.load(parsed).then(
      (analyser) => {
        live = new DeviceLive(view, analyser);
        window.ferDeviceLive = live; // the mode switch stops it; tests and the benchmark read its trace and stats
        say(ON_DEVICE);
        return live;
      },
      (error) => {
        fail(error);
        return null;
      },
    );
    return loading;
  };

  button.addEventListener("click", async () => {
    const device = await loading;
    if (!device) return;
    if (device.running) {
      device.stop();
      button.textContent = "Start";
      return;
    }
    device.reset();
    try {
      await device.start();
      button.textContent = "Stop";
      say(ON_DEVICE);
    } catch (error) {
      fail(error);
    }
  });
  load();
  return { reload: load };
}
