"""The part of Kustomize that deploy/ uses, so CI can render the manifests without kubectl.

Supported: `resources` (files and directories), `components`, `namespace`, `images`
(newName/newTag), `replicas`, and `patches` given as JSON 6902 operation lists (add, remove,
replace, test) with a kind+name target. Anything else in a kustomization is an error rather
than silently ignored: the test must render what `kubectl kustomize` renders.
"""
import copy
from pathlib import Path

import yaml

SUPPORTED_KEYS = {
    "apiVersion", "kind", "resources", "components", "namespace", "images", "replicas", "patches"
}


class KustomizeError(Exception):
    pass


def render(directory):
    """The objects `kubectl kustomize <directory>` would print (in file order)."""
    return _build(Path(directory), [], expected_kind="Kustomization")


def apply_component(directory, objects):
    """`objects` with the Component in `directory` applied, as an overlay listing it would."""
    return _build(Path(directory), copy.deepcopy(objects), expected_kind="Component")


def _build(directory, objects, expected_kind):
    path = directory / "kustomization.yaml"
    with open(path) as f:
        kustomization = yaml.safe_load(f) or {}
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{path}: {sorted(unknown)} not supported by kustomize_lite.py; "
                             "teach it, or keep deploy/ to what it supports")
    kind = kustomization.get("kind", "Kustomization")
    if kind != expected_kind:
        raise KustomizeError(f"{path}: kind {kind}, expected {expected_kind}")
    for resource in kustomization.get("resources", []):
        target = directory / resource
        if target.is_dir():
            objects += _build(target, [], expected_kind="Kustomization")
        else:
            with open(target) as f:
                objects += [o for o in yaml.safe_load_all(f) if o]
    for component in kustomization.get("components", []):
        objects = _build(directory / component, objects, expected_kind="Component")
    # Kustomize's order for its built-in transformers.
    for patch in kustomization.get("patches", []):
        _apply_patch(directory, patch, objects)
    if "namespace" in kustomization:
        for o in objects:
            o.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for entry in kustomization.get("replicas", []):
        _set_replicas(entry, objects, path)
    for entry in kustomization.get("images", []):
        _set_image(entry, objects)
    return objects


def _apply_patch(directory, patch, objects):
    if "path" in patch:
        with open(directory / patch["path"]) as f:
            operations = yaml.safe_load(f)
        where = directory / patch["path"]
    else:
        operations, where = yaml.safe_load(patch["patch"]), directory
    if not isinstance(operations, list):
        raise KustomizeError(f"{where}: only JSON 6902 patches (a list of operations) are "
                             "supported, not strategic merge")
    target = patch.get("target", {})
    if set(target) - {"kind", "name"}:
        raise KustomizeError(f"{where}: a target selects by kind and name only")
    matched = [o for o in objects
               if o.get("kind") == target.get("kind")
               and o.get("metadata", {}).get("name") == target.get("name")]
    if not matched:
        raise KustomizeError(f"{where}: the target {target} matches no object")
    for o in matched:
        for operation in operations:
            try:
                _json6902(o, operation)
            except (KeyError, IndexError, ValueError, TypeError) as e:
                raise KustomizeError(f"{where}: {operation['op']} {operation['path']}: {e!r}")


def _pointer(path):
    if not path.startswith("/"):
        raise ValueError(f"not a JSON pointer: {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _child(node, key):
    return node[int(key)] if isinstance(node, list) else node[key]


def _json6902(document, operation):
    *parents, last = _pointer(operation["path"])
    parent = document
    for key in parents:
        parent = _child(parent, key)
    op = operation["op"]
    if op == "test":
        if _child(parent, last) != operation["value"]:
            raise ValueError(f"is {_child(parent, last)!r}, the patch expects "
                             f"{operation['value']!r}")
    elif op == "add":
        value = copy.deepcopy(operation["value"])
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if index > len(parent):
                raise IndexError(index)
            parent.insert(index, value)
        else:
            parent[last] = value
    elif op == "replace":
        _child(parent, last)  # must exist
        if isinstance(parent, list):
            parent[int(last)] = copy.deepcopy(operation["value"])
        else:
            parent[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
    else:
        raise ValueError(f"operation {op} not supported")


def _set_replicas(entry, objects, where):
    matched = [o for o in objects if o.get("metadata", {}).get("name") == entry["name"]
               and o.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet")]
    if not matched:
        raise KustomizeError(f"{where}: replicas: no workload named {entry['name']}")
    for o in matched:
        o["spec"]["replicas"] = entry["count"]


def split_image(image):
    """("quench/quenchd", "0.1.0") from "quench/quenchd:0.1.0"; the tag is None if absent."""
    name, _, digest = image.partition("@")
    if digest:
        return name, None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, None


def _set_image(entry, objects):
    for o in objects:
        spec = o.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            name, tag = split_image(container["image"])
            if name != entry["name"]:
                continue
            name = entry.get("newName", name)
            tag = entry.get("newTag", tag)
            container["image"] = f"{name}:{tag}" if tag else name
