"""A GitHub double for `xpu upstream`: the commits API (head of a branch) and raw file contents.

Recorded samples, each the `version = "..."` line of the real file at the real commit (the rest
of each file is not reproduced; `xpu upstream` reads only that line):
  NixOS/nixpkgs@373929394f8f5fb03e84caabf7ffab10e318e299 pkgs/by-name/ol/ollama/package.nix
      version = "0.1.44"            (read from the code index's copy of nixpkgs)
  MordragT/nixos@1421800d9b6e6bcee327551d3ef5fbf6477e8d00 (2025-11-26)
      pkgs/by-name/ollama-sycl/default.nix      version = "0.3.10"
      pkgs/by-name/llama-cpp-sycl/default.nix   version = "7157"
      pkgs/by-lang/intel-python/torch/default.nix   not in the tree at that commit
  MordragT/nixos@6442b7e097c488af990b54cf5485dea1b4b778b4 (2026-07-02, the snapshot read for
  overlays/mordrag.nix)
      pkgs/by-name/ollama-sycl/default.nix      version = "0.3.10"
      pkgs/by-name/llama-cpp-sycl/default.nix   version = "7610"
      pkgs/by-lang/intel-python/torch/default.nix   version = "2.9.1"
Not modelled: authentication, rate limits, redirects. A file not recorded is answered 404, as
raw.githubusercontent.com answers a path missing at that revision; `heads` says which commit a
branch points at (a test input).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ._server import LoopbackServer

NIXPKGS_OLLAMA_REV = "373929394f8f5fb03e84caabf7ffab10e318e299"
MORDRAG_2025_11_26 = "1421800d9b6e6bcee327551d3ef5fbf6477e8d00"
MORDRAG_2026_07_02 = "6442b7e097c488af990b54cf5485dea1b4b778b4"

FILES = {
    ("NixOS/nixpkgs", NIXPKGS_OLLAMA_REV, "pkgs/by-name/ol/ollama/package.nix"): '  version = "0.1.44";\n',
    ("MordragT/nixos", MORDRAG_2025_11_26, "pkgs/by-name/ollama-sycl/default.nix"): '  version = "0.3.10";\n',
    ("MordragT/nixos", MORDRAG_2025_11_26, "pkgs/by-name/llama-cpp-sycl/default.nix"): '  version = "7157";\n',
    ("MordragT/nixos", MORDRAG_2026_07_02, "pkgs/by-name/ollama-sycl/default.nix"): '  version = "0.3.10";\n',
    ("MordragT/nixos", MORDRAG_2026_07_02, "pkgs/by-name/llama-cpp-sycl/default.nix"): '  version = "7610";\n',
    (
        "MordragT/nixos",
        MORDRAG_2026_07_02,
        "pkgs/by-lang/intel-python/torch/default.nix",
    ): '  sycl_compiler_version = "20260101";\n  version = "2.9.1";\n',
}


@dataclass
class GitHubDouble(LoopbackServer):
    heads: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, branch) -> sha
    delay: float = 0.0  # seconds before each answer (a slow network)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> GitHubDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                double.requests.append(self.path)
                if double.delay:
                    double._stop.wait(double.delay)
                parts = self.path.strip("/").split("/")
                if parts[:1] == ["repos"] and len(parts) == 5 and parts[3] == "commits":
                    sha = double.heads.get((f"{parts[1]}/{parts[2]}", parts[4]))
                    if sha is None:  # GitHub's answer for an unknown ref
                        return self._send(422, json.dumps({"message": f"No commit found for SHA: {parts[4]}"}))
                    return self._send(200, json.dumps({"sha": sha}))
                if len(parts) >= 4:
                    text = FILES.get((f"{parts[0]}/{parts[1]}", parts[2], "/".join(parts[3:])))
                    if text is not None:
                        return self._send(200, text)
                self._send(404, "404: Not Found")

            def _send(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # quiet
                pass

        return self._serve(Handler)
