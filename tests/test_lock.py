"""The locks (requirements/*.txt, written by `make lock`) agree with pyproject.toml and with what
this test run imports: a dependency changed without `make lock`, a pin without its hashes, or an
environment that was not installed from the lock fails here rather than in an image build."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import REPO

RUNTIME_LOCK = REPO / "requirements" / "runtime.txt"
TEST_LOCK = REPO / "requirements" / "test.txt"
BUILD_LOCK = REPO / "requirements" / "build.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


@cache
def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """Package (canonical name) -> (pinned version, number of sha256 hashes) of one lock."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match.group(1))
            assert name not in found, f"{lock.name}: {name} pinned twice"
            found[name] = (match.group(2), 0)
        elif "--hash=sha256:" in line and name:
            pinned, hashes = found[name]
            found[name] = (pinned, hashes + 1)
        elif line.strip() and not line.lstrip().startswith("#"):
            # Only pins, their hashes and comments: no ranges, URLs or options that bypass the hashes.
            assert line.startswith("    --hash="), f"{lock.name}: unexpected line {line!r}"
    assert found, f"{lock.name} pins nothing"
    return found


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [*project["dependencies"], *(r for extra in extras for r in project["optional-dependencies"][extra])]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME_LOCK, ()), (TEST_LOCK, ("test",))], ids=["runtime", "test"])
def test_every_declared_dependency_is_pinned_within_its_range(lock: Path, extras: tuple[str, ...]) -> None:
    locked = pins(lock)
    outside = {}
    for requirement in declared(*extras):
        pinned = locked.get(canonicalize_name(requirement.name))
        if pinned is None or pinned[0] not in requirement.specifier:
            outside[str(requirement)] = pinned and pinned[0]
    assert not outside, f"{lock.name} is stale (run `make lock`): {outside}"


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, TEST_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_its_hashes(lock: Path) -> None:
    unhashed = sorted(name for name, (_, hashes) in pins(lock).items() if hashes == 0)
    assert not unhashed, f"{lock.name}: pins without a hash (pip --require-hashes refuses them): {unhashed}"


def test_the_runtime_lock_is_the_test_lock_without_the_test_tools() -> None:
    runtime = {name: v for name, (v, _) in pins(RUNTIME_LOCK).items()}
    tested = {name: v for name, (v, _) in pins(TEST_LOCK).items()}
    assert {name: (v, tested.get(name)) for name, v in runtime.items() if tested.get(name) != v} == {}


def test_this_run_uses_the_locked_versions() -> None:
    wrong = {}
    for name, (pinned, _) in pins(TEST_LOCK).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (pinned, installed)
    assert not wrong, f"installed differently from {TEST_LOCK.name} (make test installs it): {wrong}"


def test_the_build_lock_pins_what_builds_the_project_and_every_install_uses_it() -> None:
    """setuptools comes from the build lock, hash-checked; pip's isolated build environment, which
    would fetch it unchecked, is off wherever the project itself is installed."""
    build_system = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    locked = pins(BUILD_LOCK)
    for requirement in map(Requirement, build_system["requires"]):
        pinned = locked.get(canonicalize_name(requirement.name))
        assert pinned is not None and pinned[0] in requirement.specifier, (str(requirement), pinned)
    for name in ("Makefile", "Dockerfile"):
        text = (REPO / name).read_text()
        installs = [line for line in text.splitlines() if re.search(r"(pip|\$\(PIP\)) install .*--no-deps", line)]
        assert installs, f"{name} installs the project nowhere"
        assert all("--no-build-isolation" in line for line in installs), (name, installs)
        assert "requirements/build.txt" in text or "$(BUILD_LOCK)" in text, name
