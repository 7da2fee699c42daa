"""The real kubectl 1.32 (and its kustomize) against the emulator, with default validation."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import uuid

import pytest


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def test_version_and_shortname_get(kubectl, core, ns):
    out = json.loads(kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["minor"] == "32"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "seen"}})
    names = kubectl("get", "cm", "-n", ns, "-o", "name").stdout.split()
    assert names == ["configmap/seen"]


def test_apply_create_update_unchanged_delete(kubectl, core, ns, workdir):
    manifest = workdir / "dep.yaml"

    def write(image):
        manifest.write_text(textwrap.dedent(f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              namespace: {ns}
            spec:
              selector:
                matchLabels: {{app: web}}
              template:
                metadata:
                  labels: {{app: web}}
                spec:
                  containers:
                  - name: web
                    image: {image}
                    envFrom:
                    - configMapRef: {{name: web-env}}
            """))

    write("nginx:1")
    assert "deployment.apps/web created" in kubectl("apply", "-f", str(manifest)).stdout
    assert "unchanged" in kubectl("apply", "-f", str(manifest)).stdout
    write("nginx:2")
    assert "configured" in kubectl("apply", "-f", str(manifest)).stdout
    got = json.loads(kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    container = got["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:2" and container["envFrom"] == [{"configMapRef": {"name": "web-env"}}]
    assert got["metadata"]["generation"] == 2
    assert "deleted" in kubectl("delete", "-f", str(manifest)).stdout
    assert kubectl("get", "deploy", "web", "-n", ns, check=False).returncode != 0


def test_crd_apply_wait_and_get_by_shortname(kubectl, workdir, ns):
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    (workdir / "crd.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: gizmos.{group}
        spec:
          group: {group}
          scope: Namespaced
          names: {{plural: gizmos, singular: gizmo, kind: Gizmo, shortNames: [gz]}}
          versions:
          - name: v1
            served: true
            storage: true
            additionalPrinterColumns:
            - {{name: Size, type: integer, jsonPath: .spec.size}}
            - {{name: Age, type: date, jsonPath: .metadata.creationTimestamp}}
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    properties:
                      size: {{type: integer}}
        """))
    kubectl("apply", "-f", str(workdir / "crd.yaml"))
    kubectl("wait", "--for=condition=Established", f"crd/gizmos.{group}", "--timeout=10s")
    (workdir / "cr.yaml").write_text(f"apiVersion: {group}/v1\nkind: Gizmo\nmetadata:\n  name: g1\n"
                                     f"  namespace: {ns}\nspec:\n  size: 2\n")
    kubectl("apply", "-f", str(workdir / "cr.yaml"))
    assert kubectl("get", "gz", "-n", ns, "-o", "name").stdout.split() == [f"gizmo.{group}/g1"]
    table = kubectl("get", "gz", "-n", ns).stdout.splitlines()  # server-side Table with printer columns
    assert table[0].split() == ["NAME", "SIZE", "AGE"] and table[1].split()[:2] == ["g1", "2"]
    bad = workdir / "bad.yaml"
    bad.write_text(f"apiVersion: {group}/v1\nkind: Gizmo\nmetadata:\n  name: g2\n  namespace: {ns}\n"
                   "spec:\n  size: 2\n  bogus: 1\n")
    failed = kubectl("apply", "-f", str(bad), check=False)
    assert failed.returncode != 0 and 'unknown field "spec.bogus"' in failed.stderr
    kubectl("apply", "--server-side", "-f", str(workdir / "cr.yaml"))
    kubectl("delete", "-f", str(workdir / "crd.yaml"))
    assert kubectl("get", f"crd/gizmos.{group}", check=False).returncode != 0


def test_apply_kustomization(kubectl, api, workdir):
    from kubernetes import client

    ns = f"k-{uuid.uuid4().hex[:8]}"
    kdir = workdir / "kust"
    kdir.mkdir()
    (kdir / "kustomization.yaml").write_text(textwrap.dedent(f"""\
        namespace: {ns}
        namePrefix: demo-
        resources: [ns.yaml, rbac.yaml, sa.yaml]
        configMapGenerator:
        - name: settings
          literals: [mode=test]
        """))
    (kdir / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    (kdir / "sa.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: adapter\n")
    (kdir / "rbac.yaml").write_text(textwrap.dedent("""\
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: 'adapter:reader'}
        rules:
        - apiGroups: [""]
          resources: [pods]
          verbs: [get, list, watch]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: adapter}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'adapter:reader'}
        subjects: [{kind: ServiceAccount, name: adapter}]
        """))
    out = kubectl("apply", "-k", str(kdir)).stdout
    assert f"namespace/{ns} created" in out
    cms = client.CoreV1Api(api).list_namespaced_config_map(ns).items
    assert [c.data for c in cms if c.metadata.name.startswith("demo-settings-")] == [{"mode": "test"}]
    assert client.CoreV1Api(api).read_namespaced_service_account("demo-adapter", ns)
    crb = client.RbacAuthorizationV1Api(api).read_cluster_role_binding("demo-adapter")
    assert crb.subjects[0].namespace == ns and crb.role_ref.name == "demo-adapter:reader"


def test_get_watch_streams_events(kubectl, core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "w0"}})
    proc = subprocess.Popen([kubectl.binary, "get", "cm", "-n", ns, "-w", "-o", "name"], env=kubectl.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == "configmap/w0"
        time.sleep(0.2)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "w1"}})
        assert proc.stdout.readline().strip() == "configmap/w1"
    finally:
        proc.kill()
        proc.wait(5)


def test_get_watch_default_table_output(kubectl, core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "t0"}})
    proc = subprocess.Popen([kubectl.binary, "get", "cm", "-n", ns, "-w"], env=kubectl.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["NAME", "AGE"]
        assert proc.stdout.readline().split()[0] == "t0"
        core.create_namespaced_config_map(ns, {"metadata": {"name": "t1"}})
        assert proc.stdout.readline().split()[0] == "t1"
    finally:
        proc.kill()
        proc.wait(5)
