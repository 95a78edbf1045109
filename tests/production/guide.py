"""The Linux commands of docs/INSTALLATION_GUIDE.md, run for real against a staging root.

The guide's ```bash blocks are the commands a newcomer types. ``Guide.run`` takes one of them word for
word (it refuses a command that is not in the guide), changes exactly what the guide's section "How
this guide is tested" lists, and runs it through bash, under a pseudo-terminal when it asks questions:

* ``sudo`` runs its arguments (the tests run as root);
* the system paths become the same paths under the staging root, and any other absolute system path
  is refused, so a mistake here can never touch this machine's /etc, /opt or /usr;
* ``python3`` is the interpreter running the tests; ``pip install`` gets ``--no-deps`` (the
  dependencies come from the tests' environment through a ``.pth`` file);
* ``risk-manager service …`` and ``risk-manager doctor`` get ``--root <staging root>`` (and ``service
  install`` ``--no-start``: the test starts the daemon as systemd would); the other commands find the
  staged directories through the ``RISK_MANAGER_*_DIR`` variables;
* the example logins and the ``$RM_ADMIN_PASSWORD`` / ``$TOPSTEPX_API_KEY`` variables are the
  simulator's logins and keys.

Every command run is recorded with its output: the last step checks that every guide command ran and
that every message of the guide's troubleshooting table was really printed.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from tests.service.helpers import as_user

GUIDE_PATH = Path(__file__).resolve().parents[2] / "docs" / "INSTALLATION_GUIDE.md"
SYSTEM_PATHS = (
    "/opt/risk-manager",
    "/usr/local/bin",
    "/etc/risk-manager",
    "/var/lib/risk-manager",
    "/var/log/risk-manager",
)
_ABSOLUTE = re.compile(r"(?:^|[\s'\"=:])(/[^\s'\"]*)")

PRELUDE = r"""
sudo() { "$@"; }
risk-manager() {
    case "$1" in
        service)
            if [ "$2" = install ]; then command risk-manager "$@" --no-start --root "$RM_ROOT"
            else command risk-manager "$@" --root "$RM_ROOT"; fi ;;
        doctor) command risk-manager "$@" --root "$RM_ROOT" ;;
        *) command risk-manager "$@" ;;
    esac
}
"""


def guide_text(path: Path = GUIDE_PATH) -> str:
    return path.read_text(encoding="utf-8")


def linux_commands(text: str | None = None) -> list[str]:
    """Every command line of the guide's ```bash blocks, in order (continuations joined)."""
    text = guide_text() if text is None else text
    out: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        pending = ""
        for raw in block.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1]
                continue
            line = (pending + line).strip()
            pending = ""
            if line and not line.startswith("#"):
                out.append(line)
    return out


def troubleshooting_messages(text: str | None = None) -> list[str]:
    """The first column of the troubleshooting table: the product's own messages, in backticks."""
    text = guide_text() if text is None else text
    section = text.split("## 6. Troubleshooting", 1)[1].split("\n## ", 1)[0]
    messages: list[str] = []
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first = row.split(" | ")[0]
        messages += re.findall(r"`([^`]+)`", first)
    return messages


def system_python() -> str:
    """The system's ``python3`` when it is recent enough and has ``venv`` (as on a server), else the
    interpreter running the tests. (A pyenv Python under /root would also work for root, but not for
    the service user or the trader, exactly as the installer's ProtectHome warning says.)"""
    candidate = "/usr/bin/python3"
    probe = "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"
    try:
        usable = subprocess.run([candidate, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except OSError:
        usable = False
    return candidate if usable else getattr(sys, "_base_executable", sys.executable)


@dataclass
class Ran:
    command: str
    shell: str
    output: str
    code: int


@dataclass
class Guide:
    """Runs the guide's commands against one staging root; remembers what ran and what it printed."""

    root: Path
    placeholders: dict[str, str]
    secrets: dict[str, str]
    commands: list[str] = field(default_factory=linux_commands)
    ran: list[Ran] = field(default_factory=list)
    #: output of commands run outside the guide (error cases, the other steps), for the message check
    extra_output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "usr" / "local" / "bin").mkdir(parents=True, exist_ok=True)  # as on any system
        self.bin = self.root / "test-bin"
        self.bin.mkdir(exist_ok=True)
        shim = self.bin / "python3"  # "python3" of the guide
        shim.write_text(f'#!/bin/sh\nexec "{system_python()}" "$@"\n', encoding="utf-8")
        shim.chmod(0o755)

    # ----- the environment ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.root}/usr/local/bin:{self.bin}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "TERM": "xterm",
            "RM_ROOT": str(self.root),
            "RISK_MANAGER_CONFIG_DIR": f"{self.root}/etc/risk-manager",
            "RISK_MANAGER_DATA_DIR": f"{self.root}/var/lib/risk-manager",
            "RISK_MANAGER_LOG_DIR": f"{self.root}/var/log/risk-manager",
            **self.secrets,
        }

    def provide_dependencies(self, venv: Path) -> None:
        """``pip install --no-deps`` needs the libraries from somewhere: this environment's."""
        purelib = Path(sysconfig.get_paths()["purelib"])
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        target = venv / "lib" / version / "site-packages" / "zz_test_dependencies.pth"
        target.write_text(f"{purelib}\n", encoding="utf-8")

    # ----- one command ----------------------------------------------------------------------------------
    def transform(self, command: str) -> str:
        shell = command
        for placeholder, value in self.placeholders.items():
            shell = shell.replace(placeholder, value)
        for path in SYSTEM_PATHS:
            shell = re.sub(rf"(?<![\w/]){re.escape(path)}\b", f"{self.root}{path}", shell)
        if re.search(r"\bpip install\b", shell):
            shell = shell.replace("pip install", "pip install --no-deps", 1)
        leftover = [p for p in _ABSOLUTE.findall(shell) if not p.startswith(f"{self.root}/")]
        if leftover:
            raise AssertionError(f"refusing to run {command!r}: it names {leftover} outside the staging root")
        return shell

    def run(
        self,
        command: str,
        *,
        answers: list[tuple[str, str]] | None = None,
        cwd: Path | None = None,
        code: int | None = 0,
        timeout: float = 60,
        guide: bool = True,
        env: dict[str, str] | None = None,
        user: tuple[int, int] | None = None,
        keys: bool = False,
    ) -> str:
        """Run one command of the guide (``guide=False``: a command outside it, same environment);
        ``answers`` are (prompt pattern, reply) pairs given through a pseudo-terminal; ``user`` runs it
        as that (uid, gid) instead of root; ``code=None`` accepts any exit code; ``keys``: the replies
        are key presses for a full-screen program, sent as they are (no Enter added)."""
        if guide:
            assert command in self.commands, f"not a command of {GUIDE_PATH.name}: {command!r}"
        shell = self.transform(command)
        argv = ["bash", "-c", PRELUDE + shell + "\n"]
        if user is not None:
            argv = as_user(*user, argv)
        environ = {**self.env(), **(env or {})}
        if answers is None:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=environ,
                cwd=cwd or self.root,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            output, exit_code = proc.stdout + proc.stderr, proc.returncode
        else:
            output, exit_code = self._interactive(argv, environ, answers, cwd or self.root, timeout, keys)
        record = Ran(command, shell, output, exit_code)
        if guide:
            self.ran.append(record)
        else:
            self.extra_output.append(output)
        assert code is None or exit_code == code, (
            f"{command!r} exited {exit_code} (expected {code}):\n{output}"
        )
        return output

    def _interactive(
        self,
        argv: list[str],
        env: dict[str, str],
        answers: list[tuple[str, str]],
        cwd: Path,
        timeout: float,
        keys: bool,
    ) -> tuple[str, int]:
        import pexpect

        log = io.StringIO()
        child = pexpect.spawn(
            argv[0], argv[1:], env=env, cwd=str(cwd), encoding="utf-8", timeout=timeout, dimensions=(40, 120)
        )
        child.logfile_read = log
        try:
            for prompt, reply in answers:
                child.expect(prompt)
                if keys:
                    child.send(reply)
                else:
                    child.sendline(reply)
            child.expect(pexpect.EOF)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            child.close(force=True)
            raise AssertionError(
                f"{type(exc).__name__} in an interactive command; output:\n{log.getvalue()}"
            ) from None
        child.close()
        return log.getvalue(), child.exitstatus if child.exitstatus is not None else -1

    # ----- what ran -------------------------------------------------------------------------------------
    def output_of(self, command: str) -> str:
        return "\n".join(r.output for r in self.ran if r.command == command)

    def not_run(self) -> list[str]:
        done = {r.command for r in self.ran}
        return [c for c in self.commands if c not in done]

    def all_output(self) -> str:
        return "\n".join([*(r.output for r in self.ran), *self.extra_output])
