"""Attacks on the grader that judges from outside, as a cheating student would try them.

Each case edits the fixture lab 99 (10 points) and grades it: the untouched twin (0
points) with a cheat added must still earn nothing, and the master (10 points) with a
disruption added must keep its points. Every case checks the score, a bound on the
time, that the parent wrote valid reports, and that nothing outside the worker's
temporary folder changed: the course, its tests and the notebook's folder are
fingerprinted before and after each case, the virtual environment once around all.
The cases are grouped by the attack classes of the grading appendix's threat model.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from fingerprints import fingerprint

from course.grading import report
from course.grading.notebook import read_notebook
from course.grading.runner import Limits, grade
from course.grading.sandbox import bubblewrap

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "grading_fixtures"
MASTER = FIXTURE / "solutions" / "lab99_fixture.ipynb"
TWIN = FIXTURE / "labs" / "lab99_fixture.ipynb"
TESTS = FIXTURE / "tests" / "labs" / "test_lab99_fixture.py"
SCHEMA = json.loads((ROOT / "tests" / "gradescope_results.schema.json").read_text())
LIMITS = Limits(cell=1.0, total=20.0, memory=400.0)
ROOMY = Limits(cell=15.0, total=60.0, memory=1500.0)  # importing torch takes seconds when busy
SHORT = Limits(cell=1.0, total=8.0, memory=400.0)  # for a case that runs to the total limit
SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
SANDBOXED = bubblewrap() is not None
TOP = 2  # cell index right after the setup cell

pytestmark = pytest.mark.skipif(not SANDBOXED, reason="needs bubblewrap (apt-get install bwrap)")


@pytest.fixture(scope="module", autouse=True)
def venv_untouched() -> Iterator[None]:
    """No case may change the virtual environment (checked once around all cases)."""
    before = fingerprint(Path(sys.prefix))
    yield
    assert fingerprint(Path(sys.prefix)) == before, "a case changed the virtual environment"


@dataclass(frozen=True)
class Attack:
    name: str
    code: str
    score: float  # what the grading must give
    base: Path = TWIN
    at: int | None = None  # cell index (None: appended)
    says: str = ""  # in the notes or in the message of `test`
    test: str | None = None
    bound: float = 6.0
    limits: Limits = LIMITS
    tests: str | None = None  # another graded test file (source)
    prints: str = ""  # in what the notebook printed


# --- Tampering with the worker's memory: there is no verdict in it to reach -------------
FRAME_WALK = """
import gc, sys
for obj in gc.get_objects():
    if isinstance(obj, dict):
        for key in ("token", "passed", "score", "marks"):
            if key in obj:
                try:
                    obj[key] = True if key == "passed" else 10
                except Exception:
                    pass
frame = sys._getframe()
while frame:
    for key in list(frame.f_locals):
        if "token" in key or key in ("tests", "plan"):
            frame.f_globals.pop(key, None)
    frame = frame.f_back
"""
GC_EMPTY = """
import gc
for obj in gc.get_objects():
    if isinstance(obj, dict) and ("_KEPT" in obj or "restore" in obj):
        for key in [k for k in obj if not k.startswith("__")]:
            if key not in ("keep", "handle", "notebook_name", "_answer", "_apply", "_send"):
                obj.pop(key, None)
"""
SETTRACE = """
import sys, threading
def tracer(frame, event, arg):
    if event == "return" and frame.f_code.co_name in ("_apply", "encode", "explain"):
        frame.f_locals["passed"] = True
    return tracer
sys.settrace(tracer)
threading.settrace(tracer)
"""
CLIMBING_ERROR = """
import sys
class Climb(Exception):
    def __str__(self):
        frame = sys._getframe()
        while frame:
            frame.f_globals["passed"] = True
            frame = frame.f_back
        return "passed"
def add(a, b):
    raise Climb()
"""
TORCH_MODE = """
import torch
from torch.overrides import TorchFunctionMode
class AlwaysClose(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        return func(*args, **(kwargs or {}))
AlwaysClose().__enter__()
def scale(values, factor):
    return torch.zeros(3)
"""
NUMPY_PATCH = """
import numpy as np
np.allclose = lambda *args, **kwargs: True
np.isfinite = lambda *args, **kwargs: np.array([True])
np.testing.assert_allclose = lambda *args, **kwargs: None
def normalise(values):
    return values * 0
"""
PATCH_THREAD = """
import builtins, threading, time, math
def keep_patching():
    while True:
        builtins.isinstance = lambda *args: True
        math.isclose = lambda *args, **kwargs: True
        time.sleep(0.001)
threading.Thread(target=keep_patching, daemon=True).start()
def add(a, b):
    return a - b
"""
AGREEING_ARRAY = """
import numpy as np
class Agree(np.ndarray):
    def __eq__(self, other):
        return True
    def __array_ufunc__(self, *args, **kwargs):
        return np.ones(2, dtype=np.float32).view(Agree)
def normalise(values):
    return np.zeros(2, dtype=np.float32).view(Agree)
"""
AGREEING_TENSOR = """
import torch
class Agree(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.__eq__):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def scale(values, factor):
    return torch.zeros(2).as_subclass(Agree)
"""
AGREEING_INT = """
class Five(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def add(a, b):
    return Five(0)
def mean(values):
    return Five(0)
"""
AGREEING_DICT = """
class Agree(dict):
    def __eq__(self, other):
        return True
def count_words(text):
    return Agree()
"""
FAKE_CLASS = """
import numpy as np
class Fake:
    __class__ = property(lambda self: np.ndarray)
    dtype = np.dtype("float32")
    shape = (2,)
    def __eq__(self, other):
        return True
def normalise(values):
    return Fake()
"""
ARRAY_TESTS = """
import numpy as np

from course.grading import question


@question("q1", points=1)
def test_normalise(nb):
    got = nb.normalise(np.array([1.0, 3.0], dtype=np.float32))
    assert isinstance(got, np.ndarray), f"expected a numpy array, got {type(got).__name__}"
    assert got.dtype == np.float32 and got.shape == (2,), f"wrong dtype or shape: {got!r}"
    assert np.isfinite(got).all() and np.allclose(got, [0.25, 0.75]), f"got {got}"
"""
TENSOR_TESTS = """
import torch

from course.grading import question


@question("q1", points=1)
def test_scale(nb):
    got = nb.scale(torch.tensor([1.0, 2.0]), 2.0)
    assert isinstance(got, torch.Tensor), f"expected a tensor, got {type(got).__name__}"
    assert got.shape == (2,), f"expected shape (2,), got {tuple(got.shape)}"
    assert torch.allclose(got, torch.tensor([2.0, 4.0])), f"expected [2, 4], got {got}"
"""

# --- Writing outside the sandbox: the course, tests, venv and folder stay as they were --
ROOT_TEXT = repr(str(ROOT))
SITE_TEXT = repr(str(SITE))
APPEND_TESTS = f"""
import glob, os
for path in glob.glob(os.path.join({ROOT_TEXT}, "tests", "**", "*.py"), recursive=True):
    try:
        with open(path, "a") as stream:
            stream.write("\\ndef test_free_points(nb):\\n    pass\\n")
    except OSError:
        pass
"""
SITECUSTOMIZE = f"""
import os
evil = "import builtins\\nbuiltins.NotImplementedError = type('X', (Exception,), {{}})\\n"
for folder in (os.getcwd(), {str(TWIN.parent)!r}, {ROOT_TEXT}):
    try:
        with open(os.path.join(folder, "sitecustomize.py"), "w") as stream:
            stream.write(evil)
    except OSError:
        pass
"""
PYC_STAMP = f"""
import glob, os, shutil
for source in glob.glob(os.path.join({ROOT_TEXT}, "course", "grading", "*.py")):
    cache = os.path.join(os.path.dirname(source), "__pycache__")
    try:
        os.makedirs(cache, exist_ok=True)
        target = os.path.join(cache, os.path.basename(source)[:-3] + ".cpython-311.pyc")
        with open(target, "wb") as stream:
            stream.write(b"not bytecode")
        shutil.copystat(source, target)
    except OSError:
        pass
"""
VENV_PTH = f"""
import os
for folder in ({SITE_TEXT}, os.path.dirname(os.__file__)):
    try:
        with open(os.path.join(folder, "zz_free_points.pth"), "w") as stream:
            stream.write("import builtins; builtins.free = True\\n")
    except OSError:
        pass
"""
HOST_TMP = """
import os
for folder in ("/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~")):
    try:
        open(os.path.join(folder, "course-grading-cheat-marker"), "w").write("x")
    except OSError:
        pass
"""
REPORT_FOLDER = """
import os
os.makedirs("results.json", exist_ok=True)
os.makedirs("junit.xml", exist_ok=True)
"""

# --- The pipe: nothing on it can crash, stall or fool the grader ------------------------
NESTED = """
import os
for line in (b"[" * 200000, b'{"id": 1, "value": ' + b"[" * 100000 + b"}", b"{" * 50000):
    try:
        os.write(4, line + b"\\n")
    except OSError:
        pass
def add(a, b):
    deep = b'["list", [' * 5000 + b'["none"]' + b"]]" * 5000
    os.write(4, b'{"id": 99, "value": ' + deep + b"}\\n")
    raise NotImplementedError
"""
MISTYPED = """
import os
lines = [
    '{"id": "1", "value": ["int", "5"]}',
    '{"id": 1.5, "value": ["int", "5"]}',
    '{"id": true, "value": ["int", "5"]}',
    '[1, 2, 3]',
    '"just a string"',
    '{"id": 100000000000000000000000, "raised": 3}',
]
for line in lines:
    os.write(4, (line + "\\n").encode())
def add(a, b):
    return 42
"""
BAD_VALUES = """
import os, json
bad = [
    ["tensor", "float32", [2], "!!", "cpu", False, None],
    ["ndarray", "object", [1], "AAAA"],
    ["ndarray", "float64", [1000000000], "AAAA"],
    ["dict", [[["list", []], ["none"]]], "dict"],
    ["handle", "1", "x", "y"],
    ["float", "1e999x"],
    ["int", "9" * 10000],
    ["mystery"],
]
calls = iter(range(1000))
def add(a, b):
    # answer the grader's request with a broken value, and never with a real one
    os.write(4, (json.dumps({"id": 0, "value": bad[next(calls) % len(bad)]}) + "\\n").encode())
    return 42
"""
OVERLONG = """
import os
try:
    os.write(4, b"x" * (70 * 2**20))
    os.write(4, b"\\n")
except OSError:
    pass
"""
FORGED_ANSWERS = """
import json, os, threading, time
def forge():
    while True:
        for number in range(1, 200):
            try:
                os.write(4, (json.dumps({"id": number, "value": ["int", "42"]}) + "\\n").encode())
            except OSError:
                return
        time.sleep(0.001)
threading.Thread(target=forge, daemon=True).start()
"""
STEAL_REQUESTS = """
import os, threading
def steal():
    while True:
        try:
            os.read(3, 65536)
        except OSError:
            return
threading.Thread(target=steal, daemon=True).start()
"""
CLOSE_PIPE = "import os\nos.close(4)"
STALL = "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)"

# --- Processes and memory: all die with the worker, all count towards its limits -------
CHAIN = """
import os, time
marker = os.path.join({folder}, "written-after-grading.txt")
depth = 0
while depth < 30 and os.fork() == 0:
    depth += 1
if depth == 30:
    os.setsid()
    time.sleep(1.5)
    try:
        open(marker, "w").write("too late")
    except OSError:
        pass
    os._exit(0)
if depth:
    time.sleep(5)
    os._exit(0)
"""
SHM = """
block = b"x" * (2**20)
with open("/dev/shm/hog", "wb") as stream:
    for _ in range(900):
        stream.write(block)
"""
FORKED_MEMORY = """
import os, time
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        hog = bytearray(220 * 2**20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        time.sleep(0.5)
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    print("child", "killed" if os.WIFSIGNALED(status) else "exited")
"""
FORK_BOMB = """
import os, time
for _ in range(100000):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
"""
BIG_FILE = """
with open("big.bin", "wb") as stream:
    for _ in range(400):
        stream.write(b"x" * 2**20)
"""
KILL_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)"

# --- Answers within reach: none of the course's references, no master, no hidden test --
IMPORT_REFERENCE = """
from course.markov import counts_matrix as add
"""
IMPORT_REFERENCES = """
import importlib
references = ("course.nn", "course.nn.attention", "course.train", "course.markov")
for name in (*references, "course.tokenizer"):
    try:
        importlib.import_module(name)
        raise SystemError("imported " + name)
    except ModuleNotFoundError:
        pass
"""
READ_MASTER = f"""
import glob, json, os
found = []
for pattern in ({str(MASTER)!r}, {str(ROOT.parent)!r} + "/**/solutions/*.ipynb",
                os.path.join("/tmp", "**", "lab99_fixture.ipynb"),
                os.path.expanduser("~") + "/**/*.ipynb"):
    found += glob.glob(pattern, recursive=True)
for path in found:
    try:
        cells = json.load(open(path))["cells"]
    except (OSError, ValueError, KeyError):
        continue
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "NotImplementedError" not in source:
            try:
                exec(source)
            except Exception:
                pass
"""
HIDDEN_TESTS = """
from course.grading import question


@question("q1", points=1)
def test_public(nb):
    assert nb.add(1, 1) == 3  # the public line is shown


@question("q1", points=1, hidden=True)
def test_hidden(nb):
    assert nb.add(2, 2) == 5  # secret-7f3a: never shown to the student
"""
NETWORK = """
import socket
def add(a, b):
    with socket.create_connection(("127.0.0.1", {port}), timeout=0.5) as connection:
        connection.sendall(b"add")
    return a + b
"""
READ_TESTS_SOURCE = f"""
import glob
def add(a, b):
    texts = [open(p).read() for p in glob.glob({str(TESTS.parent)!r} + "/*.py")]
    if not texts:
        raise NotImplementedError
    return 5
"""

# --- What comes back: odd results are handled, never trusted ---------------------------
REPR_BOMB = (
    "class Big:\n    def __repr__(self):\n        return 'x' * 10**7\n"
    "def add(a, b):\n    return Big()"
)
REPR_RAISES = (
    "class Bad:\n    def __repr__(self):\n        raise RuntimeError('no')\n" + "add = Bad"
)
DEEP_RESULT = "def add(a, b):\n    x = []\n    for _ in range(5000):\n        x = [x]\n    return x"
HUGE_RESULT = "def add(a, b):\n    return b'x' * (60 * 2**20)"
CYCLIC_RESULT = "def count_words(text):\n    d = {}\n    d['the'] = d\n    return d"
MESSAGE_BOMB = "def add(a, b):\n    raise ValueError('x' * 10**7)"


def _attacks() -> list[Attack]:
    return [
        Attack("frames and gc walked for the verdict", FRAME_WALK, 0),
        Attack("gc used to empty the worker's state", GC_EMPTY, 0),
        Attack("sys.settrace on the worker", SETTRACE, 0),
        Attack("an exception whose __str__ climbs the stack", CLIMBING_ERROR, 0),
        Attack(
            "a TorchFunctionMode left entered",
            TORCH_MODE,
            0,
            tests=TENSOR_TESTS,
            bound=40,
            limits=ROOMY,
        ),
        Attack("numpy's comparisons patched", NUMPY_PATCH, 0, tests=ARRAY_TESTS),
        Attack("a thread re-applying patches", PATCH_THREAD, 0),
        Attack(
            "an ndarray subclass that agrees",
            AGREEING_ARRAY,
            0,
            says="got Agree",
            test="test_normalise",
            tests=ARRAY_TESTS,
        ),
        Attack(
            "a tensor subclass that agrees",
            AGREEING_TENSOR,
            0,
            says="got Agree",
            test="test_scale",
            tests=TENSOR_TESTS,
            bound=40,
            limits=ROOMY,
        ),
        Attack("an int subclass that agrees", AGREEING_INT, 0),
        Attack("a dict subclass that agrees", AGREEING_DICT, 0),
        Attack(
            "a forged __class__",
            FAKE_CLASS,
            0,
            says="got Fake",
            test="test_normalise",
            tests=ARRAY_TESTS,
        ),
        Attack("appending to the graded tests", APPEND_TESTS, 0),
        Attack("sitecustomize.py next to the notebook", SITECUSTOMIZE, 0),
        Attack("a .pyc stamped like the grader's source", PYC_STAMP, 0),
        Attack("a .pth in the venv", VENV_PTH, 0),
        Attack("files in the host's /tmp and home", HOST_TMP, 0),
        Attack("the report paths made folders", REPORT_FOLDER, 0),
        Attack("deeply nested JSON on the pipe", NESTED, 0, says="were not valid messages"),
        Attack("mistyped messages on the pipe", MISTYPED, 0, says="were not valid messages"),
        Attack("broken values on the pipe", BAD_VALUES, 0),
        Attack("a 70 MB line on the pipe", OVERLONG, 0, bound=15.0),
        Attack("forged answers from a thread", FORGED_ANSWERS, 0),
        Attack("requests stolen from the pipe", STEAL_REQUESTS, 0, bound=16.0, limits=SHORT),
        Attack("the answer pipe closed", CLOSE_PIPE, 10, MASTER, TOP, says="closed its pipe"),
        Attack("the worker stops itself (SIGSTOP)", STALL, 10, MASTER, TOP, says="stopped after"),
        Attack(
            "a process chain that outlives the worker", CHAIN.format(folder="{folder}"), 10, MASTER
        ),
        Attack("shared memory past the limit", SHM, 10, MASTER, TOP, bound=10.0),
        Attack(
            "forked children past the limit together",
            FORKED_MEMORY,
            10,
            MASTER,
            TOP,
            prints="child killed",
            bound=20.0,
            limits=Limits(10.0, 30.0, 400.0),
        ),
        Attack("a fork bomb", FORK_BOMB, 10, MASTER, TOP, bound=10.0),
        Attack("a file past the size limit", BIG_FILE, 10, MASTER, TOP, bound=10.0),
        Attack("killing the grader", KILL_PARENT, 10, MASTER, TOP),
        Attack(
            "a graded function from the course",
            IMPORT_REFERENCE,
            0,
            says="No module named 'course.markov'",
        ),
        Attack("every reference module imported", IMPORT_REFERENCES, 10, MASTER),
        Attack("the master notebook read and run", READ_MASTER, 0),
        Attack("the graded tests read", READ_TESTS_SOURCE, 0),
        Attack(
            "hidden test source in a message",
            "def add(a, b):\n    return 0",
            0,
            tests=HIDDEN_TESTS,
            says="a hidden check failed",
            test="test_hidden",
        ),
        Attack("the network", NETWORK, 7, MASTER, says="", test="test_add_small_numbers"),
        Attack("a result whose repr is 10 MB", REPR_BOMB, 0),
        Attack("a result whose repr raises", REPR_RAISES, 0),
        Attack("a result nested 5000 deep", DEEP_RESULT, 0),
        Attack("a 60 MB result", HUGE_RESULT, 0, bound=15.0),
        Attack("a cyclic result", CYCLIC_RESULT, 0),
        Attack("a 10 MB error message", MESSAGE_BOMB, 0),
    ]


ATTACKS = _attacks()


def _write_case(attack: Attack, folder: Path, port: int) -> tuple[Path, Path]:
    notebook = json.loads(attack.base.read_text())
    code = attack.code.replace("{folder}", repr(str(folder))).replace("{port}", str(port))
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    cells = notebook["cells"]
    cells.insert(len(cells) if attack.at is None else attack.at, cell | {"id": "x", "source": code})
    path = folder / "lab99_fixture.ipynb"
    path.write_text(json.dumps(notebook))
    tests = TESTS
    if attack.tests:
        tests = folder / "test_lab99_attack.py"
        tests.write_text(attack.tests)
    return path, tests


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on the host's loopback that records what reaches it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                received.append(connection.recv(100) or b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_earns_nothing_and_changes_nothing(
    attack: Attack, tmp_path: Path, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    folder = tmp_path / "submission"
    folder.mkdir()
    notebook, tests = _write_case(attack, folder, port)
    guarded = (ROOT / "course", ROOT / "tests", folder)
    before = fingerprint(*guarded)
    site_before = sorted(os.listdir(SITE))
    started = time.monotonic()
    grading = grade(read_notebook(notebook), tests, attack.limits)
    took = time.monotonic() - started
    assert took < attack.bound, f"grading took {took:.1f} s, over its bound of {attack.bound} s"
    assert grading.score == attack.score, report.table(grading)
    where = grading.mark(attack.test).message if attack.test else "\n".join(grading.notes)
    assert attack.says in where, f"expected {attack.says!r} in:\n{where}"
    assert attack.prints in grading.output, grading.output
    if attack.name == "hidden test source in a message":
        assert "secret-7f3a" not in report.table(grading)
        assert "assert nb.add(1, 1) == 3" in grading.mark("test_public").message
    assert grading.sandbox.startswith("sandbox: bubblewrap")
    results = tmp_path / "results.json"
    report.write_json(grading, results)
    jsonschema.validate(json.loads(results.read_text()), SCHEMA)
    time.sleep(0.1 if attack.name != "a process chain that outlives the worker" else 2.0)
    assert fingerprint(*guarded) == before, "something outside the worker's folder changed"
    assert sorted(os.listdir(SITE)) == site_before
    assert received == [], "the notebook reached the host's network"
    for folder_path in ("/tmp", "/var/tmp", "/dev/shm", str(Path.home())):
        assert not (Path(folder_path) / "course-grading-cheat-marker").exists()


def test_cli_refuses_a_report_path_that_is_a_folder_or_a_link(tmp_path: Path) -> None:
    (tmp_path / "results.json").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    for target, says in (("results.json", "is a folder"), ("link.json", "symbolic link")):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "course.grade",
                str(TWIN),
                "--tests",
                str(TESTS),
                "--json",
                str(tmp_path / target),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert run.returncode == 2 and says in run.stderr and run.stderr.count("\n") == 1


def test_without_a_sandbox_the_report_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SANDBOX", "none")
    grading = grade(read_notebook(MASTER), TESTS, LIMITS)
    assert grading.score == 10 and grading.sandbox == "sandbox: none, self-check only"
    assert "sandbox: none, self-check only" in report.table(grading)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "course.grade",
            str(MASTER),
            "--tests",
            str(TESTS),
            "--require-sandbox",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COURSE_SANDBOX": "none"},
    )
    assert run.returncode == 2 and "--require-sandbox" in run.stderr
