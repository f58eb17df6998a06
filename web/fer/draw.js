// Boxes, numbers and labels on a canvas, as fer.pipeline.annotate draws them on the server.

const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];

/** Each face's box with its number and top label; whole-image guesses and uncertain faces dimmed. */
export function drawFaces(context, faces, numbers) {
  const width = context.canvas.width;
  const line = Math.max(2, Math.round(width / 320));
  context.font = `${Math.max(12, Math.round(width / 40))}px system-ui, sans-serif`;
  context.textBaseline = "bottom";
  faces.forEach((face, i) => {
    const number = numbers ? numbers[i] : i + 1;
    const [x, y, w, h] = face.box;
    const colour = COLOURS[(number - 1) % COLOURS.length];
    const [best, score] = Object.entries(face.scores).reduce((a, b) => (b[1] > a[1] ? b : a));
    const text = `${number} ${best} ${Math.round(score * 100)}%${face.uncertain ? " ?" : ""}${face.detected ? "" : " (whole image)"}`;
    context.globalAlpha = face.detected && !face.uncertain ? 1 : 0.6;
    context.strokeStyle = colour;
    context.lineWidth = line;
    context.strokeRect(x, y, w, h);
    const textWidth = context.measureText(text).width + 8;
    const height = parseInt(context.font, 10) + 6;
    const top = y >= height ? y - height : y;
    context.fillStyle = colour;
    context.fillRect(x, top, textWidth, height);
    context.fillStyle = "#fff";
    context.fillText(text, x + 4, top + height - 3);
    context.globalAlpha = 1;
  });
}

/** Score bars for one face: every label, best first, `topK` of them emphasised. */
export function scoreBars(scores, topK) {
  const list = document.createElement("ol");
  list.className = "fer-bars";
  Object.entries(scores)
    .sort((a, b) => b[1] - a[1])
    .forEach(([label, score], rank) => {
      const item = document.createElement("li");
      if (rank >= topK) item.className = "fer-rest";
      const name = document.createElement("span");
      name.textContent = label;
      const bar = document.createElement("span");
      bar.className = "fer-bar";
      bar.style.setProperty("--score", score.toFixed(4));
      const value = document.createElement("span");
      value.textContent = `${(score * 100).toFixed(1)}%`;
      item.append(name, bar, value);
      list.append(item);
    });
  return list;
}

/** Live's readout: the rate, and the largest face's person, uncertainty and scores (or that there is none). */
export function showLiveFrame(rateElement, panel, keyframe, rate) {
  if (rate !== null) rateElement.textContent = `${rate.toFixed(1)} frames/s labelled on this device`;
  if (!keyframe.faces.length) {
    panel.textContent = "No face in view";
    return;
  }
  const face = keyframe.faces[0];
  panel.replaceChildren(`Person ${keyframe.people[0]}${face.uncertain ? " · uncertain" : ""}`, scoreBars(face.scores, 3));
}
