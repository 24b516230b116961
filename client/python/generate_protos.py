#!/usr/bin/env python3
"""Generates quench_client's gRPC modules from proto/quench/v1/*.proto.

    python3 client/python/generate_protos.py            # into client/python/quench_client/_generated
    python3 client/python/generate_protos.py --out DIR  # a complete package in DIR/quench_client

Needs grpc_tools (Debian: python3-grpc-tools). The generated modules import each other as
`quench.v1.*`; they are rewritten to live inside the package (quench_client._generated.quench.v1)
so that installing quench_client puts no top-level `quench` package on anyone's path.
"""
import argparse
import pathlib
import re
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
PACKAGE = "quench_client"
GENERATED = "_generated"


def generate(package_dir: pathlib.Path) -> None:
    try:
        from grpc_tools import protoc
    except ImportError:
        sys.exit("generate_protos: grpc_tools is missing: apt-get install python3-grpc-tools "
                 "(or pip install grpcio-tools)")
    out = package_dir / GENERATED
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    status = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"--python_out={out}",
                          f"--grpc_python_out={out}", *protos])
    if status != 0:
        sys.exit(f"generate_protos: protoc failed ({status}) on {protos}")
    prefix = f"{PACKAGE}.{GENERATED}."
    for module in out.rglob("*.py"):
        text = module.read_text()
        text = re.sub(r"^from quench\.v1 import", f"from {prefix}quench.v1 import", text,
                      flags=re.MULTILINE)
        text = re.sub(r"^import quench\.v1\.", f"import {prefix}quench.v1.", text,
                      flags=re.MULTILINE)
        module.write_text(text)
    for directory in [out, *[d for d in out.rglob("*") if d.is_dir()]]:
        (directory / "__init__.py").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path,
                        help="write a complete package into OUT/quench_client instead")
    args = parser.parse_args()
    package_dir = HERE / PACKAGE
    if args.out is not None:
        target = args.out / PACKAGE
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(package_dir, target,
                        ignore=shutil.ignore_patterns(GENERATED, "__pycache__"))
        package_dir = target
    generate(package_dir)
    print(f"generate_protos: {package_dir}")


if __name__ == "__main__":
    main()
