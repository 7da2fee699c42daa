"""The read-only admin page at ``/``: content (escaped) over HTTP and a real render in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from nsx_sim_helpers import CCP_PATH, DOMAIN, PASSWORD, Api, antrea_group, register_cluster, rule

from sim.nsx import NsxSimulator

CHROMIUM = Path("/usr/bin/chromium")


def _populate(api: Api) -> None:
    register_cluster(api, "prod-cluster")
    api.patch(f"{DOMAIN}/groups/web", json=antrea_group("web"))
    api.patch(f"{DOMAIN}/security-policies/evil", json={
        "resource_type": "SecurityPolicy", "display_name": "<script>alert(1)</script>", "category": "Application",
        "scope": [f"{CCP_PATH}/prod-cluster"], "rules": [rule("r1")]})
    api.post("/api/v1/antrea-adapter/clusters/prod-cluster/realization", json={"reports": [
        {"intent_path": "/infra/domains/default/security-policies/evil", "state": "ERROR",
         "reasons": [{"message": "bad <b>thing</b>"}]}]})
    api.post("/api/v1/antrea-adapter/clusters/prod-cluster/heartbeat", json={"status": "HEALTHY"})
    api.post("/api/v1/fabric/container-clusters", json={
        "external_id": "uuid-1", "display_name": "prod-cluster", "cluster_type": "Kubernetes",
        "infrastructure": {"infra_type": "vSphere"}})
    api.post("/api/v1/inventory/container/uuid-1?action=updates", json={"container_inventory_objects": [
        {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerProject",
                                                              "external_id": f"ns{i}"}} for i in range(3)]})


def test_page_lists_clusters_policies_inventory(api: Api) -> None:
    _populate(api)
    r = api.get("/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    html = r.text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "bad &lt;b&gt;thing&lt;/b&gt;" in html
    assert "prod-cluster: ERROR" in html and ">HEALTHY<" in html
    inv_row = html.split("id='inventory'")[1]
    assert "<td>3</td>" in inv_row  # three ContainerProjects
    assert "default-layer3-section" in html or "Default Layer3 Section" in html
    # Unauthenticated: a Basic challenge, so a browser shows its login prompt (APIs answer 403).
    anon = Api(api.sim, auth=None).get("/")
    assert anon.status_code == 401 and anon.headers["WWW-Authenticate"].startswith("Basic")
    assert "policies" not in anon.text


def test_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium is absent: install it with `apt-get install -y chromium` to run this test")
    with NsxSimulator(tls=False, password=PASSWORD) as sim:
        _populate(Api(sim))
        shot = tmp_path / "nsx-sim-page.png"
        url = f"http://admin:{PASSWORD}@127.0.0.1:{sim.port}/"
        proc = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
             f"--screenshot={shot}", "--window-size=1280,900", url],
            check=False, capture_output=True, text=True, timeout=60)
        assert shot.is_file() and shot.stat().st_size > 5000, proc.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # The browser really fetched the page with the credentials (not a 403 error page).
        pages = [r for r in sim.state.requests if r.path == "/" and r.method == "GET"]
        assert any(r.status == 200 for r in pages), pages
