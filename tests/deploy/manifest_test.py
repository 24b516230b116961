#!/usr/bin/env python3
"""Checks deploy/ (Kustomize base, overlays, TLS component) against the daemons themselves.

Each overlay is rendered by kustomize_lite.py (no kubectl in CI). The checks: every flag
exists in the daemon's --help; addresses, ports, Service, probes, volumes and secrets agree
with the flags; images, security and resources are set; the alerts use only metrics quenchd
exports and pass promtool. Finally each rendering's quenchd and worker command lines are run
for real, on loopback, in a sandbox that stands in for the pod's volumes: the worker must
connect (with the token, and over TLS where the overlay says so) and both must exit cleanly
on SIGTERM.

    python3 tests/deploy/manifest_test.py --bin-dir build/bin   (or QUENCH_BIN_DIR=...)
"""
import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import kustomize_lite  # noqa: E402
import promql_names  # noqa: E402
from daemons import Daemon, start_quenchd, wait_for  # noqa: E402  (tests/python)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ALERT_CASES = Path(__file__).resolve().parent / "alert_cases.yaml"
BIN_DIR = Path(os.environ.get("QUENCH_BIN_DIR", REPO / "build" / "bin"))

# What deploy/README.md promises. quenchd: gRPC shutdown gives in-flight calls 5 s
# (server/coordinator.cc), plus the runners' stop: at least 15 s. A worker finishes its
# current task, minutes on a large model: at least 120 s.
MIN_GRACE_S = {"quenchd": 15, "quench-worker": 120}
UID = 10001
TOKEN_SECRET_KEYS = {"token"}


class Rendering:
    """One overlay as rendered, and what the checks expect of it."""

    def __init__(self, name, objects, gpu_resource=None, device=None,
                 worker_image="quench/quench-worker-cuda", tls=False):
        self.name, self.objects = name, objects
        self.gpu_resource, self.device = gpu_resource, device
        self.worker_image, self.tls = worker_image, tls

    def get(self, kind, name):
        for o in self.objects:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                return o
        raise AssertionError(f"{self.name}: no {kind} {name}")

    def all(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def pod(self, deployment):
        return self.get("Deployment", deployment)["spec"]["template"]["spec"]

    def container(self, deployment):
        containers = self.pod(deployment)["containers"]
        assert len(containers) == 1, f"{self.name}: {deployment} has {len(containers)} containers"
        return containers[0]


def renderings():
    nvidia = kustomize_lite.render(DEPLOY / "overlays/nvidia")
    amd = kustomize_lite.render(DEPLOY / "overlays/amd")
    tls = DEPLOY / "components/tls"
    return [
        Rendering("base", kustomize_lite.render(DEPLOY / "base")),
        Rendering("overlays/nvidia", nvidia, "nvidia.com/gpu", "cuda:0"),
        Rendering("overlays/amd", amd, "amd.com/gpu", "hip:0", "quench/quench-worker-rocm"),
        Rendering("overlays/tls", kustomize_lite.render(DEPLOY / "overlays/tls"),
                  "nvidia.com/gpu", "cuda:0", tls=True),
        # Not a directory: proves the component composes with the other vendor too.
        Rendering("overlays/amd + components/tls", kustomize_lite.apply_component(tls, amd),
                  "amd.com/gpu", "hip:0", "quench/quench-worker-rocm", tls=True),
    ]


# --- flags --------------------------------------------------------------------------------

_HELP_FLAGS = {}


def help_flags(daemon):
    """The --long options in `<daemon> --help` (CLI11 lists one per line)."""
    if daemon not in _HELP_FLAGS:
        binary = BIN_DIR / daemon
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"{binary} is missing: pass --bin-dir (or QUENCH_BIN_DIR)")
        out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
        flags = set(re.findall(r"^\s+(?:-\w,)?(--[\w-]+)", out.stdout, re.M))
        if out.returncode != 0 or "--help" not in flags:
            raise AssertionError(f"{binary} --help did not list its flags:\n{out.stdout}"
                                 f"{out.stderr}")
        _HELP_FLAGS[daemon] = flags
    return _HELP_FLAGS[daemon]


def daemon_of(container):
    command = container.get("command") or []
    if not command:
        raise AssertionError(f"container {container['name']} sets no command: name the daemon")
    return Path(command[0]).name


def parse_flags(container):
    """[(flag, value)] from command[1:] + args; `--flag=value` or `--flag value`."""
    words = list(container.get("command", [])[1:]) + list(container.get("args", []))
    flags, i = [], 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            raise AssertionError(f"container {container['name']}: stray argument {word!r}")
        if "=" in word:
            flags.append(tuple(word.split("=", 1)))
        elif i + 1 < len(words) and not words[i + 1].startswith("-"):
            flags.append((word, words[i + 1]))
            i += 1
        else:
            flags.append((word, None))
        i += 1
    return flags


def flag(container, name):
    """The value of a flag given once (None if absent)."""
    values = [v for f, v in parse_flags(container) if f == name]
    if len(values) > 1:
        raise AssertionError(f"container {container['name']}: {name} given {len(values)} times")
    return values[0] if values else None


def flag_problems(rendering):
    problems = []
    for deployment in rendering.all("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            daemon = daemon_of(container)
            if daemon not in ("quenchd", "quench-worker"):
                problems.append(f"{container['name']}: command {daemon} is no Quench daemon")
                continue
            known = help_flags(daemon)
            env = {e["name"] for e in container.get("env", [])}
            for name, value in parse_flags(container):
                if name not in known:
                    problems.append(f"{container['name']}: {name} is not a flag of {daemon} "
                                    f"(its --help lists {', '.join(sorted(known))})")
                # Kubernetes leaves an undefined $(VAR) as it is, silently.
                for var in re.findall(r"\$\((\w+)\)", value or ""):
                    if var not in env:
                        problems.append(f"{container['name']}: {name} uses $({var}), which "
                                        "the container's env does not define")
    return problems


# --- ports ----------------------------------------------------------------------------------

HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d+)$")


def host_port(value):
    match = HOST_PORT.match(value or "")
    return (match.group(1), int(match.group(2))) if match else None


def container_port(container, port):
    """The containerPort a probe's or Service's port (number or name) means, or None."""
    for p in container.get("ports", []):
        if port in (p["containerPort"], p.get("name")):
            return p["containerPort"]
    return None


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def port_problems(r):
    problems = []
    quenchd = r.container("quenchd")
    declared = {p["containerPort"] for p in quenchd.get("ports", [])}
    for name, value in parse_flags(quenchd):
        address = host_port(value)
        if address and address[1] not in declared:
            problems.append(f"quenchd {name}={value}: port {address[1]} is no containerPort "
                            f"({sorted(declared)})")
        if address and name in ("--listen", "--http-listen") and address[0] not in (
                "0.0.0.0", "[::]", ""):
            problems.append(f"quenchd {name}={value}: listens on {address[0]} only, not "
                            "reachable from other pods")
    grpc_port = (host_port(flag(quenchd, "--listen")) or (None, None))[1]
    http_port = (host_port(flag(quenchd, "--http-listen")) or (None, None))[1]
    if grpc_port is None or http_port is None:
        problems.append("quenchd needs --listen and --http-listen as HOST:PORT")
        return problems

    service = r.get("Service", "quenchd")
    quenchd_labels = r.get("Deployment", "quenchd")["spec"]["template"]["metadata"]["labels"]
    if not selects(service["spec"]["selector"], quenchd_labels):
        problems.append(f"Service quenchd's selector {service['spec']['selector']} misses the "
                        f"quenchd pods ({quenchd_labels})")
    exposed = set()
    for p in service["spec"]["ports"]:
        target = container_port(quenchd, p.get("targetPort", p["port"]))
        if target is None:
            problems.append(f"Service quenchd port {p['name']}: targetPort {p.get('targetPort')}"
                            " is no containerPort of quenchd")
        exposed.add(target)
    if declared - exposed:
        problems.append(f"quenchd containerPorts {sorted(declared - exposed)} not in the Service")

    readiness = quenchd.get("readinessProbe", {}).get("httpGet")
    if not readiness or readiness.get("path") != "/readyz" or container_port(
            quenchd, readiness.get("port")) != http_port:
        problems.append(f"quenchd readinessProbe must be httpGet /readyz on {http_port} "
                        f"(--http-listen), is {quenchd.get('readinessProbe')}")
    liveness = quenchd.get("livenessProbe", {})
    if flag(quenchd, "--tls-cert"):
        # The kubelet's gRPC probe has no TLS: it would fail against a TLS server.
        if "grpc" in liveness or container_port(
                quenchd, liveness.get("tcpSocket", {}).get("port")) != grpc_port:
            problems.append(f"with --tls-cert quenchd's livenessProbe must be tcpSocket on "
                            f"{grpc_port}, not grpc: {liveness}")
    elif liveness.get("grpc", {}).get("port") != grpc_port:
        problems.append(f"quenchd livenessProbe must be grpc on {grpc_port} (--listen): "
                        f"{liveness}")

    worker = r.container("quench-worker")
    coordinator = host_port(flag(worker, "--coordinator"))
    if coordinator is None:
        problems.append("quench-worker needs --coordinator HOST:PORT")
    else:
        host, port = coordinator
        services = {s["metadata"]["name"]: s for s in r.all("Service")}
        ports = {p["port"]: p for p in services.get(host, {}).get("spec", {}).get("ports", [])}
        if host not in services:
            problems.append(f"quench-worker --coordinator {host}: no Service {host}")
        elif port not in ports:
            problems.append(f"quench-worker --coordinator port {port}: Service {host} has "
                            f"{sorted(ports)}")
        elif container_port(quenchd, ports[port].get("targetPort", port)) != grpc_port:
            problems.append(f"quench-worker --coordinator {host}:{port} does not reach "
                            f"quenchd's gRPC port {grpc_port}")
    return problems


# --- volumes --------------------------------------------------------------------------------

def mount_of(pod, container, path):
    """(volume, mount, path inside the mount) for an absolute path, or None."""
    best = None
    for m in container.get("volumeMounts", []):
        root = m["mountPath"].rstrip("/")
        if path == root or path.startswith(root + "/"):
            if best is None or len(root) > len(best["mountPath"].rstrip("/")):
                best = m
    if best is None:
        return None
    volume = next(v for v in pod["volumes"] if v["name"] == best["name"])
    return volume, best, path[len(best["mountPath"].rstrip("/")):].lstrip("/")


def secret_file_problems(r, deployment, flag_name, expected_keys, forbidden_keys=()):
    """The flag names a file of a Secret volume; returns (problems, secretName)."""
    pod, container = r.pod(deployment), r.container(deployment)
    path = flag(container, flag_name)
    if not path:
        return [f"{deployment} has no {flag_name}"], None
    found = mount_of(pod, container, path)
    if not found or "secret" not in found[0]:
        return [f"{deployment} {flag_name}={path} is not in a mounted Secret"], None
    volume, mount, inside = found
    items = {i["path"]: i["key"] for i in volume["secret"].get("items", [])}
    problems = []
    if not mount.get("readOnly"):
        problems.append(f"{deployment}: mount {mount['mountPath']} should be readOnly")
    if items.get(inside) not in expected_keys:
        problems.append(f"{deployment} {flag_name}={path}: Secret {volume['secret']['secretName']}"
                        f" items {items} project no key of {sorted(expected_keys)} there")
    leaked = set(items.values()) & set(forbidden_keys)
    if leaked:
        problems.append(f"{deployment} gets Secret keys {sorted(leaked)} it must not hold")
    return problems, volume["secret"]["secretName"]


def volume_problems(r):
    problems = []
    pods = {d: (r.pod(d), r.container(d)) for d in ("quenchd", "quench-worker")}
    for deployment, (pod, container) in pods.items():
        for name, value in parse_flags(container):
            if value and value.startswith("/") and not mount_of(pod, container, value):
                problems.append(f"{deployment} {name}={value} is in no volume (the image's "
                                "read-only file system)")

    pod, quenchd = pods["quenchd"]
    data_dir = flag(quenchd, "--data-dir")
    found = mount_of(pod, quenchd, data_dir or "")
    claims = {c["metadata"]["name"]: c for c in r.all("PersistentVolumeClaim")}
    if not found or found[2] or "persistentVolumeClaim" not in found[0]:
        problems.append(f"quenchd --data-dir={data_dir} must be the mountPath of a PVC volume")
    else:
        claim = claims.get(found[0]["persistentVolumeClaim"]["claimName"])
        if claim is None or claim["spec"].get("accessModes") != ["ReadWriteOnce"]:
            problems.append("quenchd's data volume must be a PVC of this rendering with "
                            "accessModes [ReadWriteOnce]")
        if found[1].get("readOnly"):
            problems.append("quenchd's data volume is mounted readOnly")
    spec = r.get("Deployment", "quenchd")["spec"]
    if spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
        problems.append("quenchd must be replicas 1 with strategy Recreate (one job store, "
                        "a ReadWriteOnce volume)")

    roots = [v for f, v in parse_flags(quenchd) if f == "--model-root"]
    if not roots:
        problems.append("quenchd has no --model-root: it would refuse every job")
    worker_pod, worker = pods["quench-worker"]
    for root in roots:
        theirs = mount_of(pod, quenchd, root)
        mine = mount_of(worker_pod, worker, root)
        if not theirs or theirs[2] or "persistentVolumeClaim" not in theirs[0]:
            problems.append(f"quenchd --model-root={root} must be the mountPath of a PVC")
            continue
        if not mine or mine[2] or mine[0].get("persistentVolumeClaim", {}).get(
                "claimName") != theirs[0]["persistentVolumeClaim"]["claimName"]:
            problems.append(f"quench-worker must mount quenchd's model volume at {root} too "
                            "(workers open the paths the coordinator names)")
        elif not mine[1].get("readOnly"):
            problems.append(f"quench-worker mounts the model volume at {root} writable")

    token_problems, quenchd_token = secret_file_problems(r, "quenchd", "--token-file",
                                                         TOKEN_SECRET_KEYS)
    worker_problems, worker_token = secret_file_problems(r, "quench-worker", "--token-file",
                                                         TOKEN_SECRET_KEYS)
    problems += token_problems + worker_problems
    if quenchd_token != worker_token:
        problems.append(f"quenchd reads the token from Secret {quenchd_token}, the workers "
                        f"from {worker_token}")

    if r.tls:
        cert, cert_secret = secret_file_problems(r, "quenchd", "--tls-cert", {"tls.crt"})
        key, _ = secret_file_problems(r, "quenchd", "--tls-key", {"tls.key"})
        ca, ca_secret = secret_file_problems(r, "quench-worker", "--tls-ca", {"ca.crt"},
                                             forbidden_keys={"tls.key"})
        problems += cert + key + ca
        if cert_secret != ca_secret:
            problems.append(f"the certificate (Secret {cert_secret}) and the workers' CA "
                            f"(Secret {ca_secret}) should come from one Secret")
    else:
        for deployment, name in (("quenchd", "--tls-cert"), ("quench-worker", "--tls-ca")):
            if flag(pods[deployment][1], name):
                problems.append(f"{r.name} is not a TLS rendering but {deployment} has {name}")
    return problems


# --- images, security, resources, grace ---------------------------------------------------

def pod_problems(r):
    problems = []
    expected = {"quenchd": "quench/quenchd", "quench-worker": r.worker_image}
    tags = set()
    for deployment, image_name in expected.items():
        pod, container = r.pod(deployment), r.container(deployment)
        name, tag = kustomize_lite.split_image(container["image"])
        if name != image_name:
            problems.append(f"{deployment}: image {name}, expected {image_name}")
        if not tag or tag == "latest":
            problems.append(f"{deployment}: image {container['image']} needs a release tag")
        tags.add(tag)

        security = pod.get("securityContext", {})
        if not (security.get("runAsNonRoot") and security.get("runAsUser") == UID
                and security.get("fsGroup") == UID):
            problems.append(f"{deployment}: pod securityContext needs runAsNonRoot, runAsUser "
                            f"and fsGroup {UID}: {security}")
        c_security = container.get("securityContext", {})
        if not c_security.get("readOnlyRootFilesystem") or c_security.get(
                "allowPrivilegeEscalation") is not False:
            problems.append(f"{deployment}: container needs readOnlyRootFilesystem and "
                            "allowPrivilegeEscalation false")
        tmp = mount_of(pod, container, "/tmp")
        if not tmp or tmp[2] or "emptyDir" not in tmp[0]:
            problems.append(f"{deployment}: /tmp must be an emptyDir (read-only root)")

        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{deployment}: no {kind}.{resource}")

        grace = pod.get("terminationGracePeriodSeconds")
        if grace is None or grace < MIN_GRACE_S[deployment]:
            problems.append(f"{deployment}: terminationGracePeriodSeconds {grace} is below its "
                            f"drain time ({MIN_GRACE_S[deployment]} s, deploy/README.md)")
    if len(tags) != 1:
        problems.append(f"coordinator and workers must run one release, tags are {tags}")

    worker = r.container("quench-worker")
    resources = worker.get("resources", {})
    gpus = {k for part in resources.values() for k in part if k.endswith("/gpu")}
    device = flag(worker, "--device")
    if r.gpu_resource is None:
        if gpus or device not in (None, "cpu"):
            problems.append(f"{r.name}: CPU workers should ask for no GPU ({gpus}, {device})")
    else:
        request = resources.get("requests", {}).get(r.gpu_resource)
        limit = resources.get("limits", {}).get(r.gpu_resource)
        if str(request) != "1" or str(limit) != "1":
            problems.append(f"{r.name}: worker needs requests and limits {r.gpu_resource}: 1 "
                            f"(has {request}, {limit})")
        if gpus != {r.gpu_resource}:
            problems.append(f"{r.name}: worker asks for {sorted(gpus)}, only {r.gpu_resource}")
        if device != r.device:
            problems.append(f"{r.name}: worker --device={device}, expected {r.device} (the "
                            "pod's one GPU)")
    return problems


# --- monitoring -----------------------------------------------------------------------------

def monitoring_problems(r, exported):
    problems = []
    service = r.get("Service", "quenchd")
    monitor = r.get("ServiceMonitor", "quenchd")
    if not selects(monitor["spec"]["selector"].get("matchLabels", {}),
                   service["metadata"].get("labels", {})):
        problems.append(f"ServiceMonitor selector {monitor['spec']['selector']} misses the "
                        f"quenchd Service's labels {service['metadata'].get('labels')}")
    if monitor["spec"].get("namespaceSelector") or monitor["metadata"].get(
            "namespace") != service["metadata"].get("namespace"):
        problems.append("the ServiceMonitor should sit in quenchd's namespace and select there")
    quenchd = r.container("quenchd")
    http_port = (host_port(flag(quenchd, "--http-listen")) or (None, None))[1]
    by_name = {p["name"]: p for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        port = by_name.get(endpoint.get("port"))
        if port is None:
            problems.append(f"ServiceMonitor port {endpoint.get('port')} is not a port name of "
                            f"Service quenchd ({sorted(by_name)})")
        elif container_port(quenchd, port.get("targetPort", port["port"])) != http_port:
            problems.append(f"ServiceMonitor port {endpoint['port']} is not quenchd's HTTP port")
        if endpoint.get("path", "/metrics") != "/metrics":
            problems.append(f"ServiceMonitor path {endpoint['path']}: quenchd serves /metrics")
    for group in r.get("PrometheusRule", "quench")["spec"]["groups"]:
        for rule in group["rules"]:
            where = rule.get("alert") or rule.get("record")
            for problem in promql_names.unknown_series(str(rule["expr"]), exported):
                problems.append(f"PrometheusRule {where}: {problem}")
    return problems


# --- a real quenchd -------------------------------------------------------------------------

def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


_EXPORTED = []


def exported_metrics():
    """{metric name: {label: {values}}} from a fresh quenchd's /metrics (zero series too)."""
    if not _EXPORTED:
        with tempfile.TemporaryDirectory() as directory:
            daemon, ready = start_quenchd(
                [str(BIN_DIR / "quenchd"), "--listen=127.0.0.1:0", "--http-listen=127.0.0.1:0",
                 f"--data-dir={directory}/data"], directory)
            try:
                status, text = http_get(ready["http_port"], "/metrics")
            finally:
                daemon.stop(15)
        if status != 200:
            raise AssertionError(f"/metrics answered {status}")
        _EXPORTED.append(promql_names.parse_exposition(text))
    return _EXPORTED[0]


def promtool():
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool is missing: install Debian's prometheus package "
                             "(scripts/packages.txt, scripts/setup)")
    return path


# --- the tests ------------------------------------------------------------------------------

def setUpModule():
    for daemon in ("quenchd", "quench-worker"):
        if not os.access(BIN_DIR / daemon, os.X_OK):
            raise AssertionError(f"{BIN_DIR / daemon} is missing: pass --bin-dir (or set "
                                 "QUENCH_BIN_DIR) to where the daemons are built")


class ManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.renderings = renderings()

    def check(self, problems_of):
        for r in self.renderings:
            with self.subTest(rendering=r.name):
                problems = problems_of(r)
                if problems:
                    self.fail(f"{r.name}:\n  " + "\n  ".join(problems))

    def test_flags_exist(self):
        self.check(flag_problems)

    def test_ports_service_and_probes(self):
        self.check(port_problems)

    def test_volumes_and_secrets(self):
        self.check(volume_problems)

    def test_images_security_resources_grace(self):
        self.check(pod_problems)

    def test_monitoring(self):
        exported = exported_metrics()
        self.check(lambda r: monitoring_problems(r, exported))

    def test_promtool_checks_and_unit_tests_the_rules(self):
        rule = kustomize_lite.render(DEPLOY / "base")
        groups = next(o for o in rule if o["kind"] == "PrometheusRule")["spec"]["groups"]
        with tempfile.TemporaryDirectory() as directory:
            rules = Path(directory) / "rules.yaml"
            rules.write_text(yaml.safe_dump({"groups": groups}))
            checked = subprocess.run([promtool(), "check", "rules", str(rules)],
                                     capture_output=True, text=True)
            self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
            cases = yaml.safe_load(ALERT_CASES.read_text())
            cases["rule_files"] = [str(rules)]
            unit = Path(directory) / "alert_cases.yaml"
            unit.write_text(yaml.safe_dump(cases))
            tested = subprocess.run([promtool(), "test", "rules", str(unit)],
                                    capture_output=True, text=True)
            self.assertEqual(tested.returncode, 0, tested.stdout + tested.stderr)

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed (optional)")
    def test_kustomize_lite_renders_what_kubectl_renders(self):
        """Where kubectl exists, the test's renderer must agree with the real Kustomize."""
        for r in self.renderings:
            if "+" in r.name:
                continue
            with self.subTest(rendering=r.name):
                out = subprocess.run(["kubectl", "kustomize", str(DEPLOY / r.name)],
                                     capture_output=True, text=True, check=True).stdout
                key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
                real = {key(o): o for o in yaml.safe_load_all(out) if o}
                mine = {key(o): o for o in r.objects}
                self.assertEqual(sorted(real), sorted(mine))
                for k in real:
                    self.assertEqual(mine[k], real[k], f"{k} differs from kubectl kustomize")


class ChecksCanFailTest(unittest.TestCase):
    """Each check reports a broken manifest: a check that cannot fail proves nothing."""

    def broken(self, edit):
        r = renderings()[3]  # overlays/tls: every feature at once
        edit(r)
        return r

    def assertReports(self, problems, text):
        self.assertTrue(any(text in p for p in problems),
                        f"no problem mentions {text!r}: {problems}")

    def test_misspelled_flag(self):
        def edit(r):
            r.container("quenchd")["args"][0] = "--lisen=0.0.0.0:7070"
        self.assertReports(flag_problems(self.broken(edit)), "--lisen")

    def test_undefined_env_reference(self):
        def edit(r):
            r.container("quench-worker")["env"] = []
        self.assertReports(flag_problems(self.broken(edit)), "$(POD_NAME)")

    def test_port_without_container_port(self):
        def edit(r):
            r.container("quenchd")["args"][1] = "--http-listen=0.0.0.0:9091"
        self.assertReports(port_problems(self.broken(edit)), "9091")

    def test_grpc_probe_with_tls(self):
        def edit(r):
            r.container("quenchd")["livenessProbe"] = {"grpc": {"port": 7070}}
        self.assertReports(port_problems(self.broken(edit)), "tcpSocket")

    def test_worker_dials_wrong_port(self):
        def edit(r):
            r.container("quench-worker")["args"][0] = "--coordinator=quenchd:9090"
        self.assertReports(port_problems(self.broken(edit)), "gRPC port")

    def test_model_volume_elsewhere_in_workers(self):
        def edit(r):
            r.container("quench-worker")["volumeMounts"][0]["mountPath"] = "/data/models"
        self.assertReports(volume_problems(self.broken(edit)), "model volume")

    def test_worker_holding_the_server_key(self):
        def edit(r):
            tls = next(v for v in r.pod("quench-worker")["volumes"] if v["name"] == "tls")
            tls["secret"]["items"].append({"key": "tls.key", "path": "tls.key"})
        self.assertReports(volume_problems(self.broken(edit)), "must not hold")

    def test_latest_tag_and_missing_gpu_limit(self):
        def edit(r):
            r.container("quenchd")["image"] = "quench/quenchd:latest"
            del r.container("quench-worker")["resources"]["limits"]["nvidia.com/gpu"]
        problems = pod_problems(self.broken(edit))
        self.assertReports(problems, "release tag")
        self.assertReports(problems, "nvidia.com/gpu")

    def test_short_grace_period(self):
        def edit(r):
            r.pod("quench-worker")["terminationGracePeriodSeconds"] = 30
        self.assertReports(pod_problems(self.broken(edit)), "terminationGracePeriodSeconds")

    def test_alert_on_a_metric_quenchd_lacks(self):
        def edit(r):
            rules = r.get("PrometheusRule", "quench")["spec"]["groups"][0]["rules"]
            rules[1]["expr"] = 'quench_job_failures_total > 0 or quench_jobs{status="x"} > 0'
        problems = monitoring_problems(self.broken(edit), exported_metrics())
        self.assertReports(problems, "quench_job_failures_total")
        self.assertReports(problems, "status")

    def test_service_monitor_on_a_missing_port(self):
        def edit(r):
            r.get("ServiceMonitor", "quenchd")["spec"]["endpoints"][0]["port"] = "metrics"
        self.assertReports(monitoring_problems(self.broken(edit), exported_metrics()),
                           "metrics")

    def test_patch_whose_test_fails(self):
        with tempfile.TemporaryDirectory() as directory:
            component = Path(directory) / "tls"
            shutil.copytree(DEPLOY / "components/tls", component)
            patch = component / "quenchd-tls.yaml"
            patch.write_text(patch.read_text().replace("value: quenchd", "value: quench"))
            with self.assertRaises(kustomize_lite.KustomizeError):
                kustomize_lite.apply_component(component, renderings()[0].objects)


# --- the rendered command lines, run --------------------------------------------------------

class Sandbox:
    """Host directories standing in for a rendering's volumes, shared across its pods as the
    cluster shares them: one directory per PVC or Secret, one per pod for an emptyDir."""

    def __init__(self, root, tls_files):
        self.root, self.tls_files = Path(root), tls_files
        self.token = secrets.token_urlsafe(24)

    def volume_dir(self, pod_name, volume):
        if "persistentVolumeClaim" in volume:
            path = self.root / "pvc" / volume["persistentVolumeClaim"]["claimName"]
        elif "secret" in volume:
            path = self.root / "secret" / volume["secret"]["secretName"] / pod_name
            path.mkdir(parents=True, exist_ok=True)
            for item in volume["secret"].get("items", []):
                target = path / item["path"]
                if item["key"] == "token":
                    target.write_text(self.token + "\n")  # Secrets often end in a newline
                else:
                    shutil.copy(self.tls_files[item["key"]], target)
        else:
            path = self.root / "emptyDir" / pod_name / volume["name"]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def host_path(self, pod_name, pod, container, path):
        found = mount_of(pod, container, path)
        if not found:
            return path
        volume, _, inside = found
        return str(self.volume_dir(pod_name, volume) / inside)

    def command(self, pod_name, pod, container, replace):
        """argv and env of the container here: paths into the sandbox, $(VAR) expanded,
        flags in `replace` given other values."""
        env = {}
        for e in container.get("env", []):
            source = e.get("valueFrom", {})
            if "fieldRef" in source:
                env[e["name"]] = f"{pod_name}-0"
            elif "resourceFieldRef" in source:
                env[e["name"]] = "2"
            else:
                value = e["value"]
                env[e["name"]] = (self.host_path(pod_name, pod, container, value)
                                  if value.startswith("/") else value)
        argv = [str(BIN_DIR / daemon_of(container))]
        for name, value in parse_flags(container):
            value = replace.get(name, value)
            value = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value or "")
            if value.startswith("/"):
                value = self.host_path(pod_name, pod, container, value)
            argv.append(f"{name}={value}")
        return argv, dict(os.environ, **env)


def make_tls_files(directory):
    """A self-signed certificate for the names workers dial: quenchd, and localhost here."""
    key, cert = Path(directory) / "tls.key", Path(directory) / "tls.crt"
    try:
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=quenchd", "-addext",
             "subjectAltName=DNS:quenchd,DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    except FileNotFoundError:
        raise AssertionError("openssl is missing (scripts/packages.txt, scripts/setup)")
    if made.returncode != 0:
        raise AssertionError(made.stderr)
    return {"tls.key": key, "tls.crt": cert, "ca.crt": cert}


class RenderedCommandsRunTest(unittest.TestCase):
    """quenchd and a worker started with each rendering's own args, env and (stand-in)
    volumes. Only what cannot work off-cluster changes: listen addresses become loopback
    port 0, the worker dials that port, and a GPU --device becomes cpu (no GPU here)."""

    def test_worker_connects_and_both_drain(self):
        for r in renderings():
            with self.subTest(rendering=r.name), tempfile.TemporaryDirectory() as directory:
                self.run_rendering(r, directory)

    def run_rendering(self, r, directory):
        sandbox = Sandbox(directory, make_tls_files(directory) if r.tls else {})
        argv, env = sandbox.command(
            "quenchd", r.pod("quenchd"), r.container("quenchd"),
            {"--listen": "127.0.0.1:0", "--http-listen": "127.0.0.1:0"})
        quenchd, ready = start_quenchd(argv, directory, env)
        worker = None
        try:
            self.assertEqual(http_get(ready["http_port"], "/readyz")[0], 200)
            argv, env = sandbox.command(
                "quench-worker", r.pod("quench-worker"), r.container("quench-worker"),
                {"--coordinator": f"localhost:{ready['grpc_port']}", "--device": "cpu"})
            worker = Daemon(argv, Path(directory) / "worker.log", env)

            def connected():
                if worker.process.poll() is not None:
                    raise AssertionError(f"the worker exited:\n{worker.output()}")
                text = http_get(ready["http_port"], "/metrics")[1]
                return re.search(r"^quench_workers_connected\{[^}]*\} [1-9]", text, re.M)
            try:
                wait_for(connected, 20, "the worker to connect")
            except AssertionError as e:
                raise AssertionError(f"{e}\nworker: {argv}\n{worker.output()}\n"
                                     f"quenchd:\n{quenchd.output()}")
            # Idle, both must leave well within their grace periods.
            grace = {d: r.pod(d)["terminationGracePeriodSeconds"] for d in MIN_GRACE_S}
            self.assertEqual(worker.stop(min(grace["quench-worker"], 20)), 0, worker.output())
            self.assertEqual(quenchd.stop(min(grace["quenchd"], 20)), 0, quenchd.output())
        finally:
            if worker:
                worker.stop(5)
            quenchd.stop(5)


def main():
    global BIN_DIR
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bin-dir", type=Path, default=BIN_DIR,
                        help="where quenchd and quench-worker are (default $QUENCH_BIN_DIR, "
                             "then build/bin)")
    options, rest = parser.parse_known_args()
    BIN_DIR = options.bin_dir.resolve()
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
