"""The Dockerfile cannot be built here (no Docker engine); its structure is checked instead."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for ins in instructions(DOCKERFILE):
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def args() -> dict[str, str]:
    """Global ARG defaults (those before the first FROM)."""
    defaults: dict[str, str] = {}
    for word, rest in instructions(DOCKERFILE):
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            defaults[key] = value
    return defaults


def test_multi_stage_on_a_pinned_slim_python_3_11() -> None:
    assert len(stages()) >= 2
    for stage in stages():
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args()[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image


def test_final_stage_runs_as_numeric_non_root_user_with_the_console_script() -> None:
    final = stages()[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1])
    entrypoint = [json.loads(rest) for word, rest in final if word == "ENTRYPOINT"]
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    script = setup["options.entry_points"]["console_scripts"].strip().split("=")[0].strip()
    assert entrypoint == [[script]]
    # the manifests' command is the console script too
    manager = (ROOT / "config" / "manager" / "manager.yaml").read_text()
    assert f'command: ["{script}", "ccp"]' in manager


def test_only_the_runtime_packages_are_built_into_the_image() -> None:
    build = stages()[0]
    copied = {rest.split()[0].rstrip("/") for word, rest in build if word == "COPY" and "--from" not in rest}
    assert {"reconciler", "controllers", "crds", "nsx"} <= copied
    assert not copied & {"sim", "hack", "tests", "config", ".venv"}
    assert "sim" in (ROOT / ".dockerignore").read_text().splitlines()


def test_final_stage_copies_only_the_virtualenv_and_installs_no_build_tools() -> None:
    final = stages()[-1]
    copies = [rest for word, rest in final if word in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert not re.search(r"\b(apt-get|apk|yum|dnf)\b.*\binstall\b", runs)
    assert not re.search(r"\b(gcc|build-essential|make|git)\b", runs)


def test_no_secrets_baked_in() -> None:
    for word, rest in instructions(DOCKERFILE):
        if word in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(?i)(password|secret|token|api_?key|private)", rest), rest
        if word in ("COPY", "ADD"):
            assert not re.search(r"(?i)(\.pem|\.key|\.crt|kubeconfig|nsx-cert|bootstrap|\.env)\b", rest), rest
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for pattern in (".git", ".venv", "tests", "config", "**/*.key", "**/*.pem", "**/kubeconfig"):
        assert pattern in ignored
