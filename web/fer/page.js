// The static page: Photo and Live, both on the visitor's device. config.json (written by
// scripts/build_web.py) names the runtime and the two models.
//
// window.fer.analyse(imageData) resolves to what the server's /predict returns for that image,
// so tests and other scripts can hold the two side by side.

import { asJson } from "./pipeline.js";
import { drawFaces, scoreBars, showLiveFrame } from "./draw.js";
import { readImageFile } from "./image_file.js";
import { DeviceLive } from "./live.js";
import { RemoteAnalyser } from "./remote.js";
import { DeviceError } from "./runtime.js";

const ON_DEVICE = "Live on this device: frames never leave your browser.";
const $ = (selector) => document.querySelector(selector);
const say = (element, text, problem = false) => {
  element.textContent = text;
  element.classList.toggle("fer-problem", problem);
};

async function main() {
  const config = await (await fetch("config.json")).json();
  $("#model-name").textContent = config.model.summary;
  const status = $("#photo-status");
  say(status, "Loading the models (once; your browser keeps them)...");
  // Live can start at once: the camera opens while the models load, which saves a visitor who
  // clicks Start straight away the camera's start-up time before the first labels.
  const live = new DeviceLive(liveView(), null);
  window.fer.live = live;
  setUpLive(live);
  const analyser = await RemoteAnalyser.load(config);
  live.analyser = analyser;
  window.fer.analyser = analyser;
  window.fer.analyse = (imageData, topK = 3) => analyser.analyse(imageData, topK);
  say(status, "Choose, drop or paste a photo.");
  if (live.running) say($("#live-status"), ON_DEVICE);
  setUpPhoto(analyser);
}

function setUpPhoto(analyser) {
  const input = $("#photo-input");
  input.addEventListener("change", () => input.files[0] && showPhoto(analyser, input.files[0]));
  const drop = $("#photo-drop");
  drop.addEventListener("dragover", (event) => event.preventDefault());
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) showPhoto(analyser, file);
  });
  document.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files][0];
    if (file) showPhoto(analyser, file);
  });
}

async function showPhoto(analyser, file) {
  const status = $("#photo-status");
  const canvas = $("#photo-canvas");
  const list = $("#photo-faces");
  list.replaceChildren();
  $("#photo-json").hidden = true;
  let imageData;
  try {
    imageData = await readImageFile(file);
  } catch (error) {
    say(status, error instanceof DeviceError ? error.message : "Cannot use this image.", true);
    return;
  }
  say(status, "Analysing...");
  const topK = Number($("#top-k").value);
  let faces;
  try {
    faces = await analyser.predict(imageData);
  } catch (error) {
    say(status, error instanceof DeviceError ? error.message : "The models failed on this photo.", true);
    return;
  }
  Object.assign(canvas, { width: imageData.width, height: imageData.height });
  const context = canvas.getContext("2d");
  context.putImageData(imageData, 0, 0);
  drawFaces(context, faces);
  const detected = faces[0].detected;
  say(
    status,
    detected
      ? `Found ${faces.length} face${faces.length > 1 ? "s" : ""}.`
      : "No face found: this is a guess for the whole image (a face cropped as tightly as FER2013's has no face around it to find).",
  );
  faces.forEach((face, i) => {
    const item = document.createElement("li");
    const title = document.createElement("strong");
    title.textContent = `Face ${i + 1}${face.uncertain ? " · uncertain (the model is right less than half the time this unsure)" : ""}`;
    item.append(title, scoreBars(face.scores, topK));
    list.append(item);
  });
  const result = { model: analyser.model.name, faces: faces.map((face) => asJson(face, topK)) };
  const link = $("#photo-json");
  URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([JSON.stringify(result, null, 2)], { type: "application/json" }));
  link.hidden = false;
}

function liveView() {
  return {
    canvas: $("#live-canvas"),
    onFrame: (keyframe, rate) => showLiveFrame($("#live-rate"), $("#live-panel"), keyframe, rate),
    onError(sentence) {
      say($("#live-status"), sentence, true);
      $("#live-start").textContent = "Start";
    },
  };
}

function setUpLive(live) {
  const button = $("#live-start");
  button.addEventListener("click", async () => {
    if (live.running) {
      live.stop();
      button.textContent = "Start";
      return;
    }
    if (window.fer.error) return say($("#live-status"), window.fer.error, true);
    say($("#live-status"), "Opening the camera...");
    try {
      live.reset();
      // false: stopped while the camera opened (by main's catch, which says why, or by a later Start)
      if (!(await live.start())) return;
      button.textContent = "Stop";
      say($("#live-status"), live.analyser ? ON_DEVICE : "Loading the models into this browser; the labels follow.");
    } catch (error) {
      say($("#live-status"), error instanceof DeviceError ? error.message : "The camera could not be opened.", true);
    }
  });
}

window.fer = { ready: null, error: null };
window.fer.ready = main().catch((error) => {
  const sentence = error instanceof DeviceError ? error.message : "The page could not start the models on this device.";
  window.fer.error = sentence;
  window.fer.live?.stop();
  $("#live-start").textContent = "Start";
  say($("#photo-status"), sentence, true);
  say($("#live-status"), sentence, true);
  if (!(error instanceof DeviceError)) console.error(error);
});
