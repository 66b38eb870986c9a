"""``dealflow http-secret`` on a moto server: the outgoing signing secret is made, printed once and
rotated with the old one kept as a second line; a secret header value is read from standard input;
both land where the runner's ``http_request`` reads them (issue 15, item 1)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from dealflow.aws.secrets import http_secret_name
from dealflow.cli.main import main
from dealflow.local import MotoStack


@pytest.fixture(scope="module")
def stack() -> Iterator[MotoStack]:
    with MotoStack(server=True) as local:
        yield local


def _dealflow(stack: MotoStack, *args: str) -> int:
    assert stack.endpoint is not None
    return main([*args, "--endpoint", stack.endpoint])


def _stored(stack: MotoStack, name: str) -> list[str]:
    value = stack._ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return str(value).splitlines()


def test_the_signing_secret_is_printed_once_and_a_rotation_keeps_the_old_one_until_finished(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _dealflow(stack, "tenant", "create", "caller", "--name", "Caller Ltd") == 0
    name = http_secret_name("/dealflow/tenants", "caller")
    capsys.readouterr()

    assert _dealflow(stack, "http-secret", "signing", "caller") == 0
    [first] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("whsec_")]
    assert _stored(stack, name) == [first]

    assert _dealflow(stack, "http-secret", "signing", "caller") == 0
    [second] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("whsec_")]
    assert _stored(stack, name) == [second, first]  # the first line signs

    assert _dealflow(stack, "http-secret", "signing", "caller", "--finish") == 0
    assert _stored(stack, name) == [second]
    assert _dealflow(stack, "http-secret", "signing", "caller", "--finish") == 1
    assert "no rotation to finish" in capsys.readouterr().err
    assert _dealflow(stack, "http-secret", "signing", "ghost") == 1


def test_a_secret_header_is_read_from_standard_input_never_the_command_line(
    stack: MotoStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _dealflow(stack, "tenant", "create", "keyed", "--name", "Keyed Ltd")
    monkeypatch.setattr("sys.stdin", io.StringIO("tok-123\n"))

    assert _dealflow(stack, "http-secret", "header", "keyed", "erp-token") == 0

    assert _stored(stack, http_secret_name("/dealflow/tenants", "keyed", "erp-token")) == ["tok-123"]
    assert "tok-123" not in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert _dealflow(stack, "http-secret", "header", "keyed", "erp-token") == 1
