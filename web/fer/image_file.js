// A photo the visitor hands the page, checked from its header before it is decoded, as the
// server's fer.pipeline.images.open_image does: a decompression bomb never reaches the decoder.

import { MAX_PIXELS } from "./pipeline.js";
import { DeviceError } from "./runtime.js";

const NOT_AN_IMAGE = "not a readable image: not a format we recognise";
const DAMAGED_IMAGE = "not a readable image: the file is damaged or cut short";
const MAX_FILE_BYTES = 20 * 2 ** 20; // fer.app.limits.MAX_UPLOAD_MB

/** Width and height from an image file's first bytes (PNG, JPEG, GIF, WebP, BMP), or null. */
export function headerSize(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (start, length) => String.fromCharCode(...bytes.subarray(start, start + length));
  if (bytes.length >= 24 && ascii(1, 3) === "PNG") return [view.getUint32(16), view.getUint32(20)];
  if (bytes.length >= 10 && ascii(0, 3) === "GIF") return [view.getUint16(6, true), view.getUint16(8, true)];
  if (bytes.length >= 26 && ascii(0, 2) === "BM") return [view.getInt32(18, true), Math.abs(view.getInt32(22, true))];
  if (bytes.length >= 30 && ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") {
    const chunk = ascii(12, 4);
    if (chunk === "VP8X") return [1 + (view.getUint32(24, true) & 0xffffff), 1 + (view.getUint32(27, true) & 0xffffff)];
    if (chunk === "VP8L") {
      const bits = view.getUint32(21, true);
      return [1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff)];
    }
    return [view.getUint16(26, true) & 0x3fff, view.getUint16(28, true) & 0x3fff];
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    for (let at = 2; at + 9 < bytes.length; ) {
      if (bytes[at] !== 0xff) return null;
      const marker = bytes[at + 1];
      const isFrame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
      if (isFrame) return [view.getUint16(at + 7), view.getUint16(at + 5)];
      at += 2 + view.getUint16(at + 2);
    }
  }
  return null;
}

/** The file's pixels as ImageData, upright; DeviceError with the server's sentence if it is refused. */
export async function readImageFile(file) {
  if (file.size > MAX_FILE_BYTES) throw new DeviceError(`Cannot use this image: the file is over ${MAX_FILE_BYTES / 2 ** 20} MB.`);
  const head = new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer());
  const size = headerSize(head);
  if (!size) throw new DeviceError(`Cannot use this image: ${NOT_AN_IMAGE}.`);
  const [width, height] = size;
  if (width * height > MAX_PIXELS) {
    throw new DeviceError(
      `Cannot use this image: image is ${width}x${height} pixels, more than the ${MAX_PIXELS.toLocaleString("en")} we accept.`,
    );
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    throw new DeviceError(`Cannot use this image: ${DAMAGED_IMAGE}.`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}
