"""``config/overlays/dev`` as ``hack/kind/up.sh`` applies it to a kind cluster.

Two changes to ``kubectl kustomize config/overlays/dev``: with a released Antrea installed
(``--mode release``) the overlay's copy of the Antrea CRDs is left out, since those CRDs are
Antrea's and must stay as its release wrote them; and the adapter's containers use the image just
loaded into the kind Nodes, with ``imagePullPolicy: IfNotPresent`` so that the kubelet never tries
to pull a local-only image from a registry.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "config" / "overlays" / "dev"
ADAPTER_IMAGE = "antrea-nsx-adapter"


def render(mode: str, image: str, kustomized: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(kustomized) if d]
    if mode == "release":
        docs = [d for d in docs if d.get("kind") != "CustomResourceDefinition"]
    for doc in docs:
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            name = str(container.get("image", "")).rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
            if name == ADAPTER_IMAGE:
                container["image"] = image
                container["imagePullPolicy"] = "IfNotPresent"
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("release", "crds"), default="release",
                        help="release: Antrea is installed, leave its CRDs alone; crds: include them")
    parser.add_argument("--image", required=True, help="the adapter image loaded into the kind Nodes")
    args = parser.parse_args(argv)
    kustomized = subprocess.run(["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True,
                                check=True).stdout
    sys.stdout.write(yaml.safe_dump_all(render(args.mode, args.image, kustomized), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
