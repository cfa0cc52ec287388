"""A network namespace does not cover filesystem sockets: through the read-only bind of / a sample connected to a
Unix-domain listener of the host (think of a Docker or D-Bus socket on a CI runner) and exchanged data. A sample
must reach no socket of the host, by path or in the abstract namespace."""
import os
import socket

import pytest

from tests.hostile.conftest import require_isolation, run_one


@pytest.mark.parametrize("where", ["path", "abstract"])
def test_a_host_unix_listener_is_unreachable(executor, outside_dir, token, where):
    require_isolation(executor)
    address = str(outside_dir / "host.sock") if where == "path" else f"\0{token}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(address)
        if where == "path":
            os.chmod(address, 0o777)  # only the sandbox, not file permissions, may stop the connection
        listener.listen(8)
        completion = f"""    import socket
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect({address!r})
    connection.sendall(b"exfiltrated")
    return x + 1
"""
        verdict = run_one(executor, completion)
        listener.settimeout(0.2)
        try:
            intruder, _ = listener.accept()
            intruder.close()
            connected = True
        except socket.timeout:
            connected = False
    assert not connected
    assert verdict.verdict == "error", verdict
    assert "PermissionError" in verdict.detail, verdict


def test_the_hosts_run_directory_is_hidden(executor):
    """Where the host's service sockets live (/run, /var/run): an empty tmpfs in the sandbox."""
    require_isolation(executor)
    verdict = run_one(executor, "    import os\n    assert os.listdir('/run') == [], os.listdir('/run')\n"
                                "    return x + 1\n")
    assert verdict.verdict == "passed", verdict
