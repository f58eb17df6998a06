"""onnxruntime-web for the browser: one pinned npm release, never committed to git.

The browser needs two of its files: the ES module (with the WebAssembly glue bundled in) and the
SIMD ``.wasm``. Their SHA-384 hashes are pinned here; the page fetches them with those hashes as
``integrity``, so a CDN that serves other bytes is refused. ``runtime_folder`` takes them from the
npm registry's tarball (checked against its published SHA-512) into a git-ignored cache, because
the 15 MB wasm does not belong in the repo and a Space installs only pip packages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path

VERSION = "1.31.1"  # the same release as the Python onnxruntime in requirements.txt
TARBALL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"
TARBALL_SHA512 = "5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{VERSION}/dist/"
MODULE = "ort.wasm.bundle.min.mjs"
WASM = "ort-wasm-simd-threaded.wasm"
INTEGRITY = {
    MODULE: "sha384-6BIdAwCg9wGA2hDYLN3zCVAyr+OTK4s2qFUOqXyyOMHOmbTE+W9CyVIpApOKhHN8",
    WASM: "sha384-bQJgW/bZhNOlc9KU45Zu0dyd0EFfNpkOZjfHyH/90dkZQSBBGkFTsAJaabSyYA4Z",
}
ROOT = Path(__file__).resolve().parents[2]
# Where the files are kept once fetched (git-ignored); FER_ORT_WEB_DIR points elsewhere.
DEFAULT_FOLDER = ROOT / ".web-runtime" / f"onnxruntime-web-{VERSION}"


class RuntimeFilesError(RuntimeError):
    """The runtime could not be fetched or its bytes are not the pinned ones; one sentence."""


def integrity_of(data: bytes) -> str:
    """The Subresource Integrity string (SHA-384) of ``data``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def configured_folder() -> Path:
    return Path(os.environ.get("FER_ORT_WEB_DIR") or DEFAULT_FOLDER)


def local_copy() -> Path | None:
    """The configured folder when it holds both pinned files intact (the app then serves them
    itself, which is how the tests run offline), else None (the page loads them from the CDN)."""
    folder = configured_folder()
    for name, expected in INTEGRITY.items():
        path = folder / name
        if not path.is_file() or integrity_of(path.read_bytes()) != expected:
            return None
    return folder


def npm_tarball(url: str, sha512: str, what: str) -> bytes:
    """A pinned npm release's tarball, refused unless it is the published one (its SHA-512, as
    the registry lists it in ``dist.integrity``)."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            tarball = response.read()
    except OSError as exc:
        raise RuntimeFilesError(f"could not download {what} from the npm registry ({exc})") from exc
    if base64.b64encode(hashlib.sha512(tarball).digest()).decode() != sha512:
        raise RuntimeFilesError(f"the npm registry's {what} is not the published tarball")
    return tarball


def runtime_folder() -> Path:
    """A folder holding the pinned runtime files: the local copy, fetched from npm first if needed."""
    folder = local_copy()
    if folder is not None:
        return folder
    folder = configured_folder()
    tarball = npm_tarball(TARBALL, TARBALL_SHA512, f"onnxruntime-web {VERSION}")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        for name, expected in INTEGRITY.items():
            data = archive.extractfile(f"package/dist/{name}").read()
            if integrity_of(data) != expected:
                raise RuntimeFilesError(f"onnxruntime-web {VERSION}'s {name} does not match its pinned hash")
            temporary = folder / f"{name}.tmp"
            temporary.write_bytes(data)
            temporary.replace(folder / name)
    return folder
