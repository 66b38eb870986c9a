"""``curl`` as README's shell examples use it, for tests/integration/test_readme.py.

The README test puts a ``curl`` that runs this first on the PATH of each shell block: it parses the
options README uses, makes the request with urllib (so the test needs no curl binary and sees every
answer), prints the body as curl would and appends ``<status> <method> <url>`` to the file named by
``README_CURL_LOG``, so the test can hold each call to the status README says it answers. An option
it does not know fails the block: extend this rather than let an example go unchecked.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

_DATA = ("-d", "--data", "--data-raw", "--data-binary")
_QUIET = ("-s", "-S", "-sS", "-Ss", "--silent", "--show-error")


def _parse(args: list[str]) -> tuple[str, str, dict[str, str], bytes | None]:
    method: str | None = None
    headers: dict[str, str] = {}
    data: list[bytes] = []
    url: str | None = None
    rest = iter(args)
    for arg in rest:
        if arg in _QUIET:
            continue
        if arg in ("-X", "--request"):
            method = next(rest)
        elif arg in ("-H", "--header"):
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in _DATA:
            value = next(rest)
            data.append(
                Path(value[1:]).read_bytes() if value.startswith("@") and arg != "--data-raw" else value.encode()
            )
        elif arg.startswith("-"):
            raise SystemExit(
                f"readme_curl: option {arg!r} is not supported; add it to tests/integration/readme_curl.py"
            )
        elif url is None:
            url = arg
        else:
            raise SystemExit(f"readme_curl: a second URL {arg!r}")
    if url is None:
        raise SystemExit("readme_curl: no URL")
    if "://" not in url:
        url = f"http://{url}"
    body = b"&".join(data) if data else None
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # as curl sends -d
    return method or ("POST" if body is not None else "GET"), url, headers, body


def main(args: list[str]) -> int:
    method, url, headers, body = _parse(args)
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    sys.stdout.buffer.write(answer + b"\n")
    with open(os.environ["README_CURL_LOG"], "a") as log:
        log.write(f"{status} {method} {url}\n")
    return 0  # curl without --fail exits 0 on an HTTP error too; the log is what the test reads


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
