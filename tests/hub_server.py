"""A small Hugging Face Hub-compatible HTTP server on 127.0.0.1, for end-to-end Hub tests.

It implements the subset of the Hub's HTTP API that ``huggingface_hub`` uses to create a
repo, upload files as regular (non-LFS) commits, read repo info and resolve files by
revision; commits keep history, and branches/commit shas resolve. Tokens: ``write-token``
may write, ``read-token`` only read; anything else is rejected. ``fail_next`` makes the
next matching requests answer an HTTP error, and ``stall_seconds`` makes them hang first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

TOKENS = {"write-token": "write", "read-token": "read"}


@dataclass
class Repo:
    private: bool
    kind: str = "model"  # or "space"
    sdk: str | None = None  # a Space's
    commits: list[dict] = field(default_factory=list)  # oldest first: {"sha", "files", "message"}
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> dict | None:
        sha = self.branches.get(revision, revision)
        return next((c for c in self.commits if c["sha"] == sha), None)


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.lock = threading.Lock()
        self.fail_next: list[tuple[str, int]] = []  # (path regex, HTTP status), consumed in order
        self.stall_seconds = 0.0
        self.requests: list[str] = []
        self.bytes_received = 0  # request bodies
        self.bytes_sent = 0  # response bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commit(self, repo_id: str, files: dict[str, bytes], message: str, branch: str = "main") -> str:
        with self.lock:
            repo = self.repos[repo_id]
            parent = repo.resolve(branch)
            merged = {**(parent["files"] if parent else {}), **files}
            sha = hashlib.sha1(f"{repo_id}{len(repo.commits)}{message}{sorted(merged)}".encode()).hexdigest()
            repo.commits.append({"sha": sha, "files": merged, "message": message})
            repo.branches[branch] = sha
            return sha


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        # --- plumbing ---------------------------------------------------------------

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
                hub.bytes_sent += len(body)

        def _json(self, status: int, payload: dict, error_code: str | None = None) -> None:
            headers = {"Content-Type": "application/json"}
            if error_code:
                headers["X-Error-Code"] = error_code
                headers["X-Error-Message"] = payload.get("error", "")
            self._send(status, json.dumps(payload).encode(), headers)

        def _role(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return TOKENS.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None

        def _body(self) -> bytes:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hub.bytes_received += len(body)
            return body

        def _injected(self) -> bool:
            path = urlparse(self.path).path
            hub.requests.append(f"{self.command} {path}")
            if hub.stall_seconds:
                time.sleep(hub.stall_seconds)
            for i, (pattern, status) in enumerate(hub.fail_next):
                if re.search(pattern, path):
                    hub.fail_next.pop(i)
                    self._json(status, {"error": f"injected {status}"})
                    return True
            return False

        def _commit(self, repo_id: str, revision: str) -> dict | None:
            """The commit ``revision`` names in a readable repo; None after answering an error."""
            repo = self._repo(repo_id, write=False)
            if repo is None:
                return None
            commit = repo.resolve(revision)
            if commit is None:
                self._json(404, {"error": "Revision not found"}, "RevisionNotFound")
            return commit

        def _repo(self, repo_id: str, write: bool) -> Repo | None:
            role = self._role()
            repo = hub.repos.get(repo_id)
            if self.headers.get("Authorization") and role is None:
                self._json(401, {"error": "Invalid credentials in Authorization header"})
                return None
            if repo is None or (repo.private and role is None):
                self._json(404, {"error": "Repository not found"}, "RepoNotFound")
                return None
            if write and role != "write":
                self._json(403 if role else 401, {"error": "You don't have the rights to write to this repo"})
                return None
            return repo

        # --- routes -----------------------------------------------------------------

        def do_GET(self) -> None:
            self._read(head=False)

        def do_HEAD(self) -> None:
            self._read(head=True)

        def _read(self, head: bool) -> None:
            if self._injected():
                return
            path = unquote(urlparse(self.path).path)
            if path == "/api/whoami-v2":
                role = self._role()
                if role is None:
                    return self._json(401, {"error": "Invalid user token"})
                return self._json(200, {"type": "user", "name": "tester", "auth": {"accessToken": {"role": role}}})
            match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
            if match:
                repo = self._repo(match[1], write=False)
                if repo is None:
                    return
                commit = repo.resolve(match[2] or "main")
                if commit is None:
                    return self._json(404, {"error": "Revision not found"}, "RevisionNotFound")
                siblings = [{"rfilename": name, "size": len(data)} for name, data in sorted(commit["files"].items())]
                return self._json(
                    200,
                    {
                        "id": match[1],
                        "modelId": match[1],
                        "sha": commit["sha"],
                        "private": repo.private,
                        "siblings": siblings,
                        "tags": [],
                        "downloads": 0,
                        "likes": 0,
                    },
                )
            match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
            if match:
                commit = self._commit(match[1], match[2])
                if commit is None:
                    return
                prefix = (match[3] or "").strip("/")
                entries = [
                    {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                    for name, data in sorted(commit["files"].items())
                    if not prefix or name.startswith(prefix + "/")
                ]
                return self._send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"})
            match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if match:
                commit = self._commit(match[1], match[2])
                if commit is None:
                    return
                data = commit["files"].get(match[3])
                if data is None:
                    return self._json(404, {"error": "Entry not found"}, "EntryNotFound")
                etag = f'"{hashlib.sha256(data).hexdigest()}"'
                return self._send(
                    200,
                    data,
                    {"ETag": etag, "X-Repo-Commit": commit["sha"], "Content-Type": "application/octet-stream"},
                    head=head,
                )
            self._json(404, {"error": f"no route {path}"})

        def do_POST(self) -> None:
            if self._injected():
                return
            path = unquote(urlparse(self.path).path)
            body = self._body()
            if path == "/api/validate-yaml":
                return self._json(200, {"errors": [], "warnings": []})
            if path == "/api/repos/create":
                role = self._role()
                if role != "write":
                    return self._json(403 if role else 401, {"error": "You don't have the rights to create a repo"})
                request = json.loads(body)
                repo_id = f"{request.get('organization') or 'tester'}/{request['name']}"
                with hub.lock:
                    if repo_id in hub.repos:
                        return self._json(
                            409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"}
                        )
                    private = bool(request.get("private")) or request.get("visibility") == "private"
                    kind = request.get("type") or "model"
                    hub.repos[repo_id] = Repo(private=private, kind=kind, sdk=request.get("sdk"))
                hub.commit(repo_id, {".gitattributes": b"*.safetensors filter=lfs\n"}, "initial commit")
                return self._json(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
            match = re.fullmatch(r"/api/(?:models|spaces)/([^/]+/[^/]+)/preupload/(.+)", path)
            if match:
                if self._repo(match[1], write=True) is None:
                    return
                files = json.loads(body)["files"]
                return self._json(
                    200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
                )
            match = re.fullmatch(r"/api/(?:models|spaces)/([^/]+/[^/]+)/commit/(.+)", path)
            if match:
                if self._repo(match[1], write=True) is None:
                    return
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                header = next(line["value"] for line in lines if line["key"] == "header")
                files = {
                    line["value"]["path"]: base64.b64decode(line["value"]["content"])
                    for line in lines
                    if line["key"] == "file"
                }
                sha = hub.commit(match[1], files, header.get("summary", ""), branch=match[2])
                return self._json(200, {"commitUrl": f"{hub.url}/{match[1]}/commit/{sha}", "commitOid": sha})
            self._json(404, {"error": f"no route {path}"})

    return Handler
