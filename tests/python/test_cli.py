"""Starting the `flywheel` binary as a newcomer does: --help, --version, the ready line, a port
that is already taken, and the admin address opened in a browser. Flywheel-specific (DynamoDB
has no binary to start), so every test here starts its own process and skips against
DYNAMO_ENDPOINT."""

import re
import socket
import subprocess
import time

import pytest
import requests

import support

pytestmark = pytest.mark.skipif(
    support.external_endpoint() is not None, reason="starts its own flywheel binary; DYNAMO_ENDPOINT is set"
)

# How long a process that should exit at once may take on a busy machine.
EXIT_TIMEOUT_SECONDS = 60


def run(*args):
    binary = support.flywheel_bin()
    if not binary.is_file():
        pytest.fail(f"Flywheel binary not found at {binary}; build it or set FLYWHEEL_BIN", pytrace=False)
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=EXIT_TIMEOUT_SECONDS)


def test_help_opens_with_what_flywheel_is():
    # The first thing `--help` says is what the program is for, in a user's words.
    result = run("--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Flywheel: a DynamoDB-compatible database server.", result.stdout
    assert "applications written for Amazon DynamoDB" in result.stdout
    # The flags and the offline tools are all there.
    for flag in ("--listen", "--data-dir", "--in-memory", "--admin-listen", "flywheel backup"):
        assert flag in result.stdout, flag


def test_version_names_the_commit():
    # `flywheel --version` says which build this is: the version and the git commit (or
    # "unknown" when built outside a git checkout).
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"flywheel \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40}|unknown)\)\n", result.stdout), result.stdout


def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.mark.parametrize("which", ["--listen", "--admin-listen"])
def test_address_in_use_names_it_and_creates_nothing(tmp_path, which):
    # A port that something else already listens on is the commonest start-up mistake: the
    # server says which address in one line and exits non-zero, before creating a data
    # directory (a half-made directory would confuse the next start).
    busy = listening_socket()
    try:
        address = "127.0.0.1:%d" % busy.getsockname()[1]
        other = "127.0.0.1:%d" % support.free_port()
        listen, admin = (address, other) if which == "--listen" else (other, address)
        data_dir = tmp_path / "flywheel-data"
        result = run("--listen", listen, "--admin-listen", admin, "--data-dir", str(data_dir))
    finally:
        busy.close()
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert address in lines[0] and "in use" in lines[0], lines[0]
    assert not data_dir.exists(), "a data directory was created by a server that did not start"


def test_ready_line_gives_the_urls_and_admin_root_opens_the_console():
    # The line that says the server is ready tells where to point a client (the API URL) and
    # where the console is; that console URL is what a browser opening the admin address
    # reaches, by a redirect from `/`.
    server = support.Server(args=["--log-level", "info"]).start()
    try:
        api = f"http://127.0.0.1:{server.port}"
        console = f"http://127.0.0.1:{server.admin_port}/console"
        deadline = time.monotonic() + support.SERVER_START_TIMEOUT_SECONDS
        while True:
            ready = [line for line in server.log_path.read_text(errors="replace").splitlines() if "flywheel ready" in line]
            if ready:
                break
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
        assert f"api={api}" in ready[0], ready[0]
        assert f"console={console}" in ready[0], ready[0]

        root = requests.get(server.admin_endpoint + "/", allow_redirects=False, timeout=30)
        assert root.status_code == 302
        assert root.headers["Location"] == "/console"
        page = requests.get(server.admin_endpoint + "/", timeout=30)
        assert page.status_code == 200
        assert page.url == console
        assert "<html" in page.text.lower()
    finally:
        server.stop()
