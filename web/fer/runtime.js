// Loading onnxruntime-web and the two models, each failure as one sentence for the page.
//
// The runtime is the pinned npm build (fer/device/runtime_files.py): its ES module, with the
// WebAssembly glue inside, and the .wasm binary. Both are fetched with their integrity hash, so
// a CDN or a proxy that serves other bytes is refused.

export class DeviceError extends Error {}

// The smallest module that uses a SIMD instruction (as wasm-feature-detect tests it).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);
const MAX_MODEL_BYTES = 256 * 2 ** 20; // fer.model.checkpoint_files.MAX_ONNX_BYTES

/** One sentence if this browser cannot run the models, else null. */
export function missingFeature() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") {
    return "This browser cannot run the models on your device: it has no WebAssembly.";
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    return "This browser cannot run the models on your device: its WebAssembly lacks SIMD (a browser from 2021 or later has it).";
  }
  return null;
}

async function fetchChecked(url, integrity, what) {
  let response;
  try {
    response = await fetch(url, integrity ? { integrity } : {});
  } catch {
    throw new DeviceError(`The ${what} could not be downloaded, or its bytes are not the published ones.`);
  }
  if (!response.ok) throw new DeviceError(`The ${what} could not be downloaded (HTTP ${response.status}).`);
  return response;
}

/** The runtime's WebAssembly, compiled by `compileStreaming` from the checked fetch of its URL:
 * for such a compile only, Chromium keeps the compiled code beside the cached file, so a second
 * visit skips compiling 15 MB. onnxruntime never fetches the file itself (`handOver`). */
async function compileRuntime(url, integrity) {
  const response = await fetchChecked(url, integrity, "model runtime (onnxruntime-web)");
  try {
    if (response.headers.get("content-type")?.startsWith("application/wasm")) return await WebAssembly.compileStreaming(response);
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (error) {
    // A download that breaks off rejects with a TypeError, bytes that are not WebAssembly with a CompileError.
    if (error instanceof TypeError) throw new DeviceError("The model runtime (onnxruntime-web) could not be downloaded.");
    throw new DeviceError("The model runtime (onnxruntime-web) is damaged and could not be started.");
  }
}

/** Hands onnxruntime the module compiled above. It takes only bytes (`env.wasm.wasmBinary`) and
 * instantiates them with `WebAssembly.instantiate`; given a stand-in buffer, this worker's
 * `WebAssembly.instantiate` answers with the compiled module instead, and nothing is compiled twice. */
function handOver(ort, compiled) {
  const standIn = new ArrayBuffer(8);
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = function (source, imports) {
    if (source?.buffer === standIn || source === standIn) {
      return instantiate(compiled, imports).then((instance) => ({ instance, module: compiled }));
    }
    return instantiate.call(this, source, imports);
  };
  ort.env.wasm.wasmBinary = standIn;
}

/** onnxruntime-web from `runtime` ({ module, wasm, integrity: { module, wasm } }); the page has
 * checked `missingFeature()` before starting the worker this runs in (remote.js). */
export async function loadRuntime(runtime) {
  const [moduleText, compiled] = await Promise.all([
    fetchChecked(runtime.module, runtime.integrity?.module, "model runtime (onnxruntime-web)").then((r) => r.text()),
    compileRuntime(runtime.wasm, runtime.integrity?.wasm),
  ]);
  // Imported from the checked bytes, not from its URL, so what runs is what was checked. The URL is
  // kept: onnxruntime starts its threads' workers from it.
  const moduleUrl = URL.createObjectURL(new Blob([moduleText], { type: "text/javascript" }));
  let ort;
  try {
    ort = await import(moduleUrl);
  } catch {
    throw new DeviceError("The model runtime (onnxruntime-web) is damaged and could not be started.");
  }
  handOver(ort, compiled);
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has (the static Space
  // and the Gradio app send the headers for it; a page framed by one that is not isolated runs one thread).
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  return ort;
}

/** An onnxruntime session of the ONNX file at `url`, checked to have the expected input and outputs. */
export async function loadSession(ort, url, what, inputName, outputNames) {
  const response = await fetchChecked(url, null, what);
  const length = Number(response.headers.get("content-length") || 0);
  if (length > MAX_MODEL_BYTES) throw new DeviceError(`The ${what} is larger than the 256 MB we accept.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_MODEL_BYTES) throw new DeviceError(`The ${what} is larger than the 256 MB we accept.`);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  } catch {
    throw new DeviceError(`The ${what} is damaged or not an ONNX model, so it could not be loaded.`);
  }
  const outputsMatch = !outputNames || outputNames.every((name) => session.outputNames.includes(name));
  if (session.inputNames[0] !== inputName || !outputsMatch) {
    throw new DeviceError(`The ${what} has other inputs or outputs than expected, so it is not used.`);
  }
  return session;
}
