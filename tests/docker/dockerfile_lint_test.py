#!/usr/bin/env python3
"""Lint for docker/*.Dockerfile, the rules the images rely on (there is no Docker daemon in CI,
so nothing builds them there: this and docker/scripts/check-on-host.sh are what catch mistakes).

Rules, by the id each problem carries:
  multi-stage        at least two FROM; the final stage starts from an image, not from an
                     earlier stage, and builds nothing (no cmake, no build scripts)
  pinned-base        every base image names a tag (not `latest`) or a digest
  non-root-user      the final stage ends with USER <uid>[:<gid>], numeric and not 0 (Kubernetes'
                     runAsNonRoot can only verify a numeric uid)
  user-created       the final stage creates that uid (docker/scripts/add-user.sh or useradd)
  healthcheck        daemon images (quenchd, all-in-one) have a HEALTHCHECK
  no-build-tools     the final stage installs no compiler, build tool or -dev package (apt-get
                     install lines and the package lists handed to install-runtime-deps.sh)
  apt-hygiene        apt-get install uses --no-install-recommends, and a RUN that installs
                     packages (directly or through a docker/scripts/ script) removes
                     /var/lib/apt/lists in the same RUN
  copy-from-stage    COPY --from names an earlier stage, by name
  copy-source        every file or directory COPY'd from the build context exists in the
                     repository and is not left out by .dockerignore; no ADD
  run-script         every script a RUN runs from the context exists (reached through the COPY
                     that put it there), is executable and not left out by .dockerignore
  exec-form          ENTRYPOINT, CMD and HEALTHCHECK CMD are JSON arrays
  ports              daemon images EXPOSE exactly the gRPC and HTTP ports of their default
                     arguments, and the HEALTHCHECK asks the HTTP one

The second half of the file breaks a known-good Dockerfile one rule at a time and checks that the
rule reports it, so that no rule can pass by never firing.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
import unittest
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
# Images that run a daemon and so need a HEALTHCHECK and matching ports.
DAEMON_IMAGES = {"quenchd.Dockerfile", "quench.Dockerfile"}
EXPECTED_IMAGES = {"quenchd.Dockerfile", "quench.Dockerfile", "worker-cuda.Dockerfile",
                   "worker-rocm.Dockerfile"}
# Scripts whose defaults hold the daemon's listen addresses when the Dockerfile's arguments
# do not (the all-in-one image's entry point).
LISTEN_DEFAULTS_RE = {
    "grpc": re.compile(r"QUENCH_LISTEN:-([^}\s]*)"),
    "http": re.compile(r"QUENCH_HTTP_LISTEN:-([^}\s]*)"),
}


# ---- parsing ----------------------------------------------------------------------------------

@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    line: int
    base_is_stage: bool
    instructions: list[Instruction] = field(default_factory=list)


def parse_instructions(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comment lines dropped (also inside a
    continued instruction, as Docker does)."""
    instructions: list[Instruction] = []
    current: Instruction | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and current is None):
            continue
        if current is None:
            match = re.match(r"([A-Za-z]+)\s*(.*)", stripped)
            if not match:
                instructions.append(Instruction(number, "?", stripped))
                continue
            current = Instruction(number, match.group(1).upper(), "")
            body = match.group(2)
        else:
            body = stripped
        if body.endswith("\\"):
            current.args += body[:-1].rstrip() + " "
            continue
        current.args = (current.args + body).strip()
        instructions.append(current)
        current = None
    if current is not None:
        current.args = current.args.strip()
        instructions.append(current)
    return instructions


def split_stages(instructions: list[Instruction]) -> list[Stage]:
    """The stages, with ARGs declared before the first FROM substituted into FROM lines."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.args.partition("=")
            default = default.strip().strip('"')
            if default:  # without one, FROM keeps the variable, which pinned-base reports
                global_args[name.strip()] = default
            continue
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)),
                          words[0] if words else "")
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            known = {s.name for s in stages if s.name}
            stages.append(Stage(len(stages), base, name, instruction.line, base in known))
            continue
        if stages:
            stages[-1].instructions.append(instruction)
    return stages


def json_array(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """(--flags, sources, destination) of a COPY/ADD."""
    flags: dict[str, str] = {}
    words = json_array(args) if args.lstrip().startswith("[") else None
    if words is None:
        words = shlex.split(args)
    rest = []
    for word in words:
        if word.startswith("--") and not rest:
            key, _, value = word[2:].partition("=")
            flags[key] = value
        else:
            rest.append(word)
    return flags, rest[:-1], (rest[-1] if rest else "")


def shell_words(command: str) -> list[str]:
    """Words of a shell command, with &&, ||, ;, | and redirections as words of their own."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>(){}")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return command.split()


def shell_commands(command: str) -> list[list[str]]:
    """Simple commands of a RUN line (split at &&, ||, ;, |, braces), leading VAR=value dropped."""
    commands, current = [], []
    for word in shell_words(command):
        if word and set(word) <= set(";&|(){}"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(word)
    if current:
        commands.append(current)
    result = []
    for words in commands:
        while words and re.match(r"^\w+=", words[0]):
            words = words[1:]
        if words:
            result.append(words)
    return result


# ---- .dockerignore ----------------------------------------------------------------------------

def dockerignore_patterns(repo: Path) -> list[tuple[bool, re.Pattern]]:
    path = repo / ".dockerignore"
    patterns = []
    if not path.exists():
        return patterns
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def ignored(relative: str, patterns) -> bool:
    """Whether .dockerignore leaves `relative` (or a directory above it) out of the context."""
    parts = posixpath.normpath(relative).split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for exception, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not exception
    return excluded


# ---- package names ----------------------------------------------------------------------------

BUILD_ONLY_PACKAGE = re.compile(
    r"""^(?:.*-dev(?:[-:].*)?|.*-devel(?:-.*)?
         |gcc(?:-\d.*)?|g\+\+(?:-\d.*)?|cpp(?:-\d.*)?|build-essential|make|cmake|cmake-data
         |ninja-build|clang(?:-\d.*)?|llvm(?:-\d.*)?|binutils|cuda-nvcc.*|cuda-compiler.*
         |cuda-toolkit.*|hipcc|rocm-dev|rocm-llvm|protobuf-compiler|protobuf-compiler-grpc
         |pkg-config|pkgconf)$""", re.X)


def package_list(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


# ---- the lint ---------------------------------------------------------------------------------

@dataclass
class Problem:
    rule: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: [{self.rule}] {self.message}"


class StageFiles:
    """Where files COPY'd from the context land in one stage, to map a path a RUN uses back to
    the repository file it came from."""

    def __init__(self) -> None:
        self.workdir = "/"
        self.mappings: list[tuple[str, str, bool]] = []  # (container path, repo path, is dir)
        self.from_stages: list[str] = []  # where COPY --from put files (made by earlier stages)

    def absolute(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.workdir, path))

    def add_copy(self, repo: Path, sources: list[str], destination: str) -> None:
        into_dir = destination.endswith("/") or len(sources) > 1
        target = self.absolute(destination)
        for source in sources:
            source = posixpath.normpath(source)
            is_dir = (repo / source).is_dir()
            if is_dir:
                self.mappings.append((target, source, True))
            elif into_dir:
                self.mappings.append((posixpath.join(target, posixpath.basename(source)), source,
                                      False))
            else:
                self.mappings.append((target, source, False))

    def add_copy_from_stage(self, sources: list[str], destination: str) -> None:
        target = self.absolute(destination)
        if destination.endswith("/") or len(sources) > 1:
            self.from_stages += [posixpath.join(target, posixpath.basename(s.rstrip("/")))
                                 for s in sources]
        else:
            self.from_stages.append(target)

    def from_stage(self, container_path: str) -> bool:
        path = self.absolute(container_path)
        return any(path == target or path.startswith(target.rstrip("/") + "/")
                   for target in self.from_stages)

    def repo_path(self, container_path: str) -> str | None:
        path = self.absolute(container_path)
        for target, source, is_dir in reversed(self.mappings):
            if is_dir and (path == target or path.startswith(target.rstrip("/") + "/")):
                inner = posixpath.relpath(path, target)
                return posixpath.normpath(posixpath.join(source, inner))
            if not is_dir and path == target:
                return source
        return None


def installs_packages(script: Path) -> bool:
    text = script.read_text() if script.exists() else ""
    return bool(re.search(r"apt(?:-get)?\s+(?:[^\n]*\s)?install\b|\bapt_install\b", text))


def listen_port(value: str) -> str | None:
    match = re.search(r":(\d+)$", value)
    return match.group(1) if match else None


def lint(text: str, name: str, repo: Path = REPO, daemon: bool | None = None) -> list[Problem]:
    """Problems of one Dockerfile; `name` is its file name under docker/."""
    if daemon is None:
        daemon = name in DAEMON_IMAGES
    problems: list[Problem] = []

    def report(rule: str, line: int, message: str) -> None:
        problems.append(Problem(rule, line, message))

    instructions = parse_instructions(text)
    stages = split_stages(instructions)
    ignore = dockerignore_patterns(repo)
    if not stages:
        report("multi-stage", 1, "no FROM")
        return problems
    final = stages[-1]

    # multi-stage, pinned-base
    if len(stages) < 2:
        report("multi-stage", final.line, "one stage only: build in one, run from a clean base")
    if final.base_is_stage:
        report("multi-stage", final.line,
               f"the final stage starts from stage '{final.base}': it would carry the toolchain")
    for stage in stages:
        if stage.base_is_stage or stage.base == "scratch":
            continue
        image = stage.base
        if "$" in image:
            report("pinned-base", stage.line, f"base image {image} has an unresolved variable")
            continue
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        if ":" not in last:
            report("pinned-base", stage.line, f"base image {image} names no tag")
        elif last.rsplit(":", 1)[1] == "latest":
            report("pinned-base", stage.line, f"base image {image} is pinned to 'latest'")

    stage_names_before: dict[int, set[str]] = {}
    seen: set[str] = set()
    for stage in stages:
        stage_names_before[stage.index] = set(seen)
        if stage.name:
            seen.add(stage.name)

    healthcheck: Instruction | None = None
    entrypoint: list[str] = []
    command: list[str] = []
    exposed: list[tuple[int, str]] = []
    for stage in stages:
        files = StageFiles()
        is_final = stage is final
        for instruction in stage.instructions:
            keyword, args = instruction.keyword, instruction.args
            if keyword == "WORKDIR":
                files.workdir = files.absolute(args.strip())
            elif keyword == "ADD":
                report("copy-source", instruction.line, "ADD: use COPY (ADD fetches URLs and "
                       "unpacks archives)")
            elif keyword == "COPY":
                flags, sources, destination = copy_parts(args)
                if "from" in flags:
                    source_stage = flags["from"]
                    if source_stage not in stage_names_before[stage.index]:
                        report("copy-from-stage", instruction.line,
                               f"COPY --from={source_stage}: not the name of an earlier stage")
                    files.add_copy_from_stage(sources, destination)
                    continue
                for source in sources:
                    normal = posixpath.normpath(source)
                    if normal.startswith("..") or normal.startswith("/"):
                        report("copy-source", instruction.line, f"{source} is outside the context")
                        continue
                    matches = list(repo.glob(normal)) if normal != "." else [repo]
                    if not matches:
                        report("copy-source", instruction.line,
                               f"{source} is not in the repository")
                    elif normal != "." and ignored(normal, ignore):
                        report("copy-source", instruction.line,
                               f"{source} is left out of the build context by .dockerignore")
                files.add_copy(repo, sources, destination)
            elif keyword == "RUN":
                lint_run(instruction, stage, is_final, files, repo, ignore, report)
            elif keyword == "USER":
                pass
            elif keyword in ("ENTRYPOINT", "CMD"):
                value = json_array(args)
                if value is None:
                    report("exec-form", instruction.line,
                           f"{keyword} {args}: use the exec (JSON array) form")
                elif is_final:
                    if keyword == "ENTRYPOINT":
                        entrypoint = value
                    else:
                        command = value
            elif keyword == "HEALTHCHECK" and is_final:
                healthcheck = instruction
            elif keyword == "EXPOSE" and is_final:
                for word in args.split():
                    exposed.append((instruction.line, word.split("/")[0]))

    # multi-stage: nothing built in the final stage
    for instruction in final.instructions:
        if instruction.keyword == "RUN" and re.search(
                r"\bcmake\b|build-and-install\.sh|install-build-deps\.sh|\bmake\b|\bninja\b",
                instruction.args):
            report("multi-stage", instruction.line, "the final stage builds: build in an earlier "
                   "stage and COPY --from it")

    # non-root-user, user-created
    users = [i for i in final.instructions if i.keyword == "USER"]
    if not users:
        report("non-root-user", final.line, "the final stage sets no USER: it would run as root")
    else:
        user = users[-1]
        uid, _, gid = user.args.strip().partition(":")
        if not uid.isdigit() or int(uid) == 0 or (gid and (not gid.isdigit() or int(gid) == 0)):
            report("non-root-user", user.line,
                   f"USER {user.args}: give a numeric, non-zero uid[:gid] (not root)")
        else:
            created = False
            for instruction in final.instructions:
                if instruction.keyword != "RUN":
                    continue
                for words in shell_commands(instruction.args):
                    program = posixpath.basename(words[0])
                    if program == "add-user.sh":
                        rest = [w for w in words[1:] if not w.startswith("--")]
                        created |= len(rest) >= 2 and rest[1] == uid
                    elif program == "useradd":
                        for k, word in enumerate(words[:-1]):
                            created |= word in ("-u", "--uid") and words[k + 1] == uid
                        created |= f"--uid={uid}" in words
            if not created:
                report("user-created", user.line,
                       f"USER {user.args}: no RUN in the final stage creates uid {uid}")

    # healthcheck, exec-form of its command
    health_command: list[str] | None = None
    if healthcheck is not None:
        match = re.search(r"\bCMD\s+(.*)$", healthcheck.args, re.S)
        if healthcheck.args.strip().upper() == "NONE":
            if daemon:
                report("healthcheck", healthcheck.line, "HEALTHCHECK NONE in a daemon image")
        elif not match or json_array(match.group(1)) is None:
            report("exec-form", healthcheck.line, "HEALTHCHECK CMD: use the exec (JSON array) form")
        else:
            health_command = json_array(match.group(1))
    elif daemon:
        report("healthcheck", final.line, "a daemon image without a HEALTHCHECK")

    # ports
    if daemon:
        arguments = entrypoint + command
        values: dict[str, str] = {}
        for k, word in enumerate(arguments):
            for kind, flag in (("grpc", "--listen"), ("http", "--http-listen")):
                if word == flag and k + 1 < len(arguments):
                    values[kind] = arguments[k + 1]
                elif word.startswith(flag + "="):
                    values[kind] = word.split("=", 1)[1]
        if len(values) < 2 and entrypoint:
            # The entry point may be a script of ours holding the defaults.
            script = None
            for mapping_stage in [final]:
                files = StageFiles()
                for instruction in mapping_stage.instructions:
                    if instruction.keyword == "COPY" and "--from" not in instruction.args:
                        _, sources, destination = copy_parts(instruction.args)
                        files.add_copy(repo, sources, destination)
                for directory in ("/usr/local/bin", "/usr/bin"):
                    found = files.repo_path(posixpath.join(directory, entrypoint[0]))
                    if found:
                        script = repo / found
                        break
            if script is not None and script.exists():
                source = script.read_text()
                for kind, regex in LISTEN_DEFAULTS_RE.items():
                    match = regex.search(source)
                    if match and kind not in values:
                        values[kind] = match.group(1)
        ports = {kind: listen_port(value) for kind, value in values.items()}
        if set(ports) != {"grpc", "http"} or None in ports.values():
            report("ports", final.line, "cannot tell the daemon's gRPC and HTTP ports from its "
                   f"default arguments ({values or 'none found'})")
        else:
            exposed_ports = sorted({port for _, port in exposed})
            wanted = sorted({ports["grpc"], ports["http"]})
            if exposed_ports != wanted:
                report("ports", exposed[0][0] if exposed else final.line,
                       f"EXPOSE {' '.join(exposed_ports) or '(none)'} but the default arguments "
                       f"listen on {' '.join(wanted)}")
            if health_command is not None:
                numbers = [w for w in health_command[1:] if w.isdigit()]
                urls = re.findall(r":(\d+)/", " ".join(health_command))
                asked = numbers[:1] or urls[:1]
                if asked and asked[0] != ports["http"]:
                    report("ports", healthcheck.line, f"the HEALTHCHECK asks port {asked[0]}, "
                           f"the HTTP port is {ports['http']}")
    return problems


def lint_run(instruction, stage, is_final, files, repo, ignore, report) -> None:
    args = instruction.args
    if args.lstrip().startswith("["):
        report("run-script", instruction.line,
               "RUN in exec form: write it as a shell command (the lint follows those)")
        return
    installs = False
    for words in shell_commands(args):
        program = words[0]
        # apt-get install run directly
        if posixpath.basename(program) in ("apt-get", "apt") and "install" in words:
            installs = True
            if "--no-install-recommends" not in words:
                report("apt-hygiene", instruction.line,
                       "apt-get install without --no-install-recommends")
            if is_final:
                after = words[words.index("install") + 1:]
                for package in after:
                    name = package.split("=")[0]
                    if not package.startswith("-") and BUILD_ONLY_PACKAGE.match(name):
                        report("no-build-tools", instruction.line,
                               f"the final stage installs {package}")
        # a script from the context
        if "/" in program or program.endswith(".sh"):
            source = files.repo_path(program)
            if source is None:
                if program.startswith(("docker/", "/tmp/quench-docker", "./")) or \
                        program.endswith(".sh"):
                    report("run-script", instruction.line,
                           f"{program}: no COPY from the context puts it there")
                continue
            path = repo / source
            if not path.is_file():
                report("run-script", instruction.line, f"{program} ({source}) is not in the "
                       "repository")
                continue
            if not os.access(path, os.X_OK):
                report("run-script", instruction.line, f"{source} is not executable")
            if ignored(source, ignore):
                report("run-script", instruction.line,
                       f"{source} is left out of the build context by .dockerignore")
            if installs_packages(path):
                installs = True
            if is_final and path.name == "install-runtime-deps.sh":
                for word in words[1:]:
                    if word.startswith("-"):
                        continue
                    listed = files.repo_path(word)
                    if listed is None:
                        # A list an earlier stage made (runtime-packages.sh vets its names).
                        if not files.from_stage(word):
                            report("run-script", instruction.line,
                                   f"{word}: no COPY puts this package list there")
                        continue
                    for package in package_list(repo / listed):
                        if BUILD_ONLY_PACKAGE.match(package):
                            report("no-build-tools", instruction.line,
                                   f"the final stage installs {package} (from {listed})")
            if is_final and path.name == "install-build-deps.sh":
                report("no-build-tools", instruction.line,
                       "the final stage installs the build dependencies")
    if installs and not re.search(r"rm\s+-r?f?r?\s*(?:-\S+\s+)*[^&;|]*?/var/lib/apt/lists", args):
        report("apt-hygiene", instruction.line,
               "installs packages but does not remove /var/lib/apt/lists in the same RUN")


def lint_file(path: Path) -> list[Problem]:
    return lint(path.read_text(), path.name)


# ---- tests of the real files ------------------------------------------------------------------

class RealDockerfiles(unittest.TestCase):
    def test_expected_images_exist(self):
        found = {p.name for p in DOCKER_DIR.glob("*.Dockerfile")}
        self.assertTrue(EXPECTED_IMAGES <= found, f"missing: {EXPECTED_IMAGES - found}")

    def test_each_dockerfile_passes(self):
        for path in sorted(DOCKER_DIR.glob("*.Dockerfile")):
            with self.subTest(dockerfile=path.name):
                problems = lint_file(path)
                self.assertEqual([], [str(p) for p in problems], path.name)

    def test_scripts_use_no_install_recommends(self):
        for script in sorted((DOCKER_DIR / "scripts").glob("*.sh")):
            for number, line in enumerate(script.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"\bapt(?:-get)?\b.*\binstall\b", code) and "-s" not in code.split():
                    with self.subTest(script=script.name, line=number):
                        self.assertIn("--no-install-recommends", code)

    def test_scripts_parse(self):
        scripts = sorted((DOCKER_DIR / "scripts").glob("*.sh")) + sorted(
            (DOCKER_DIR / "bin").glob("*"))
        self.assertTrue(scripts)
        for script in scripts:
            with self.subTest(script=script.name):
                result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
                self.assertEqual(0, result.returncode, result.stderr)

    def test_runtime_lists_hold_no_build_packages(self):
        for listed in sorted(DOCKER_DIR.glob("packages-runtime*.txt")):
            for package in package_list(listed):
                with self.subTest(list=listed.name, package=package):
                    self.assertIsNone(BUILD_ONLY_PACKAGE.match(package))


# ---- the rules can fail -----------------------------------------------------------------------

GOOD = """\
# syntax=docker/dockerfile:1
ARG BASE=debian:12
FROM ${BASE} AS build
WORKDIR /src
COPY scripts/packages.txt scripts/packages.txt
COPY docker/packages-build-exclude.txt docker/
COPY docker/scripts/ docker/scripts/
# a comment between instructions
RUN docker/scripts/install-build-deps.sh \\
    # a comment inside a continued line
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN docker/scripts/build-and-install.sh /tmp/build /opt/quench -DQUENCH_GPU=none

FROM debian:12-slim AS runtime
COPY docker/scripts/common.sh docker/scripts/install-runtime-deps.sh docker/scripts/add-user.sh \\
     docker/packages-runtime.txt /tmp/quench-docker/
RUN /tmp/quench-docker/install-runtime-deps.sh /tmp/quench-docker/packages-runtime.txt \\
 && apt-get install -y --no-install-recommends tini \\
 && /tmp/quench-docker/add-user.sh quench 10001 /var/lib/quench \\
 && rm -rf /var/lib/apt/lists/* /tmp/quench-docker
COPY --from=build /opt/quench/bin/quenchd /usr/local/bin/
COPY docker/bin/quench-healthcheck /usr/local/bin/
USER 10001:10001
EXPOSE 7070 9090
HEALTHCHECK --interval=30s CMD ["quench-healthcheck", "9090"]
ENTRYPOINT ["quenchd", "--listen", "0.0.0.0:7070", "--http-listen=0.0.0.0:9090"]
"""

# (rule expected, text replaced, replacement); tuples for several replacements at once
BREAKAGES = [
    ("multi-stage", "FROM debian:12-slim AS runtime", "FROM build AS runtime"),
    ("multi-stage", "RUN docker/scripts/build-and-install.sh /tmp/build /opt/quench "
     "-DQUENCH_GPU=none\n\nFROM debian:12-slim AS runtime\n", "\nFROM debian:12-slim AS runtime\n"
     "COPY . /src\nRUN cmake -S /src -B /tmp/b\n"),
    ("multi-stage", "FROM ${BASE} AS build\nWORKDIR /src\nCOPY scripts/packages.txt "
     "scripts/packages.txt\nCOPY docker/packages-build-exclude.txt docker/\n"
     "COPY docker/scripts/ docker/scripts/\n# a comment between instructions\n"
     "RUN docker/scripts/install-build-deps.sh \\\n    # a comment inside a continued line\n"
     " && rm -rf /var/lib/apt/lists/*\nCOPY . .\n"
     "RUN docker/scripts/build-and-install.sh /tmp/build /opt/quench -DQUENCH_GPU=none\n\n", ""),
    ("pinned-base", "FROM debian:12-slim AS runtime", "FROM debian AS runtime"),
    ("pinned-base", "FROM debian:12-slim AS runtime", "FROM debian:latest AS runtime"),
    ("pinned-base", "ARG BASE=debian:12", "ARG BASE=debian:latest"),
    ("pinned-base", "ARG BASE=debian:12\n", ""),
    ("pinned-base", "ARG BASE=debian:12\n", "ARG BASE\n"),
    ("non-root-user", "USER 10001:10001\n", ""),
    ("non-root-user", "USER 10001:10001", "USER root"),
    ("non-root-user", "USER 10001:10001", "USER 0"),
    ("non-root-user", "USER 10001:10001", "USER quench"),
    ("user-created", "USER 10001:10001", "USER 10002:10002"),
    ("user-created", " && /tmp/quench-docker/add-user.sh quench 10001 /var/lib/quench \\\n", ""),
    ("healthcheck", 'HEALTHCHECK --interval=30s CMD ["quench-healthcheck", "9090"]\n', ""),
    ("healthcheck", 'HEALTHCHECK --interval=30s CMD ["quench-healthcheck", "9090"]',
     "HEALTHCHECK NONE"),
    ("no-build-tools", "--no-install-recommends tini", "--no-install-recommends tini g++"),
    ("no-build-tools", "--no-install-recommends tini", "--no-install-recommends libgrpc++-dev"),
    ("no-build-tools", "--no-install-recommends tini", "--no-install-recommends cmake"),
    ("no-build-tools", ("docker/packages-runtime.txt /tmp/quench-docker/",
                        "/tmp/quench-docker/packages-runtime.txt \\\n"),
     ("docker/packages-build-exclude.txt /tmp/quench-docker/",
      "/tmp/quench-docker/packages-build-exclude.txt \\\n")),
    ("run-script", "/tmp/quench-docker/packages-runtime.txt \\\n",
     "/tmp/quench-docker/packages-runtime-x.txt \\\n"),
    ("apt-hygiene", "install -y --no-install-recommends tini", "install -y tini"),
    ("apt-hygiene", " && rm -rf /var/lib/apt/lists/* /tmp/quench-docker\n",
     " && rm -rf /tmp/quench-docker\n"),
    ("apt-hygiene", "RUN docker/scripts/install-build-deps.sh \\\n    # a comment inside a "
     "continued line\n && rm -rf /var/lib/apt/lists/*\n",
     "RUN docker/scripts/install-build-deps.sh\nRUN rm -rf /var/lib/apt/lists/*\n"),
    ("copy-from-stage", "COPY --from=build /opt", "COPY --from=builder /opt"),
    ("copy-from-stage", "COPY --from=build /opt", "COPY --from=0 /opt"),
    ("copy-from-stage", "COPY --from=build /opt", "COPY --from=debian:12 /opt"),
    ("copy-source", "COPY docker/bin/quench-healthcheck", "COPY docker/bin/quench-healthcheck-x"),
    ("copy-source", "COPY docker/bin/quench-healthcheck", "COPY ../quench-healthcheck"),
    ("copy-source", "COPY docker/bin/quench-healthcheck", "ADD docker/bin/quench-healthcheck"),
    ("run-script", "RUN docker/scripts/build-and-install.sh",
     "RUN docker/scripts/build-install.sh"),
    ("run-script", "RUN /tmp/quench-docker/install-runtime-deps.sh",
     "RUN /tmp/quench-docker/install-deps.sh"),
    ("run-script", "RUN docker/scripts/build-and-install.sh",
     "RUN /opt/scripts/build-and-install.sh"),
    ("exec-form", 'ENTRYPOINT ["quenchd", "--listen", "0.0.0.0:7070", '
     '"--http-listen=0.0.0.0:9090"]',
     "ENTRYPOINT quenchd --listen 0.0.0.0:7070 --http-listen=0.0.0.0:9090"),
    ("exec-form", "USER 10001:10001\n", 'USER 10001:10001\nCMD --help\n'),
    ("exec-form", 'CMD ["quench-healthcheck", "9090"]', "CMD quench-healthcheck 9090"),
    ("ports", "EXPOSE 7070 9090", "EXPOSE 7070"),
    ("ports", "EXPOSE 7070 9090", "EXPOSE 7070 9090 8080"),
    ("ports", '"--http-listen=0.0.0.0:9090"', '"--http-listen=0.0.0.0:9191"'),
    ("ports", '["quench-healthcheck", "9090"]', '["quench-healthcheck", "9191"]'),
]


class RulesCatchMistakes(unittest.TestCase):
    def test_good_dockerfile_passes(self):
        self.assertEqual([], [str(p) for p in lint(GOOD, "quenchd.Dockerfile")])

    def test_each_breakage_is_reported(self):
        for rule, old, new in BREAKAGES:
            olds, news = (old, new) if isinstance(old, tuple) else ((old,), (new,))
            with self.subTest(rule=rule, change=str(news)[:70]):
                text = GOOD
                for before, after in zip(olds, news):
                    self.assertIn(before, text, "the breakage no longer applies to GOOD")
                    text = text.replace(before, after, 1)
                problems = lint(text, "quenchd.Dockerfile")
                self.assertIn(rule, {p.rule for p in problems},
                              f"expected a {rule} problem, got {[str(p) for p in problems]}")

    def test_every_rule_has_a_breakage(self):
        rules = set(re.findall(r"^  ([a-z-]+)\s{2,}", __doc__, re.M))
        self.assertEqual(rules, {rule for rule, _, _ in BREAKAGES})

    def test_worker_images_need_no_healthcheck(self):
        text = GOOD.replace('HEALTHCHECK --interval=30s CMD ["quench-healthcheck", "9090"]\n', "")
        text = text.replace("EXPOSE 7070 9090\n", "")
        self.assertEqual([], [str(p) for p in lint(text, "worker-cuda.Dockerfile")])

    def test_dockerignore_can_hide_a_script(self):
        patterns = dockerignore_patterns(REPO)
        self.assertFalse(ignored("docker/scripts/build-and-install.sh", patterns))
        self.assertTrue(ignored("build/bin/quenchd", patterns))
        self.assertTrue(ignored("build-asan/CMakeCache.txt", patterns))
        self.assertTrue(ignored(".git/HEAD", patterns))
        # The patterns a careless edit might add would hide build steps; the matcher sees that.
        hidden = [(False, re.compile(r"(?:.*/)?build-[^/]*\Z"))]
        self.assertTrue(ignored("docker/scripts/build-and-install.sh", hidden))

    def test_continuations_and_comments(self):
        instructions = parse_instructions("FROM a:1 AS b\nRUN x \\\n  # note\n  && y \\\n  z\n"
                                          "# c\nUSER 1\n")
        self.assertEqual(["FROM", "RUN", "USER"], [i.keyword for i in instructions])
        self.assertEqual("x && y z", instructions[1].args)
        self.assertEqual(2, instructions[1].line)


if __name__ == "__main__":
    unittest.main(verbosity=1)
