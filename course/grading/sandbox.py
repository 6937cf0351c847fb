"""Where the worker runs: a bubblewrap sandbox when the system has one, limits on its tree.

With bubblewrap (Linux with user namespaces) the worker sees the system read-only,
the course's folder and its neighbours hidden, the virtual environment read-only, a
fresh empty working folder with a copy of the notebook, only the course modules its
lab declares (`COURSE_MODULES` in the lab's test file), no network, its own PID
namespace (every process it starts dies with it) and no way to outlive the grader.
Memory and process counts are limited for the whole tree by a cgroup where one is
writable, else per process (RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_NPROC as non-root).
Without bubblewrap the worker still runs, with the same module view and limits, and
the report says "sandbox: none, self-check only".
"""

from __future__ import annotations

import contextlib
import functools
import os
import posixpath
import secrets
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course.grading.labs import REPO_ROOT

#: Course modules every worker needs: the grading package (worker, wire, check()).
ALWAYS = ("__init__.py", "grading")
FILE_LIMIT = 256 * 2**20  # bytes of one file the notebook writes
PROCESS_LIMIT = 256  # processes and threads of the worker's tree
NOBODY = 65534  # the unprivileged user of most Linux systems
SANDBOX_TMP = "/tmp"  # the worker's own /tmp, a folder of the grader's, inside the sandbox
WORKDIR = posixpath.join(SANDBOX_TMP, "lab")  # the worker's working folder
VIEW = posixpath.join(SANDBOX_TMP, ".course")  # the course modules it may import


def bubblewrap() -> str | None:
    """The bwrap program, if it is installed and can make a sandbox here."""
    if os.environ.get("COURSE_SANDBOX") == "none":  # to test the unsandboxed path
        return None
    found = shutil.which("bwrap")
    if found is None or not sys.platform.startswith("linux"):
        return None
    return found if _works(found) else None


@functools.cache
def _works(bwrap: str) -> bool:
    """Whether bwrap can make a user namespace here (not in every container)."""
    import subprocess

    try:
        probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass
class Sandbox:
    """One worker's folders and limits; `close()` removes them."""

    notebook: Path
    modules: tuple[str, ...]
    memory_mib: float
    kind: str = "none"
    drop_to: int | None = None  # the uid the worker runs as, when root must not run it
    root: Path = field(init=False)
    cgroups: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="course-grading-"))
        (self.root / "work").mkdir()
        (self.root / "tmp").mkdir()
        if self.notebook.is_file():
            shutil.copyfile(self.notebook, self.root / "work" / self.notebook.name)
        _copy_view(self.root / "view", self.modules)
        self.kind = "bubblewrap" if bubblewrap() else "none"
        self.cgroups = _make_cgroups(self.memory_mib)
        if self.kind == "none" and os.getuid() == 0 and _nobody_can_run_python():
            self.drop_to = NOBODY
            for path in (self.root, *self.root.rglob("*")):
                os.chown(path, NOBODY, NOBODY)

    @property
    def label(self) -> str:
        """What the report says of it."""
        if self.kind == "none":
            user = " (as user nobody)" if self.drop_to is not None else ""
            return f"sandbox: none{user}, self-check only"
        limits = "cgroup" if self.cgroups else "per-process limits"
        return f"sandbox: {self.kind} ({limits})"

    def command(self, python_args: list[str]) -> list[str]:
        """The command line that starts `python python_args...` in this sandbox."""
        if self.kind == "none":
            view = str(self.root / "view")
            return [sys.executable, "-I", "-B", *_bootstrap(view, python_args)]
        bwrap = bubblewrap()
        assert bwrap is not None
        hidden = REPO_ROOT if REPO_ROOT.parent == Path("/") else REPO_ROOT.parent
        prefix = Path(sys.prefix).resolve()
        args = [
            bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", str(hidden), "--tmpfs", "/dev/shm",
            "--bind", str(self.root / "tmp"), SANDBOX_TMP,
        ]  # fmt: skip
        home = Path.home().resolve()
        covered = [hidden]
        if home != Path("/") and not hidden.is_relative_to(home):
            args += ["--tmpfs", str(home)]
            covered.append(home)
        for path in sorted({prefix, Path(sys.base_prefix).resolve()}):
            if any(path.is_relative_to(folder) for folder in covered):
                args += ["--ro-bind", str(path), str(path)]
        seen = Path(sys.prefix).absolute()  # a venv reached through a symbolic link
        if seen != prefix and any(seen.is_relative_to(folder) for folder in covered):
            args += ["--ro-bind", str(prefix), str(seen)]
        args += [
            "--ro-bind", str(self.root / "view"), VIEW,
            "--bind", str(self.root / "work"), WORKDIR, "--chdir", WORKDIR,
            "--unshare-all", "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session",
            "--setenv", "HOME", SANDBOX_TMP, "--setenv", "MPLCONFIGDIR", SANDBOX_TMP,
            "--setenv", "TRITON_CACHE_DIR", posixpath.join(SANDBOX_TMP, "triton"),
        ]  # fmt: skip
        python = str(Path(sys.executable))
        return [*args, python, "-I", "-B", *_bootstrap(VIEW, python_args)]

    @property
    def cwd(self) -> Path:
        return self.root / "work"

    def limit_self(self) -> None:
        """Run in the child before exec: join the cgroups, set the per-process limits."""
        for group in self.cgroups:
            with contextlib.suppress(OSError):
                (group / "cgroup.procs").write_text("0")
        _set_rlimits(self.memory_mib, count_processes=self.drop_to is not None)
        if self.drop_to is not None:  # root without bubblewrap: run as nobody
            os.setgroups([])
            os.setgid(self.drop_to)
            os.setuid(self.drop_to)

    def ran_out_of_memory(self) -> bool:
        """Whether the kernel refused or killed for memory in this worker's cgroup."""
        for group in self.cgroups:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (group / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and value.strip() not in ("", "0"):
                            return True
        return False

    def kill_all(self) -> None:
        """Kill every process left in the cgroups (none should be, after bwrap's exit)."""
        for group in self.cgroups:
            with contextlib.suppress(OSError, ValueError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def close(self) -> None:
        self.kill_all()
        for group in self.cgroups:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    self.kill_all()
                    import time

                    time.sleep(0.02)
        shutil.rmtree(self.root, ignore_errors=True)


def _bootstrap(view: str, python_args: list[str]) -> list[str]:
    """`-c` code that puts the course view first on sys.path, then runs the worker."""
    code = f"import sys; sys.path.insert(0, {view!r}); " + "; ".join(python_args)
    return ["-c", code]


def _copy_view(view: Path, modules: tuple[str, ...]) -> None:
    """Copy into `view`/course only the files and folders of the course a lab may import."""
    source = REPO_ROOT / "course"
    for module in (*ALWAYS, *modules):
        origin = source / module
        target = view / "course" / module
        target.parent.mkdir(parents=True, exist_ok=True)
        for parent in target.relative_to(view / "course").parents:
            init = source / parent / "__init__.py"
            if init.is_file() and not (view / "course" / parent / "__init__.py").exists():
                shutil.copyfile(init, view / "course" / parent / "__init__.py")
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        elif origin.is_file():
            shutil.copyfile(origin, target)
        else:
            raise FileNotFoundError(f"COURSE_MODULES names {module}, not in {source}")


def _make_cgroups(memory_mib: float) -> list[Path]:
    """A fresh memory and pids cgroup (v2, or v1's two hierarchies) where writable."""
    name = f"course-grading-{secrets.token_hex(6)}"
    base = Path("/sys/fs/cgroup")
    own = _own_cgroups()
    made = []
    if "" in own and (base / "cgroup.controllers").exists():  # cgroup v2
        group = base / own[""].lstrip("/") / name
        settings = {"memory.max": str(int(memory_mib * 2**20)), "pids.max": str(PROCESS_LIMIT)}
        if _try_make(group, settings):
            made.append(group)
        return made
    for controller, setting, value in (
        ("memory", "memory.limit_in_bytes", str(int(memory_mib * 2**20))),
        ("pids", "pids.max", str(PROCESS_LIMIT)),
    ):
        if controller in own:
            group = base / controller / own[controller].lstrip("/") / name
            if _try_make(group, {setting: value}):
                made.append(group)
    return made


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path ("" for the v2 unified hierarchy)."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                found[controller] = path
    return found


def _try_make(group: Path, settings: dict[str, str]) -> bool:
    try:
        group.mkdir()
    except OSError:
        return False
    try:
        for key, value in settings.items():
            (group / key).write_text(value)
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return False
    return True


@functools.cache
def _nobody_can_run_python() -> bool:
    """Whether this Python starts as user nobody (its files may be root's alone)."""
    import subprocess

    def become_nobody() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    try:
        run = subprocess.run([sys.executable, "-I", "-c", "pass"], preexec_fn=become_nobody,
                             capture_output=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return run.returncode == 0


def _set_rlimits(memory_mib: float, count_processes: bool = False) -> None:
    try:
        import resource
    except ImportError:  # not on Windows
        return
    limits = {
        resource.RLIMIT_DATA: int(memory_mib * 2**20),
        resource.RLIMIT_FSIZE: FILE_LIMIT,
        resource.RLIMIT_CORE: 0,
    }
    if count_processes:  # counted per user: only for a user of the worker's own
        limits[resource.RLIMIT_NPROC] = PROCESS_LIMIT
    for which, limit in limits.items():
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(which)
            if hard == resource.RLIM_INFINITY or limit < hard:
                resource.setrlimit(which, (limit, limit))
